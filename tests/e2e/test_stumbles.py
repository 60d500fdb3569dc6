"""Places where people stumbled, walked through again in Chromium (360×740 unless a test says otherwise)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from webapp.accounts.models import Role
from webapp.db import db

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


def test_the_volunteers_report_and_fix_has_the_place_step(page: Page, context, live_server, app):
    with app.app_context():
        volunteer = make_user(Role.VOLUNTEER, phone="13700005555")
        db.session.commit()
    context.grant_permissions(["geolocation"], origin=live_server.url)
    context.set_geolocation({"latitude": 37.86015, "longitude": 112.51805, "accuracy": 12})
    log_in(page, live_server.url, volunteer.phone)
    page.goto(live_server.url + "/volunteer/fix")
    page.get_by_role("button", name="使用我的位置").click()
    expect(page.locator("#location-status")).to_contain_text("37.86015")
    expect(page.locator("#fix-form input[name=location_source]")).to_have_value("gps")
    page.get_by_role("button", name="在地图上标记位置").click()
    expect(page.locator("#map")).to_be_visible()
    assert_accessible(page, "report and fix with the map open")

    page.locator("#fix-category").select_option("06010")
    page.locator("#fix-before").set_input_files(str(IMAGES / "flower.jpg"))
    page.locator("#fix-after").set_input_files(str(IMAGES / "flower.jpg"))
    page.get_by_role("button", name="提交核查").click()
    expect(page.locator("h1")).to_contain_text("#")  # sent with the phone's position, no address typed
