"""A resident's first online report, in a real Chromium on a 360×740 phone screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_accessible, dev_sms_code, log_in
from tests.factories import make_report, make_user
from webapp.db import db

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"

TEXT = {
    "zh": {
        "send_code": "发送验证码",
        "create": "创建我的账户",
        "report": "上报",
        "search": "搜索",
        "send": "发送报告",
        "pending": "待审核",
        "mine": "我的报告",
        "lang": "zh-Hans",
        "saved": "已保存在这部手机上",
    },
    "en": {
        "send_code": "Send code",
        "create": "Create my account",
        "report": "Report",
        "search": "Search",
        "send": "Send report",
        "pending": "Awaiting review",
        "mine": "My reports",
        "lang": "en",
        "saved": "Saved on this phone",
    },
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_register_report_with_photo_and_address_then_find_it(page: Page, live_server, language):
    t = TEXT[language]
    page.goto(live_server.url + "/register")
    if language == "en":
        page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", t["lang"])
    assert_accessible(page, "register")

    page.locator("#phone").fill("13700001111" if language == "zh" else "13700002222")
    page.get_by_role("button", name=t["send_code"]).click()
    page.locator("#code").fill(dev_sms_code(page))
    page.locator("#password").fill("a-good-password")
    page.locator("#display_name").fill("王阿姨")
    page.get_by_role("button", name=t["create"]).click()
    expect(page.get_by_role("link", name=t["mine"], exact=True)).to_be_visible()
    assert_accessible(page, "home")

    page.get_by_role("link", name=t["report"], exact=True).click()
    expect(page).to_have_url(live_server.url + "/reports/new")
    assert_accessible(page, "report form")
    page.locator("#photo-1").set_input_files(str(IMAGES / "flower.jpg"))
    expect(page.locator(".photo-slot .preview").first).to_be_visible()
    page.locator("#category-search").fill("垃圾满" if language == "zh" else "overflowing")
    page.locator("#category-results input[value='06042']").check()
    expect(page.locator("#category-chosen")).not_to_be_empty()
    page.locator("#address").fill("千峰南路与长风西大街路口 东北角")
    page.locator("#description").fill("垃圾箱满了，堆到了地上")
    page.get_by_role("button", name=t["send"]).click()

    # Saved on the phone first, then sent by the outbox; the confirmation links to the report.
    expect(page.locator("#saved-note")).to_contain_text(t["saved"])
    page.locator("#sent-list a").first.click()
    expect(page.locator("h1")).to_contain_text("#")
    expect(page.locator(".status")).to_have_text(t["pending"])
    expect(page.get_by_text("千峰南路与长风西大街路口 东北角")).to_be_visible()
    photo = page.locator(".photos img").first
    expect(photo).to_be_visible()  # laid out from its width and height before its bytes arrive: wait for them
    photo.evaluate("img => img.complete || new Promise(done => { img.onload = img.onerror = done; })")
    assert photo.evaluate("img => img.naturalWidth") > 0
    assert_accessible(page, "report page")
    report_url = page.url

    page.get_by_role("link", name=t["mine"], exact=True).click()
    expect(page.locator(f"a[href='{report_url.removeprefix(live_server.url)}']")).to_be_visible()
    assert_accessible(page, "my reports")

    page.goto(live_server.url + "/reports")
    expect(page.locator(f"a[href='{report_url.removeprefix(live_server.url)}']")).to_be_visible()
    assert_accessible(page, "report list")


def test_position_from_the_phone_shows_nearby_reports_and_me_too(page: Page, context, live_server, app):
    with app.app_context():
        existing = make_report(category_code="06042", lat=37.86010, lon=112.51800, address="已有的那份")
        resident = make_user(phone="13700003333")
        db.session.commit()
        existing_id = existing.id
    context.grant_permissions(["geolocation"], origin=live_server.url)
    context.set_geolocation({"latitude": 37.86015, "longitude": 112.51805, "accuracy": 12})

    log_in(page, live_server.url, resident.phone)
    page.goto(live_server.url + "/reports/new")
    page.get_by_text("垃圾与环境卫生").click()
    page.get_by_label("垃圾站（箱）满溢").check()
    page.get_by_role("button", name="使用我的位置").click()
    expect(page.locator("#location-status")).to_contain_text("37.86015")
    nearby = page.locator("#nearby")
    expect(nearby).to_contain_text(f"#{existing_id}")
    assert_accessible(page, "report form with nearby reports")
    nearby.get_by_role("button", name="我也遇到了").click()
    expect(nearby).to_contain_text(f"#{existing_id}")
    expect(nearby.get_by_role("status")).to_be_visible()
    page.goto(live_server.url + "/me/reports")
    expect(page.locator(f"a[href='/reports/{existing_id}']")).to_be_visible()


def test_pin_on_a_map_without_tiles(page: Page, live_server, app):
    page.goto(live_server.url + "/reports/new")
    page.get_by_role("button", name="在地图上标记位置").click()
    map_box = page.locator("#map")
    expect(map_box).to_be_visible()
    expect(page.locator("#location-status")).to_contain_text("没有可用的地图底图")
    map_box.click(position={"x": 60, "y": 60})
    expect(page.locator("input[name=location_source]")).to_have_value("map")
    assert page.locator("input[name=lat]").input_value() != ""


def test_form_works_without_javascript(browser, live_server, app):
    with app.app_context():
        resident = make_user(phone="13700004444")
        db.session.commit()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server.url, resident.phone)
    page.goto(live_server.url + "/reports/new")
    page.locator("#photo-1").set_input_files(str(IMAGES / "hopper_orientation_6.jpg"))
    page.get_by_text("路灯照明").click()
    page.get_by_label("路灯", exact=True).check()
    page.locator("#address").fill("和平北路 兴华小区 东门")
    page.get_by_role("button", name="发送报告").click()
    expect(page.locator(".status")).to_have_text("待审核")
    context.close()
