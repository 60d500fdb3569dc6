"""Every page the same in the layout's shell as with base.html rendered in full (webapp.layout), for every role;
and what the shell depends on (language, text size, login) or leaves to the request (the red banner)."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_report, make_user
from tests.helpers import login
from tests.web.test_access import ANONYMOUS, ROLES, ROUTES
from webapp import layout
from webapp.accounts.models import Role
from webapp.db import db
from webapp.reports.models import Report
from webapp.review import emergency


def _normalised(body: str) -> str:
    # A form's token and a form's request key are made anew for each rendering of a page.
    body = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", body)
    return re.sub(r"[\w-]+\.[\w-]{6}\.[\w-]{27}", "<token>", body)  # itsdangerous: value.time.signature


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_is_the_same_in_the_shell(app, client, role, monkeypatch):
    with app.app_context():
        report = make_report()
        if role != ANONYMOUS:
            user = make_user(Role(role))
        db.session.commit()
        report_id = report.id
    if role != ANONYMOUS:
        login(client, user)
    client.set_cookie("large_text", "on")
    compared = 0
    for path, expected in ROUTES:
        if expected[role] != 200 or path == "/admin/monitoring":  # its figures are measured anew per request
            continue
        url = path.format(report=report_id)
        shell = client.get(url)
        if not shell.content_type.startswith("text/html"):
            continue
        monkeypatch.setattr(layout.Template, "_extends_layout", lambda self: False)
        full = client.get(url)
        monkeypatch.undo()
        assert _normalised(shell.get_data(as_text=True)) == _normalised(full.get_data(as_text=True)), url
        compared += 1
    assert compared >= 10


def test_the_shell_follows_language_text_size_and_login(app, client):
    with app.app_context():
        resident = make_user()
        db.session.commit()
    zh = client.get("/store").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in zh and 'class="large-text"' not in zh and "退出登录" not in zh
    client.set_cookie("lang", "en")
    client.set_cookie("large_text", "on")
    en = client.get("/store").get_data(as_text=True)
    assert '<html lang="en" class="large-text">' in en and "Log out" not in en
    login(client, resident)
    mine = client.get("/store").get_data(as_text=True)
    assert "退出登录" in mine or "Log out" in mine
    assert f'data-user="{resident.id}"' in mine


def test_the_red_banner_is_per_request(app, client):
    """The banner is in a block: one reviewer sees an open emergency, the next page without it does not."""
    with app.app_context():
        reviewer = make_user(Role.REVIEWER)
        report = make_report()
        db.session.commit()
    login(client, reviewer)
    assert "emergency-banner" not in client.get("/review/").get_data(as_text=True)
    with app.app_context():
        emergency.start(db.session.get(Report, report.id), reviewer, reason="test")
        db.session.commit()
    assert "emergency-banner" in client.get("/review/").get_data(as_text=True)
