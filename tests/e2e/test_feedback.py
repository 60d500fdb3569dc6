"""Feedback on the app (意见反馈) in real browsers: a visitor without an account and a logged-in resident send
feedback, an admin filters the inbox, replies and adopts, and the resident sees the answer and the points.

Selectors are ids, classes, names and URLs rather than words, so the test holds in either language. Every page
of the flow is checked with axe-core; the residents' pages also on a 360 px phone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible
from tests.e2e.test_lifecycle import browser_for
from tests.factories import make_user
from webapp.accounts.models import Role
from webapp.db import db

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        resident = make_user(Role.CITIZEN, phone="13900000021", name="王阿姨")
        admin = make_user(Role.ADMIN, phone="13900000025", name="督办 孙")
        db.session.commit()
        return {"resident": resident.phone, "admin": admin.phone}


def fits_a_phone(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what} is {width}px wide on a 360px screen"


def desk(browser: Browser, base: str, phone: str) -> Page:
    from tests.e2e.conftest import log_in

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", service_workers="block")
    page = context.new_page()
    log_in(page, base, phone)
    return page


def test_send_triage_reply_adopt_and_see_the_answer(browser, live_server, people, app):
    base = live_server.url

    # A visitor without an account: a problem with the app, a screenshot, a reply by SMS.
    visitor = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True, service_workers="block"
    ).new_page()
    visitor.goto(base + "/")
    visitor.locator("footer a[href='/feedback']").click()
    visitor.wait_for_url(base + "/feedback")
    expect(visitor.locator("input[name=reply_via][value=app]")).to_have_count(0)  # needs an account
    assert_accessible(visitor, "feedback form (anonymous)")
    fits_a_phone(visitor, "the feedback form")
    visitor.locator("input[name=kind][value=app_problem]").check()
    visitor.locator("#text").fill("上传照片时网络差会卡住，能否显示进度？")
    visitor.locator("#screenshot").set_input_files(str(IMAGES / "flower.jpg"))
    visitor.locator("input[name=reply_via][value=sms]").check()
    visitor.locator("#phone").fill("139 0000 7777")
    visitor.locator("form.feedback-form button[type=submit]").click()
    visitor.wait_for_url(re.compile(r"/feedback/s/[\w-]{40,}$"))
    private_link = visitor.url
    expect(visitor.locator(".flash-success")).to_contain_text("YJ")
    expect(visitor.locator("#feedback-link")).to_have_value(private_link)
    expect(visitor.locator("img.feedback-thumb")).to_be_visible()
    assert_accessible(visitor, "private status page")
    fits_a_phone(visitor, "the private status page")

    # A logged-in resident: a suggestion, answered in the app.
    resident = browser_for(browser, base, people["resident"])
    resident.goto(base + "/feedback")
    expect(resident.locator("input[name=reply_via][value=app]")).to_be_checked()
    assert_accessible(resident, "feedback form (resident)")
    resident.locator("input[name=kind][value=suggestion]").check()
    resident.locator("#text").fill("希望地图上能按类别筛选附近的问题。")
    resident.locator("form.feedback-form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/feedback/\d+$"))
    feedback_url = resident.url
    reference = resident.locator("h1").inner_text().split()[-1]
    expect(resident.locator(".feedback-status-new")).to_be_visible()
    assert_accessible(resident, "my feedback item")
    resident.goto(base + "/feedback/mine")
    expect(resident.locator(".feedback-card")).to_have_count(1)
    assert_accessible(resident, "my feedback")

    # The admin's inbox, filtered with htmx by status and kind.
    admin = desk(browser, base, people["admin"])
    admin.locator("nav .nav-more summary").click()  # staff pages beyond the main items are under "More"
    admin.locator("nav a[href='/admin/feedback']").click()
    expect(admin.locator("#feedback-list tbody tr")).to_have_count(2)
    assert_accessible(admin, "feedback inbox")
    admin.locator("#filter-kind").select_option("suggestion")
    expect(admin.locator("#feedback-list tbody tr")).to_have_count(1)
    admin.wait_for_url(re.compile(r"kind=suggestion"))
    admin.locator("#filter-kind").select_option("")
    admin.locator("#filter-status").select_option("adopted")
    expect(admin.locator("#feedback-list tbody tr")).to_have_count(0)
    admin.locator("#filter-status").select_option("new")
    expect(admin.locator("#feedback-list tbody tr")).to_have_count(2)

    # The visitor's problem: in progress, then a reply by SMS.
    admin.locator("#feedback-list tbody tr", has_text="上传照片").locator("a").click()
    admin.locator("button[value=start]").click()
    expect(admin.locator(".feedback-status-in_progress")).to_be_visible()
    admin.locator("#message").fill("已修复：上传时会显示进度。")
    admin.locator("button[value=reply]").click()
    expect(admin.locator(".feedback-status-replied")).to_be_visible()
    expect(admin.locator(".feedback-history li")).to_have_count(3)
    assert_accessible(admin, "triage of the visitor's feedback")
    assert [m.phone for m in app.extensions["sms"].sent] == ["13900007777"]

    # The resident's suggestion: in progress, then adopted with an answer.
    admin.goto(base + "/admin/feedback")
    admin.locator("#feedback-list tbody tr", has_text=reference).locator("a").click()
    admin.locator("button[value=start]").click()
    expect(admin.locator(".feedback-status-in_progress")).to_be_visible()
    admin.locator("#message").fill("好建议，下个版本加上分类筛选。")
    admin.locator("button[value=adopt]").click()
    expect(admin.locator(".feedback-status-adopted")).to_be_visible()
    expect(admin.locator("button[name=action]")).to_have_count(0)  # adopted is final
    assert_accessible(admin, "adopted feedback")

    # The resident sees the answer, the points and the notification.
    resident.goto(feedback_url)
    expect(resident.locator(".feedback-reply")).to_contain_text("好建议，下个版本加上分类筛选。")
    expect(resident.locator(".feedback-points")).to_contain_text("5")
    assert_accessible(resident, "the answered feedback")
    resident.goto(base + "/points")
    expect(resident.locator(".balance-value")).to_have_text("5")
    resident.goto(base + "/me/notifications")
    expect(resident.locator(f".notification a[href='/feedback/{feedback_url.rsplit('/', 1)[1]}']")).to_be_visible()

    # The visitor reads the reply on the private link.
    visitor.goto(private_link)
    expect(visitor.locator(".feedback-reply")).to_contain_text("已修复")
    expect(visitor.locator(".feedback-status-replied")).to_be_visible()


def test_monitoring_page_is_accessible(browser, live_server, people):
    base = live_server.url
    admin = desk(browser, base, people["admin"])
    admin.locator("nav .nav-more summary").click()
    admin.locator("nav a[href='/admin/monitoring']").click()
    expect(admin.locator("svg.line-chart polyline")).to_have_count(3)
    expect(admin.locator("tr[data-check=database] .light-green")).to_be_visible()
    assert_accessible(admin, "monitoring")
    admin.locator("#main button[hx-get]").click()
    expect(admin.locator("#health tr[data-check=storage]")).to_be_visible()
    admin.locator(".chart-table summary").click()
    expect(admin.locator(".participation-table tbody tr")).to_have_count(30)
    assert_accessible(admin, "monitoring with the table open")


def test_the_feedback_pages_are_light_on_a_phone(browser, live_server, people):
    from tests.e2e.test_points import FIRST_LOAD_BUDGET, first_load_bytes

    base = live_server.url
    weights = {
        path: first_load_bytes(browser, base, path, people["resident"]) for path in ("/feedback", "/feedback/mine")
    }
    heavy = {path: size for path, size in weights.items() if size > FIRST_LOAD_BUDGET}
    assert heavy == {}, f"over {FIRST_LOAD_BUDGET // 1024} KB on a first visit: {heavy}"
    page = browser_for(browser, base, people["resident"])
    page.goto(base + "/feedback/mine")
    fits_a_phone(page, "my feedback")
