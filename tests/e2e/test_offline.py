"""Offline capture with the real service worker in Chromium: reports made without a network are kept on the
phone and reach the server exactly once, whatever the network and the server do."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import log_in
from tests.factories import make_user
from webapp.db import db
from webapp.reports.models import Category, Report

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"
PHOTOS = [IMAGES / "flower.jpg", IMAGES / "hopper_orientation_6.jpg", IMAGES / "hopper.png"]


def server_reports(app) -> list[Report]:  # type: ignore[no-untyped-def]
    with app.app_context():
        reports = list(db.session.scalars(sa.select(Report).order_by(Report.id)))
        for report in reports:
            _ = report.photos, report.category
        db.session.remove()
        return reports


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def resident(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(phone="13600001111")
        db.session.commit()
        return user


@pytest.fixture
def open_profile(browser_type, browser_type_launch_args, browser_context_args, tmp_path) -> Iterator[Callable]:  # type: ignore[no-untyped-def]
    """Open the phone's browser on a profile kept on disk; opening it again is like reopening the app."""
    contexts: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser_type.launch_persistent_context(
            str(tmp_path / "profile"), **browser_type_launch_args, **browser_context_args
        )
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        with contextlib.suppress(Exception):  # already closed by the test
            context.close()


def controlled_page(context: BrowserContext, base: str, path: str = "/reports/new") -> Page:
    """A page under the service worker's control, with the app shell in its cache."""
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(base + path)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        page.reload()  # loaded while the worker was still activating: the next load is controlled
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    return page


def capture(
    page: Page,
    base: str,
    photo: Path,
    address: str,
    *,
    group: str = "垃圾与环境卫生",
    category: str = "垃圾站（箱）满溢",
) -> None:
    page.goto(base + "/reports/new")
    page.locator("#photo-1").set_input_files(str(photo))
    page.get_by_text(group, exact=True).click()
    page.get_by_label(category, exact=True).check()
    page.locator("#address").fill(address)
    page.get_by_role("button", name="发送报告").click()
    expect(page.locator("#saved-note")).to_be_visible()
    expect(page.locator(f"#outbox-list li:has-text('{address}')")).to_be_visible()


def test_three_offline_reports_survive_reload_and_a_new_browser_then_arrive_once(
    app, live_server, resident, open_profile
):
    base = live_server.url
    context = open_profile()
    page = controlled_page(context, base)
    log_in(page, base, resident.phone)
    controlled_page(context, base)

    context.set_offline(True)
    for number, photo in enumerate(PHOTOS, start=1):
        capture(page, base, photo, f"离线地址 {number}")
    expect(page.locator("#outbox-nav")).to_be_visible()
    expect(page.locator("#outbox-count")).to_have_text("3")
    page.reload()  # still offline: the outbox page comes from the service worker's cache
    expect(page.locator("#outbox-list li")).to_have_count(3)
    expect(page.locator("#offline-banner")).to_be_visible()
    assert server_reports(app) == []
    context.close()

    context = open_profile()  # the same phone storage, the network is back
    page = context.new_page()
    page.goto(base + "/outbox")
    wait_until(lambda: len(server_reports(app)) == 3)
    expect(page.locator("#outbox-empty")).to_be_visible()
    expect(page.locator("#sent-list li")).to_have_count(3)
    time.sleep(1)  # any late duplicate would arrive now
    reports = server_reports(app)
    assert sorted(r.address for r in reports) == ["离线地址 1", "离线地址 2", "离线地址 3"]
    assert len({r.client_id for r in reports}) == 3
    storage = app.extensions["storage"]
    for report in reports:
        assert report.channel.value == "app" and report.captured_at is not None
        assert len(report.photos) == 1
        photo = report.photos[0]
        assert storage.exists(photo.display_key) and max(photo.width, photo.height) <= 1600
    rotated = next(r for r in reports if r.address == "离线地址 2").photos[0]
    assert rotated.height >= rotated.width or rotated.width == rotated.height  # upright, not sideways


def test_server_errors_and_lost_answers_still_end_in_exactly_one_report(app, live_server, resident, page):
    base = live_server.url
    log_in(page, base, resident.phone)
    live_server.faults.plan = ["500", "lost", "drop"]
    capture(page, base, PHOTOS[0], "故障测试")
    item = page.locator("#outbox-list li")
    expect(item).to_contain_text("发送失败，稍后自动重试")  # the injected 500
    for _ in range(3):  # "lost" (stored, answer lost), "drop" (replayed, connection cut), then a clean replay
        page.get_by_role("button", name="立即发送").click()
        page.wait_for_timeout(500)
    expect(page.locator("#outbox-empty")).to_be_visible(timeout=15000)
    assert len(live_server.faults.seen) == 4
    assert len(server_reports(app)) == 1


def test_a_tab_closed_while_sending_loses_nothing(app, live_server, resident, context):
    base = live_server.url
    page = context.new_page()
    log_in(page, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    capture(page, base, PHOTOS[0], "关闭标签测试")
    live_server.faults.plan = [("slow", 2.0)]
    context.set_offline(False)
    wait_until(lambda: len(live_server.faults.seen) >= 1, timeout=10)
    page.close()  # mid-upload
    wait_until(lambda: len(server_reports(app)) == 1, timeout=10)
    page = context.new_page()
    page.goto(base + "/outbox")
    expect(page.locator("#outbox-empty")).to_be_visible(timeout=15000)
    assert len(server_reports(app)) == 1


def test_two_tabs_and_repeated_sync_triggers_send_each_report_once(app, live_server, resident, context):
    base = live_server.url
    first = context.new_page()
    log_in(first, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    capture(first, base, PHOTOS[0], "两个标签 1")
    capture(first, base, PHOTOS[2], "两个标签 2")
    second = context.new_page()
    second.goto(base + "/outbox")
    live_server.faults.plan = [("slow", 1.0), ("slow", 1.0)]
    context.set_offline(False)  # both tabs hear "online"; the service worker may get a sync event too
    for page in (first, second):
        page.evaluate(
            """() => Promise.all([CitizenGridOutbox.sendAll({force: true}), CitizenGridOutbox.sendAll({force: true}),
                 navigator.serviceWorker.ready.then(r => r.active.postMessage({type: 'send-outbox', force: true}))])"""
        )
    wait_until(lambda: len(server_reports(app)) == 2)
    expect(second.locator("#outbox-empty")).to_be_visible(timeout=15000)
    time.sleep(1.5)
    assert len(server_reports(app)) == 2
    assert len(live_server.faults.seen) == 2  # one sender at a time: no request was sent twice


def test_a_photo_too_large_for_the_server_stays_visible_with_the_reason(app, live_server, resident, page, monkeypatch):
    base = live_server.url
    log_in(page, base, resident.phone)
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 5_000)
    capture(page, base, PHOTOS[0], "照片太大")
    item = page.locator("#outbox-list li")
    expect(item.locator(".outbox-reason")).to_contain_text("太大")
    expect(item).to_contain_text("未被接受：请修改")
    page.reload()
    expect(page.locator("#outbox-list li")).to_have_count(1)
    assert server_reports(app) == []
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 12 * 1024 * 1024)
    page.locator("#outbox-list li").get_by_role("link", name="修改").click()
    expect(page.locator("#editing-note")).to_be_visible()
    page.get_by_role("button", name="发送报告").click()
    expect(page.locator("#outbox-empty")).to_be_visible(timeout=15000)
    assert len(server_reports(app)) == 1


def test_a_refused_category_stays_in_the_outbox_editable_until_fixed(app, live_server, resident, context):
    base = live_server.url
    page = context.new_page()
    log_in(page, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    capture(page, base, PHOTOS[0], "类别已停用", group="路灯照明", category="地灯")
    with app.app_context():
        db.session.get(Category, "01038").active = False  # the city retired the category meanwhile
        db.session.commit()
    try:
        context.set_offline(False)
        item = page.locator("#outbox-list li")
        expect(item.locator(".outbox-reason")).to_contain_text("请从列表中选择类别", timeout=15000)
        item.get_by_role("link", name="修改").click()
        page.get_by_text("路灯照明", exact=True).click()
        page.get_by_label("路灯", exact=True).check()
        page.get_by_role("button", name="发送报告").click()
        expect(page.locator("#outbox-empty")).to_be_visible(timeout=15000)
        reports = server_reports(app)
        assert [(r.category_code, r.address) for r in reports] == [("01037", "类别已停用")]
    finally:
        with app.app_context():
            db.session.get(Category, "01038").active = True
            db.session.commit()


def test_an_expired_login_keeps_the_reports_until_the_resident_logs_in(app, live_server, resident, context):
    base = live_server.url
    page = context.new_page()
    log_in(page, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    capture(page, base, PHOTOS[0], "登录过期")
    context.clear_cookies()  # the session expired while the phone was offline
    context.set_offline(False)
    expect(page.locator("#login-note")).to_be_visible(timeout=15000)
    expect(page.locator("#outbox-list li")).to_contain_text("等待您登录")
    page.locator("#login-note a").click()
    page.locator("#phone").fill(resident.phone)
    page.locator("#password").fill("secret-pass-1")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(base + "/outbox")
    expect(page.locator("#outbox-empty")).to_be_visible(timeout=15000)
    assert len(server_reports(app)) == 1


def test_a_waiting_report_can_be_deleted(live_server, resident, context):
    base = live_server.url
    page = context.new_page()
    log_in(page, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    capture(page, base, PHOTOS[0], "要删除的")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#outbox-list li").get_by_role("button", name="删除").click()
    expect(page.locator("#outbox-empty")).to_be_visible()
    expect(page.locator("#outbox-nav")).to_be_hidden()


def test_the_app_is_installable(live_server, open_profile):
    context = open_profile()
    page = controlled_page(context, live_server.url, "/")
    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == []


def test_a_new_release_replaces_the_old_caches(live_server, context, monkeypatch):
    from webapp.pwa import views as pwa

    page = controlled_page(context, live_server.url)
    old = page.evaluate("caches.keys()")
    assert len(old) == 1 and old[0].startswith("citizen-grid-shell-")
    monkeypatch.setattr(pwa, "release_id", lambda: "nextrelease1")
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    wait_until(lambda: page.evaluate("caches.keys()") == ["citizen-grid-shell-nextrelease1"], timeout=15)


def test_the_phone_downscales_uprights_and_locates_from_the_photo(app, live_server, resident, context, tmp_path):
    """A landscape camera photo with EXIF orientation 6 and GPS: stored upright (portrait), no EXIF left, and
    the report placed where the photo was taken although the resident gave no position or address."""
    from tests.factories import gps_photo_bytes

    photo = tmp_path / "camera.jpg"
    photo.write_bytes(gps_photo_bytes(37.86, 112.55, size=(2400, 1800)))
    base = live_server.url
    page = context.new_page()
    log_in(page, base, resident.phone)
    controlled_page(context, base)
    context.set_offline(True)
    page.goto(base + "/reports/new")
    page.locator("#photo-1").set_input_files(str(photo))
    expect(page.locator("#location-status")).to_contain_text("位置取自照片")
    page.get_by_text("垃圾与环境卫生", exact=True).click()
    page.get_by_label("暴露垃圾", exact=True).check()
    page.get_by_role("button", name="发送报告").click()
    expect(page.locator("#saved-note")).to_be_visible()
    size = page.evaluate(
        """() => CitizenGridOutbox.list().then(items => createImageBitmap(items[0].photos[0]))
                 .then(bitmap => [bitmap.width, bitmap.height])"""
    )
    assert size == [1200, 1600]
    context.set_offline(False)
    wait_until(lambda: len(server_reports(app)) == 1)
    report = server_reports(app)[0]
    assert report.location_source.value == "exif"
    assert (round(report.lat, 3), round(report.lon, 3)) == (37.86, 112.55)
    assert (report.photos[0].width, report.photos[0].height) == (1200, 1600)
