"""The layout (``templates/base.html``) rendered once per kind of visitor; each page renders only its blocks.

Every page extends base.html. Rendered in full, the layout's own part (head, header, footer: static URLs, links,
twenty translated strings) was about a sixth of a logged-in page's server time, and it is the same for everyone
who shares a language, a text size, a login state and the demo band. So:

* the shell: base.html rendered once per process and ``shell key`` (the values of ``SHELL_KEY`` and the script
  root), with each of its blocks replaced by a marker;
* a page: its template runs as before, except that base.html, when the page extends it, only renders its blocks
  (the page's own, and base.html's for the others); they go in the shell's markers.

What varies from one request to the next in the layout (the CSRF token, the user's id, the navigation with its
unread badge, the red banner, flashed messages, the path to come back to) is therefore in blocks of base.html.
Outside its blocks base.html may use only the variables of ``SHELL_KEY`` and the functions of
``SHELL_FUNCTIONS``: tests/unit/test_layout.py checks the template, and that pages come out the same either way.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

import flask.templating
import jinja2
from flask import current_app, has_request_context, request
from jinja2 import nodes
from jinja2.runtime import Context

LAYOUT = "base.html"
# The context values (from webapp's context processor) that base.html shows outside its blocks.
SHELL_KEY = ("html_lang", "current_locale", "large_text", "demo_mode", "logged_in")
# The functions it calls there: the same result for every request of a shell key and script root.
SHELL_FUNCTIONS = frozenset({"_", "static_url", "url_for"})
_MARK = "\x00"  # around a block's name in the shell: a template's text has none

# The block outputs of the page being rendered, while its template runs (one per render: nested renders, such
# as the navigation's, set their own).
_collecting: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("layout_blocks", default=None)


def _collect_blocks(names: tuple[str, ...], context: Context) -> Any:
    """base.html's part of a page while collecting: each of its blocks ``names`` rendered as the page defines it
    (or base.html does), kept for the shell; nothing is written."""
    found = _collecting.get()
    assert found is not None
    concat = context.environment.concat  # type: ignore[attr-defined]
    for name in names:
        found[name] = concat(context.blocks[name][0](context))
    yield from ()


class Template(jinja2.Template):
    """A template that, when it extends base.html, renders into the shell (module docstring)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        if not self._extends_layout() or not has_request_context() or current_app.debug:
            # In debug mode static files change under a running server: their URLs (content hashes) are not kept.
            return super().render(*args, **kwargs)
        environment: Environment = self.environment  # type: ignore[assignment]
        context = self.new_context(dict(*args, **kwargs))
        blocks: dict[str, str] = {}
        token = _collecting.set(blocks)
        try:
            environment.concat(self.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            environment.handle_exception()
        finally:
            _collecting.reset(token)
        parts = environment.shell(context)
        # parts alternate the shell's text and block names: text, name, text, ..., text
        return "".join([parts[index] if index % 2 == 0 else blocks[parts[index]] for index in range(len(parts))])

    def _extends_layout(self) -> bool:
        extends = self.__dict__.get("_layout_extends")
        if extends is None:
            extends = self.__dict__["_layout_extends"] = _extends(self.environment, self.name)
        return extends


def _extends(environment: jinja2.Environment, name: str | None) -> bool:
    """Whether the template ``name`` extends base.html (itself, or through the templates it extends)."""
    seen: set[str] = set()
    while name is not None and name not in seen and name != LAYOUT:
        seen.add(name)
        assert environment.loader is not None
        source = environment.loader.get_source(environment, name)[0]
        parents = [node.template for node in environment.parse(source).find_all(nodes.Extends)]
        if len(parents) != 1 or not isinstance(parents[0], nodes.Const):
            return False  # none, or chosen at run time: render it in full
        name = parents[0].value
        if name == LAYOUT:
            return True
    return False


class Environment(flask.templating.Environment):
    """Flask's template environment whose templates render into the layout's shell (module docstring)."""

    template_class = Template

    def get_template(self, name: Any, parent: Any = None, globals: Any = None, real: bool = False) -> Any:  # noqa: A002
        template = super().get_template(name, parent, globals)
        if name == LAYOUT and not real and _collecting.get() is not None:
            return _blocks_only(template)
        return template

    def shell(self, context: Context) -> list[str]:
        """base.html for this context's shell key, split at its blocks: text, block name, text, ..., text."""
        layout = self.get_template(LAYOUT, real=True)
        # The template itself in the key: an edited base.html (auto-reloaded templates) is a new one, with a new shell.
        key = (layout, request.script_root, *(context.get(name) for name in SHELL_KEY))
        shells: dict[tuple[Any, ...], list[str]] = current_app.extensions.setdefault("layout_shells", {})
        parts = shells.get(key)
        if parts is None:
            markers = "".join(
                f"{{% block {name} %}}{_MARK}{name}{_MARK}{{% endblock %}}" for name in layout.blocks
            )
            shell_template = self.from_string('{% extends "' + LAYOUT + '" %}' + markers)
            text = jinja2.Template.render(shell_template, {name: context.get(name) for name in SHELL_KEY})
            parts = text.split(_MARK)
            shells[key] = parts
        return parts


def _blocks_only(layout: jinja2.Template) -> jinja2.Template:
    """base.html as a page extending it sees it while its blocks are collected."""
    stub = layout.__dict__.get("_blocks_only")
    if stub is None:
        stub = object.__new__(type(layout))
        stub.__dict__.update({key: value for key, value in layout.__dict__.items() if key != "_blocks_only"})
        stub.root_render_func = functools.partial(_collect_blocks, tuple(layout.blocks))  # type: ignore[attr-defined]
        layout.__dict__["_blocks_only"] = stub
    return stub
