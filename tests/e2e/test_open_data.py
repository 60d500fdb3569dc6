"""Open data and campaigns in real browsers.

Open data: the page works on a 360 px phone, its list filters with htmx, the map draws the reports without any
map tiles, and both downloads work. Campaigns: an admin opens the campaign form from a hotspot link (prefilled),
creates the campaign, and a resident finds it on the home page and follows its cases. axe checks every page.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from tests.unit.cases import RUBBISH, make_case, make_grid
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.localtime import local_date
from webapp.opendata.services import FIELDS
from webapp.reports.status import ReportStatus

GRID = "140109001001001"
NOISE = "06028"  # sensitive: shown coarsened


def phone_page(browser: Browser) -> Page:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True,
        service_workers="block", accept_downloads=True,
    )  # fmt: skip
    return context.new_page()


def assert_fits_a_phone(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what} is {width}px wide on a 360px screen"


@pytest.fixture
def city(app):  # type: ignore[no-untyped-def]
    """A grid with cases in several states, and an admin."""
    with app.app_context():
        make_grid(GRID)
        now = utcnow()
        for n in range(12):
            make_case(status=ReportStatus.DISPATCHED, grid_code=GRID, created_at=now - timedelta(minutes=n))
        make_case(
            status=ReportStatus.CLOSED,
            category_code="06010",
            grid_code=GRID,
            created_at=now - timedelta(hours=3),
            due_at=now,
            closed_at=now - timedelta(hours=1),
        )
        make_case(status=ReportStatus.ACCEPTED, category_code=NOISE, grid_code=GRID, address="3 栋 502")
        make_case(status=ReportStatus.ACCEPTED, category_code="06010", lat=37.8650, lon=112.5250, address="长风西大街")
        admin = make_user(Role.ADMIN, phone="13700000025")
        db.session.commit()
        return {"admin": admin.phone}


def test_open_data_on_a_phone(browser, live_server, city):
    base = live_server.url
    page = phone_page(browser)
    page.goto(base + "/")
    page.locator("a[href='/open-data']").first.click()
    page.wait_for_url(base + "/open-data")
    expect(page.locator(".od-stats dd")).to_have_count(4)
    expect(page.locator(".od-item")).to_have_count(15)
    expect(page.locator(".count")).to_contain_text("15")
    assert "3 栋 502" not in page.locator("#od-results").inner_text()  # the sensitive one has no address
    assert_fits_a_phone(page, "the open data page")
    assert_accessible(page, "open data")

    # Filter to one category: htmx swaps the list and the download links, and the URL follows.
    page.locator("#od-category").select_option("06010")
    page.locator(".od-filters button[type=submit]").click()
    expect(page.locator(".od-item")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"category=06010"))
    expect(page.locator(".od-downloads a[href*='reports.csv']")).to_have_attribute("href", re.compile("category=06010"))

    # The map works without any map tiles (the test server has none): dots for the reports, and a note.
    page.locator("#od-show-map").click()
    expect(page.locator("#od-map")).to_be_visible()
    expect(page.locator("#od-map-status")).to_contain_text("2")
    expect(page.locator("#od-map path.leaflet-interactive")).to_have_count(2)
    assert_fits_a_phone(page, "the open data page with its map")

    # Both downloads, with the filter.
    with page.expect_download() as csv_download:
        page.locator(".od-downloads a[href*='reports.csv']").click()
    body = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert tuple(rows[0]) == FIELDS and [r["category_code"] for r in rows] == ["06010", "06010"]
    assert csv_download.value.suggested_filename == "citizen-grid-reports.csv"
    with page.expect_download() as json_download:
        page.locator(".od-downloads a[href*='reports.json']").click()
    data = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert data["fields"] == list(FIELDS) and len(data["reports"]) == 2

    # The field list and licence.
    page.locator("a[href='/open-data/schema']").first.click()
    expect(page.locator(".od-fields tbody tr")).to_have_count(len(FIELDS))
    assert_fits_a_phone(page, "the schema page")
    assert_accessible(page, "open data schema")
    page.context.close()


def test_a_campaign_from_a_hotspot(browser, live_server, city):
    base = live_server.url
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", service_workers="block")
    admin = desk.new_page()
    log_in(admin, base, city["admin"])
    today = local_date(utcnow())
    start, end = today - timedelta(days=14), today - timedelta(days=1)

    # The dashboard's hotspot link: the form comes prefilled.
    admin.goto(f"{base}/admin/points/campaigns?grid={GRID}&category={RUBBISH}&start={start}&end={end}")
    expect(admin.locator("#hotspot-note")).to_be_visible()
    expect(admin.locator("#places")).to_have_value(GRID)
    expect(admin.locator("#categories")).to_have_value(RUBBISH)
    expect(admin.locator("#starts_on")).to_have_value(today.isoformat())
    expect(admin.locator("#ends_on")).to_have_value((today + timedelta(days=13)).isoformat())
    expect(admin.locator("#multiplier")).to_have_value("2")
    assert admin.locator("#name").input_value()
    assert_accessible(admin, "campaign form from a hotspot")
    admin.locator("#name").fill("长风西垃圾满溢专项整治")
    admin.locator("form[action$='/admin/points/campaigns'] button[type=submit]").click()
    expect(admin.locator(".flash-success")).to_contain_text("长风西垃圾满溢专项整治")
    admin.locator(".cp-publish a").first.click()
    campaign_url = admin.url
    assert re.search(r"/campaigns/\d+$", campaign_url)
    desk.close()

    # A resident on a phone finds it on the home page, reads it and follows its cases.
    page = phone_page(browser)
    page.goto(base + "/")
    page.locator(".cp-home a.card-title").first.click()
    expect(page.locator("h1")).to_have_text("长风西垃圾满溢专项整治")
    expect(page.locator(".cp-points")).to_contain_text("×2")
    expect(page.locator(".od-stats dd").first).to_have_text("12")  # the 12 bins reported today
    expect(page.locator("svg.cp-outline path")).to_have_count(1)
    expect(page.locator("svg.cp-bar rect")).to_have_count(1)
    expect(page.locator("#cp-cases .od-item")).to_have_count(10)
    assert_fits_a_phone(page, "the campaign page")
    assert_accessible(page, "campaign page")
    page.locator("#cp-cases .pager a[rel=next]").click()
    expect(page.locator("#cp-cases .od-item")).to_have_count(2)
    page.locator("#cp-cases .od-item a").first.click()
    expect(page).to_have_url(re.compile(r"/reports/\d+$"))
    page.goto(base + "/campaigns")
    expect(page.locator(".cp-item")).to_have_count(1)
    assert_accessible(page, "campaign list")
    page.context.close()
