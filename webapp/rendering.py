"""One URL, two answers: the full page for a navigation, the fragment for an htmx request; and CSV downloads."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, make_response, render_template, request, url_for
from flask_babel import format_date, format_datetime, ngettext
from flask_login import current_user
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from webapp import cache as static_cache
from webapp.extensions import request_catalogue, request_locale, request_timezone
from webapp.reports import privacy


def is_fragment_request() -> bool:
    """True for htmx requests that swap part of a page (boosted navigations and history restores want pages)."""
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def page_or_fragment(
    page: str, fragment: str, status: int = 200, *, rendered: str | None = None, **context: Any
) -> Response:
    """Render ``fragment`` for htmx requests and ``page`` otherwise; caches must keep the two apart.

    ``rendered``: the fragment already rendered (a shared copy, ``webapp.cache.fragment``), sent as it is to htmx
    and given to the page as ``rendered`` to show in its place."""
    if is_fragment_request():
        body = rendered if rendered is not None else render_template(fragment, **context)
    else:
        body = render_template(page, rendered=rendered, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def render_fragment(template: str, **context: Any) -> Markup:
    """A piece of a page, rendered to be kept (``webapp.cache.fragment``) and shown inside a page."""
    return Markup(render_template(template, **context))


_UNREAD_BADGE = "<!--unread-badge-->"


def site_nav(unread: int) -> Markup:
    """The layout's main navigation (``templates/_site_nav.html``): the same for every user of a role, language
    and kind of department, so rendered once per process for each (building its lists of links and labels was
    about a fifth of a logged-in page's server time); only the unread badge is put in per request."""
    user = current_user if current_user.is_authenticated else None
    role = user.role.value if user is not None else ""
    department = user.department if user is not None and role == "department" else None
    service_point = bool(department is not None and department.service_point)
    key = (str(request_locale()), role, service_point, request.script_root)
    navs: dict[tuple[Any, ...], str] = current_app.extensions.setdefault("site_nav", {})  # per app, as webapp.cache
    rendered = navs.get(key)
    if rendered is None:
        rendered = navs[key] = render_template("_site_nav.html", role=role, service_point=service_point)
    badge = ""
    if unread:
        label = ngettext("%(num)d unread", "%(num)d unread", unread)
        badge = f' <span class="badge" id="notification-count" aria-label="{escape(label)}">{unread}</span>'
    return Markup(rendered.replace(_UNREAD_BADGE, badge, 1))


REMEMBERED_RENDER_SECONDS = 300


def remembered_render(template: str, key: Any, **context: Any) -> Markup:
    """``template`` rendered with ``context``, kept in the process per ``key`` (everything the piece shows, as
    plain immutable values), language and time zone, so a list shows each row's piece rendered once: for rows
    that many staff see over and over (the inbox's cards). Nothing about the viewer may go into the piece;
    forgotten with the other kept figures when this process writes reports (``webapp.cache.remember``)."""
    full_key = (template, key, request_locale(), request_timezone())
    return static_cache.remember(
        "rendered", REMEMBERED_RENDER_SECONDS, full_key, lambda: Markup(render_template(template, **context))
    )


@cache
def print_page(template: str, **context: Any) -> Response:
    """A page made to be printed on its own (posters, stickers): its print styles are inline, so the response's
    security policy allows exactly those, by a nonce the template puts on its <style>."""
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template(template, nonce=nonce, **context))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-{nonce}'; script-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )
    return response


def _content_hash(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def static_url(filename: str) -> str:
    """URL of a static file with a content hash in it, so browsers may keep it for a year.

    Outside debug mode the URL is remembered per process (static files change only with a deployment, which
    restarts the processes): every page links half a dozen of them."""
    remembered: dict[tuple[str, str], str] | None = None
    root = request.script_root if has_request_context() else ""
    if not current_app.debug:
        remembered = current_app.extensions.setdefault("static_urls", {})
        found = remembered.get((root, filename))
        if found is not None:
            return found
    path = Path(current_app.static_folder or "") / filename
    version = _content_hash(str(path), path.stat().st_mtime) if path.exists() else "0"
    url = url_for("static", filename=filename, v=version)
    if remembered is not None and path.exists():
        remembered[(root, filename)] = url
    return url


def template_url_for(endpoint: str, **values: Any) -> str:
    """``url_for`` in templates; a URL without values (the layout's dozen links) is built once per process and
    script root: building one takes tens of microseconds."""
    app = current_app
    if values or endpoint.startswith(".") or app.url_default_functions or app.config.get("SERVER_NAME"):
        return url_for(endpoint, **values)
    fixed: dict[tuple[str, str], str] = app.extensions.setdefault("fixed_urls", {})
    key = (endpoint, request.script_root if has_request_context() else "")
    found = fixed.get(key)
    if found is None:
        found = fixed[key] = url_for(endpoint)
    return found


# --- Fast helpers for lists (measured with bench/http_load.py; see the README's Measurements) --------------------

_SLOT_ID = 2_147_483_000  # a database id no row reaches in practice: its digits mark where the value goes
_SLOT_TEXT = "Slot0/Slot"  # with a slash: a path converter keeps it, any other converter quotes it
_SAFE_TEXT = re.compile(r"[A-Za-z0-9._/-]+\Z")


def url_in_loop(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` with one value, for links repeated in a list (a card per report).

    url_for costs tens of microseconds a call (URL defaults, the converters, the map's rules); here the URL is built
    once per request with a placeholder and each value is put in its place. Only whole numbers and plain
    file-name-like text (slashes only where the route takes a path) take the short way; anything else goes
    through url_for.
    """
    ((name, value),) = values.items()
    if isinstance(value, bool) or not (
        (isinstance(value, int) and 0 < value < _SLOT_ID) or (isinstance(value, str) and _SAFE_TEXT.match(value))
    ):
        return url_for(endpoint, **values)
    templates: dict[tuple[str, str, type], tuple[str, str] | None] = g.setdefault("_url_templates", {})
    key = (endpoint, name, type(value))
    if key not in templates:
        slot = str(_SLOT_ID) if isinstance(value, int) else _SLOT_TEXT
        before, found, after = url_for(endpoint, **{name: slot if isinstance(value, str) else _SLOT_ID}).partition(slot)
        templates[key] = (before, after) if found and slot not in after else None
    parts = templates[key]
    if parts is None:  # the route changes such values (quoting): build each URL properly
        return url_for(endpoint, **values)
    return f"{parts[0]}{value}{parts[1]}"


_FORMATTED: dict[tuple[Any, ...], str] = {}
_FORMATTED_MAX = 20_000


def _remembered(formatter: Any, value: Any, format: str | None, rebase: bool) -> str:
    """``formatter(value, format, rebase)`` remembered per (formatter, value, format, language, time zone): list
    pages show the same times to many people, and Babel formats one in about as long as the rest of a card takes."""
    if value is None:
        return formatter(value, format, rebase)  # now: nothing to remember
    key = (formatter, value, format, rebase, request_locale(), request_timezone())
    found = _FORMATTED.get(key)
    if found is None:
        found = formatter(value, format, rebase)
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        _FORMATTED[key] = found
    return found


def remembered_datetimeformat(value: datetime | None = None, format: str | None = None, rebase: bool = True) -> str:
    """Flask-Babel's ``datetimeformat`` filter, remembered (``_remembered``)."""
    return _remembered(format_datetime, value, format, rebase)


def remembered_dateformat(value: date | None = None, format: str | None = None, rebase: bool = True) -> str:
    """Flask-Babel's ``dateformat`` filter, remembered (``_remembered``): the points history shows a date per row."""
    return _remembered(format_date, value, format, rebase)


# --- Translations in templates ----------------------------------------------------------------------------------
# Flask-Babel's template gettext finds the catalogue anew for every string and Jinja wraps it in three calls: about
# half of the layout's rendering time. These use the request's catalogue (webapp.extensions.request_catalogue),
# and a string without variables is translated once per catalogue.


def _finish(eval_ctx: EvalContext, text: str, variables: dict[str, Any]) -> str:
    # Jinja's "newstyle" gettext: always a format string; autoescaped templates escape the variables.
    return (Markup(text) if eval_ctx.autoescape else text) % variables


@pass_eval_context
def template_gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
    translations, plain, _text = request_catalogue()
    if variables or not eval_ctx.autoescape:
        return _finish(eval_ctx, translations.ugettext(string), variables)
    found = plain.get(string)
    if found is None:
        found = plain[string] = Markup(translations.ugettext(string)) % {}
    return found


@pass_eval_context
def template_ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    return _finish(eval_ctx, request_catalogue()[0].ungettext(singular, plural, num), variables)


@pass_eval_context
def template_pgettext(eval_ctx: EvalContext, context: str, string: str, **variables: Any) -> str:
    variables.setdefault("context", context)
    return _finish(eval_ctx, request_catalogue()[0].upgettext(context, string), variables)


@pass_eval_context
def template_npgettext(
    eval_ctx: EvalContext, context: str, singular: str, plural: str, num: int, **variables: Any
) -> str:
    variables.setdefault("context", context)
    variables.setdefault("num", num)
    return _finish(eval_ctx, request_catalogue()[0].unpgettext(context, singular, plural, num), variables)


def install_template_gettext(app: Flask) -> None:
    """Replace Flask-Babel's template functions (``_``, ``gettext``, ``ngettext``, ``pgettext``, ``npgettext``)."""
    app.jinja_env.globals.update(
        _=template_gettext,
        gettext=template_gettext,
        ngettext=template_ngettext,
        pgettext=template_pgettext,
        npgettext=template_npgettext,
    )


def shared_fragment(name: str, key: Any, render: Any) -> Any:
    """``render()``, a piece of a public page, kept and shown to every viewer of the current user's class
    (``privacy.viewer_class``: anonymous visitors) by ``webapp.cache.fragment``; None for a viewer who gets a page
    rendered for them alone (render it with their own context)."""
    return static_cache.fragment(name, key, render, shared_as=privacy.viewer_class(current_user))
