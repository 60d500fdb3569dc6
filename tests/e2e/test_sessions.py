"""Sessions in real browsers: an admin ends a reviewer's sessions from /admin/staff (axe-checked) and the
reviewer's browser is logged out at its next request; a resident's password change logs out their other phone;
the demo band is on every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import PASSWORD, make_user
from webapp.accounts.models import Role
from webapp.db import db


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13900000061", name="督办 孙")
        reviewer = make_user(Role.REVIEWER, phone="13900000062", name="审核 李")
        resident = make_user(Role.CITIZEN, phone="13900000063", name="王阿姨")
        db.session.commit()
        phones = {"admin": admin.phone, "reviewer": reviewer.phone, "resident": resident.phone}
        return {**phones, "reviewer_id": reviewer.id}


def browser_page(browser: Browser, base: str, phone: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", service_workers="block")
    page = context.new_page()
    log_in(page, base, phone, PASSWORD)
    return page


def test_an_admin_ends_a_reviewers_sessions(browser, live_server, people):
    base = live_server.url
    reviewer = browser_page(browser, base, people["reviewer"])
    reviewer.goto(base + "/review/")
    expect(reviewer.locator("#main")).to_be_visible()
    assert reviewer.url.startswith(base + "/review/")

    admin = browser_page(browser, base, people["admin"])
    expect(admin.locator(".demo-band")).to_be_visible()  # make run's pages say they are the demo
    admin.locator("nav .nav-more summary").click()  # staff pages beyond the main items are under "More"
    admin.locator("nav a[href='/admin/staff']").click()
    admin.wait_for_url(base + "/admin/staff")
    row = admin.locator(f"#staff-{people['reviewer_id']}")
    expect(row.locator("button[type=submit]")).to_be_visible()
    assert_accessible(admin, "staff sessions")
    row.locator("button[type=submit]").click()
    admin.wait_for_url(base + "/admin/staff")
    expect(admin.locator(".flash-success")).to_be_visible()
    expect(row.locator("button[type=submit]")).to_have_count(0)  # no live session left
    assert_accessible(admin, "staff sessions after ending")

    reviewer.goto(base + "/review/")
    reviewer.wait_for_url(lambda url: "/login" in url)  # logged out, sent to log in


def test_a_password_change_logs_out_the_other_phone(browser, live_server, people):
    base = live_server.url
    phone, laptop = browser_page(browser, base, people["resident"]), browser_page(browser, base, people["resident"])
    laptop.goto(base + "/me/profile")
    laptop.locator("#pw-current_password").fill(PASSWORD)
    laptop.locator("#pw-new_password").fill("a-new-password-9")
    laptop.locator("#pw-new_password").press("Enter")
    laptop.wait_for_url(base + "/me/profile")
    expect(laptop.locator(".flash-success")).to_be_visible()
    phone.goto(base + "/me/profile")
    phone.wait_for_url(lambda url: "/login" in url)
    laptop.goto(base + "/me/reports")
    assert laptop.url == base + "/me/reports"  # the browser that changed it stays logged in
