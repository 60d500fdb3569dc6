"""The layout rendered once per kind of visitor (webapp.layout): base.html may only use, outside its blocks, what
the shell's key covers; and every page comes out exactly as base.html rendered in full would make it."""

from __future__ import annotations

import jinja2
from flask import Flask, current_app, flash, render_template, render_template_string
from jinja2 import meta, nodes

from webapp import layout


def test_outside_its_blocks_the_layout_uses_only_the_shell_key_and_its_functions(app: Flask):
    environment = app.jinja_env
    assert environment.loader is not None
    tree = environment.parse(environment.loader.get_source(environment, layout.LAYOUT)[0])
    blocks = list(tree.find_all(nodes.Block))
    assert {block.name for block in blocks} >= {"title", "content", "csrf", "user_id", "site_nav", "flashes"}
    for block in blocks:
        block.body = []  # what a block shows may vary per request: the page renders it
    used = meta.find_undeclared_variables(tree)
    assert used <= set(layout.SHELL_KEY) | layout.SHELL_FUNCTIONS, used - set(layout.SHELL_KEY)
    calls = {node.node.name for node in tree.find_all(nodes.Call) if isinstance(node.node, nodes.Name)}
    assert calls <= layout.SHELL_FUNCTIONS
    # self.<block>() shows a block a second time (the CSRF token in the footer's forms): a block, so per request
    methods = [node.node for node in tree.find_all(nodes.Call) if isinstance(node.node, nodes.Getattr)]
    shown_again = {m.attr for m in methods if isinstance(m.node, nodes.Name) and m.node.name == "self"}
    assert shown_again and shown_again <= {block.name for block in blocks}


def _full(template_name: str, **context: object) -> str:
    """The template rendered as Jinja renders it, base.html in full (Flask's context processors applied)."""
    template = current_app.jinja_env.get_template(template_name)
    values = dict(context)
    current_app.update_template_context(values)
    return jinja2.Template.render(template, values)


def test_a_page_in_the_shell_is_the_page_rendered_in_full(app: Flask):
    """The same text, flashed messages and the path to come back to included; a second page of another language
    gets a shell of its own."""
    for lang, html in (("en", '<html lang="en">'), ("zh_Hans_CN", '<html lang="zh-Hans">')):
        with app.test_request_context("/points?a=1", headers={"Cookie": f"lang={lang}"}):
            values = {"status": 404, "message": "<nothing here>"}
            flash("<b>saved</b>", "success")
            shell = render_template("errors/error.html", **values)
            flash("<b>saved</b>", "success")
            assert shell == _full("errors/error.html", **values)
            assert '<p class="flash flash-success">&lt;b&gt;saved&lt;/b&gt;</p>' in shell
            assert "&lt;nothing here&gt;" in shell and html in shell
            assert 'name="next" value="/points?a=1"' in shell


def test_templates_of_no_layout_render_in_full(app: Flask):
    with app.test_request_context("/"):
        assert not app.jinja_env.from_string('{% extends "base.html" %}')._extends_layout()  # no name
        assert not app.jinja_env.get_template("_site_nav.html")._extends_layout()
        assert app.jinja_env.get_template("points/index.html")._extends_layout()
        assert render_template_string("{{ 1 + 1 }}") == "2"




def test_in_debug_mode_pages_render_in_full(app: Flask, monkeypatch):
    """A debug server serves static files that change while it runs: their hashed URLs are not kept in a shell."""
    monkeypatch.setattr(app, "debug", True)
    monkeypatch.setitem(app.extensions, "layout_shells", {})
    with app.test_request_context("/"):
        page = render_template("errors/error.html", status=404, message="x")
    assert page.startswith("<!doctype html>") and app.extensions["layout_shells"] == {}
