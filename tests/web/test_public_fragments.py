"""Pieces of public pages kept for anonymous visitors (webapp.cache.fragment): the home page's content, the report
list (page and htmx fragment), a report's page and the open data. Kept per language, filters, page and viewer
class; forgotten at once by a write in this process; never shown to a logged-in viewer; never holding what
webapp/reports/privacy.py hides from the public."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.factories import make_report, make_user, mark_accepted
from tests.helpers import HX, login
from webapp.accounts.models import Role, User
from webapp.db import db
from webapp.reports import privacy
from webapp.reports.models import Report

NOISE = "06028"  # 噪声扰民: a sensitive category
ADDRESS = "迎泽西大街 88 号 3 单元 502 室"
SECRET = "楼上每晚两点装修"


@pytest.fixture(autouse=True)
def kept_for_an_hour(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long enough that only forgetting, never expiry, can explain a fresh page within a test."""
    monkeypatch.setitem(app.config, "PUBLIC_FRAGMENT_SECONDS", 3600)


def kept(app: Flask) -> list[str]:
    """Every kept piece of a page, as text."""
    pieces = []
    for (name, _key), (_expires, value) in app.extensions.get("figure_cache", {}).items():
        if name.startswith("fragment:"):
            pieces.extend(value if isinstance(value, tuple) else [value])
    return [str(piece) for piece in pieces]


def kept_keys(app: Flask, name: str) -> list[tuple]:
    return [key for (kind, key) in app.extensions.get("figure_cache", {}) if kind == f"fragment:{name}"]


def new_report(app: Flask, **overrides) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        report = make_report(**overrides)
        db.session.commit()
        return report.id


def accepted_report(app: Flask, **overrides) -> int:  # type: ignore[no-untyped-def]
    report_id = new_report(app, **overrides)
    with app.app_context():
        mark_accepted(report_id)
    return report_id


@pytest.mark.parametrize("path", ["/", "/reports", "/open-data"])
def test_a_report_written_in_this_process_shows_at_once(app, client, path):
    first = accepted_report(app)
    assert f"/reports/{first}" in client.get(path).get_data(as_text=True)
    assert kept_keys(app, {"/": "home", "/reports": "report-list", "/open-data": "open-data"}[path])
    second = accepted_report(app)
    assert f"/reports/{second}" in client.get(path).get_data(as_text=True)


def test_a_step_of_the_case_shows_at_once_on_the_report_page(app, client):
    report_id = new_report(app, description="路灯不亮")  # waits for review: the public sees no description
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "路灯不亮" not in page and 'id="privacy-note"' in page
    with app.app_context():
        mark_accepted(report_id)
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert "路灯不亮" in page and 'id="privacy-note"' not in page


def test_each_language_and_filter_and_page_has_its_own_copy(app, client):
    accepted_report(app)
    chinese = client.get("/reports").get_data(as_text=True)
    client.set_cookie("lang", "en")
    english = client.get("/reports").get_data(as_text=True)
    assert "1 份报告" in chinese and "1 report" in english
    client.get("/reports?status=closed")
    client.get("/reports?page=2")
    keys = kept_keys(app, "report-list")
    assert len(keys) == 4
    assert {key[1] for key in keys} == {"zh_Hans_CN", "en"}
    assert "No reports match these filters." in client.get("/reports?status=closed").get_data(as_text=True)


def test_a_logged_in_viewer_is_never_shown_the_public_copy(app, client):
    with app.app_context():
        reporter = make_user()
        db.session.commit()
    report_id = new_report(app, reporter=reporter, address=ADDRESS, description=SECRET)  # waits for review
    login(client, reporter)  # (logging in writes, which forgets what was kept: the public copies come after)
    anonymous = app.test_client()
    for viewer in (client, anonymous):
        viewer.set_cookie("lang", "en")
    page = anonymous.get(f"/reports/{report_id}").get_data(as_text=True)
    listing = anonymous.get("/reports").get_data(as_text=True)
    assert ADDRESS not in page and SECRET not in page and ADDRESS not in listing
    assert kept_keys(app, "report-page") and kept_keys(app, "report-list")
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert ADDRESS in page and SECRET in page and "This is your report." in page
    assert ADDRESS in client.get("/reports").get_data(as_text=True)  # their own report in the list, in full
    shared = [key[0] for name in ("report-page", "report-list") for key in kept_keys(app, name)]
    assert set(shared) == {privacy.viewer_class(None)}  # nothing was kept for the logged-in viewer


def test_a_logged_in_resident_sees_their_new_report_at_once(app, client):
    with app.app_context():
        resident = make_user()
        db.session.commit()
    login(client, resident)
    client.get("/")
    report_id = new_report(app, reporter=resident)
    assert f"/reports/{report_id}" in client.get("/").get_data(as_text=True)
    assert not kept_keys(app, "home")


@pytest.mark.parametrize("first", ["reporter", "staff", "nobody"])
def test_what_privacy_hides_never_enters_the_public_copy(app, client, first):
    with app.app_context():
        reporter = make_user()
        staff = make_user(Role.REVIEWER)
        db.session.commit()
    sensitive = accepted_report(app, reporter=reporter, category_code=NOISE, address=ADDRESS, description=SECRET)
    pending = new_report(app, reporter=reporter, address=ADDRESS + "旁", description=SECRET + "！")
    paths = ("/", "/reports", f"/reports/{sensitive}", f"/reports/{pending}", "/open-data")
    if first != "nobody":  # a viewer who sees everything renders every page first
        privileged = app.test_client()
        login(privileged, reporter if first == "reporter" else staff)
        for path in paths:
            assert ADDRESS in privileged.get(path).get_data(as_text=True) or path == "/open-data"
    for path in paths:
        page = client.get(path).get_data(as_text=True)
        assert ADDRESS not in page and SECRET not in page, path
    assert kept(app) and not [piece for piece in kept(app) if ADDRESS in piece or SECRET in piece]


@pytest.mark.parametrize("path", ["/reports?page=1", "/open-data?page=1"])
@pytest.mark.parametrize("order", ["page first", "fragment first"])
def test_htmx_gets_the_list_alone_and_navigation_the_whole_page(app, client, path, order):
    report_id = accepted_report(app)
    requests = [({}, "page"), (HX, "fragment")]
    if order == "fragment first":
        requests.reverse()
    for headers, kind in requests * 2:  # the second round comes from the kept copies
        response = client.get(path, headers=headers)
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
        assert f"/reports/{report_id}" in body
        assert ("<html" in body) == (kind == "page"), (kind, body[:200])
        if kind == "page":
            assert 'name="csrf_token"' in body  # the layout is the viewer's own


def test_a_missing_report_is_not_kept(app, client):
    assert client.get("/reports/999999").status_code == 404
    assert not kept_keys(app, "report-page")


def test_writes_by_update_and_delete_statements_forget_too(app, client):
    """Stock is taken and followers removed by UPDATE and DELETE statements, without a flush of the rows."""
    from webapp.points import store
    from webapp.points.models import StoreItem
    from webapp.reports import services

    client.set_cookie("lang", "en")
    report_id = accepted_report(app)
    with app.app_context():
        admin = make_user(Role.ADMIN)
        item = StoreItem(name_zh="大米", points_price=100, cost_fen=300, stock=0)
        db.session.add(item)
        db.session.flush()
        store.purchase(item, admin, quantity=5, cost_fen=1500, budget_line=None)
        follower = make_user()
        services.follow(follower, db.session.get(Report, report_id))
        db.session.commit()
        item_id, follower_id, admin_id = item.id, follower.id, admin.id
    assert "In stock: 5" in client.get("/store").get_data(as_text=True)
    assert "1 other resident reported this too." in client.get(f"/reports/{report_id}").get_data(as_text=True)
    with app.app_context():
        store.adjust(db.session.get(StoreItem, item_id), db.session.get(User, admin_id), quantity=-2, note="破损")
        services.unfollow(db.session.get(User, follower_id), db.session.get(Report, report_id))
        db.session.commit()
    assert "In stock: 3" in client.get("/store").get_data(as_text=True)
    assert "reported this too" not in client.get(f"/reports/{report_id}").get_data(as_text=True)
