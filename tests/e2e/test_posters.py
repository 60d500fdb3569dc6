"""QR posters end to end: an admin makes a street-light poster, a resident opens its QR code's URL on a phone, finds
the place filled in and sends a report; the posters dashboard then shows one scan and one report. Also the admin
page that issues Open311 API keys. Every page gets an axe-core check."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from webapp.accounts.models import Role
from webapp.db import db

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"
# A real phone browser: headless Chromium's own user agent is (rightly) not counted as a scan.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2217A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)


def phone(browser: Browser, base: str, number: str) -> Page:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        user_agent=PHONE_UA,
        service_workers="allow",
    )
    page = context.new_page()
    log_in(page, base, number)
    return page


def poster_row(page: Page, code: str):  # type: ignore[no-untyped-def]
    return page.locator(f"tr[data-poster='{code}']")


def test_poster_scan_to_report_is_counted(browser: Browser, page: Page, live_server, app):
    base = live_server.url
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700005001")
        resident = make_user(Role.CITIZEN, phone="13700005002")
        db.session.commit()

    # The admin makes a street-light poster.
    log_in(page, base, admin.phone)
    page.goto(base + "/admin/posters")
    assert_accessible(page, "posters dashboard (empty)")
    page.locator("a[href='/admin/posters/new']").first.click()
    expect(page).to_have_url(base + "/admin/posters/new")
    assert_accessible(page, "new poster form")
    page.locator("#kind").select_option("streetlight")
    page.locator("#label").fill("LD-0789")
    page.locator("#asset_id").fill("LD-0789")
    page.locator("#lat").fill("37.8602")
    page.locator("#lon").fill("112.5183")
    page.locator("form.poster-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/posters/\d+/print$"))
    expect(page.locator(".qr-box svg")).to_be_visible()
    expect(page.locator(".place")).to_have_text("LD-0789")
    assert_accessible(page, "printable poster")
    qr_url = page.locator(".qr-box").get_attribute("data-url")
    assert qr_url and re.fullmatch(re.escape(base) + r"/p/[a-z0-9]{8}", qr_url), qr_url
    code = qr_url.rsplit("/", 1)[1]
    page.goto(page.url + "?size=sticker")
    expect(page.locator(".sheet-sticker .qr-box svg")).to_be_visible()
    assert_accessible(page, "sticker")
    page.goto(base + "/admin/posters")
    expect(poster_row(page, code).locator(".scans")).to_have_text("0")

    # A resident scans it with a phone: the report form opens with the place filled in.
    resident_page = phone(browser, base, resident.phone)
    resident_page.goto(qr_url)
    expect(resident_page).to_have_url(re.compile(r"/reports/new\?"))
    expect(resident_page.locator("#poster-note")).to_contain_text("LD-0789")
    expect(resident_page.locator("input[name=poster]")).to_have_value(code)
    expect(resident_page.locator("input[name=lat]")).to_have_value("37.860200")
    expect(resident_page.locator("input[name=lon]")).to_have_value("112.518300")
    expect(resident_page.locator("#location-status")).to_contain_text("37.860200")
    assert_accessible(resident_page, "report form from a poster")
    resident_page.locator("#photo-1").set_input_files(str(IMAGES / "flower.jpg"))
    resident_page.get_by_text("路灯照明").click()
    resident_page.get_by_label("路灯", exact=True).check()
    resident_page.locator("#description").fill("路灯晚上不亮")
    resident_page.get_by_role("button", name="发送报告").click()
    # Saved on the phone, then sent by the outbox, which carries the poster code along.
    resident_page.locator("#sent-list a").first.click()
    expect(resident_page.locator(".status").first).to_have_text("待审核")
    resident_page.context.close()

    # The dashboard: one scan, one report.
    page.reload()
    row = poster_row(page, code)
    expect(row.locator(".scans")).to_have_text("1")
    expect(row.locator(".reports")).to_have_text("1")
    assert_accessible(page, "posters dashboard")


def test_admin_issues_and_revokes_an_open311_key(page: Page, live_server, app):
    base = live_server.url
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700005003")
        db.session.commit()
    log_in(page, base, admin.phone)
    page.goto(base + "/admin/api-keys")
    assert_accessible(page, "API keys (empty)")
    page.locator("#name").fill("区级 App")
    page.locator("form.api-key-form button[type=submit]").click()
    key = page.locator("#new-key").input_value()
    assert re.fullmatch(r"cg311_[0-9a-f]{8}_[0-9a-f]{64}", key)
    assert_accessible(page, "API key issued")
    prefix = key.split("_")[1]
    page.locator(f"tr[data-key='{prefix}'] form button[type=submit]").click()
    expect(page.locator(f"tr[data-key='{prefix}'] form")).to_have_count(0)
    expect(page.locator("#new-key")).to_have_count(0)
    assert_accessible(page, "API key revoked")
