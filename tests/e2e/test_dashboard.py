"""A supervisor reads the dashboard in a real browser: panels load on their own, filters update them and the URL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from tests.unit.cases import LITTER, RUBBISH, make_case, make_department, make_grid
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.reports.status import ReportStatus

GRID_A, GRID_B = "140109001001001", "140109002001001"


@pytest.fixture
def supervisor(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        department = make_department("HW")
        make_grid(GRID_A, lat=37.86, lon=112.518)
        make_grid(GRID_B, lat=37.861, lon=112.519)
        resident = make_user()
        now = utcnow()
        for days, grid, category in [
            (3, GRID_A, RUBBISH),
            (10, GRID_A, RUBBISH),
            (12, GRID_B, LITTER),
            (20, GRID_B, RUBBISH),
        ]:
            case = make_case(resident, created_at=now - timedelta(days=days), grid_code=grid, category_code=category)
            case.status, case.department_id = ReportStatus.CLOSED, department.id
            case.accepted_at = case.dispatched_at = case.created_at + timedelta(hours=1)
            case.due_at, case.closed_at = case.created_at + timedelta(days=2), case.created_at + timedelta(days=1)
        admin = make_user(Role.ADMIN, name="指挥中心")  # a fixed number could meet one the factory hands out
        db.session.commit()
        return admin.phone


def test_supervisor_filters_the_dashboard(browser: Browser, live_server, supervisor):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", service_workers="block")
    page = context.new_page()
    log_in(page, base, supervisor)
    page.goto(base + "/dashboard/")
    for name in ("hotspots", "peaks", "handling", "participation"):
        expect(page.locator(f"#panel-{name}")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#panel-hotspots table.dash-data").first).to_contain_text("3")
    expect(page.locator("#chart-map path")).to_have_count(2)
    assert_accessible(page, "dashboard")

    # A street: the panels reload for it and the address bar keeps the filter.
    page.locator("#f-street").select_option("140109002")
    expect(page).to_have_url(re.compile(r"street=140109002"))
    expect(page.locator("#panel-hotspots")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#chart-map path")).to_have_count(1)
    expect(page.locator("#panel-hotspots")).to_contain_text(GRID_B)
    expect(page.locator("#panel-hotspots")).not_to_contain_text(GRID_A)

    # Dates: only the last week leaves nothing in street 002.
    page.locator("#f-street").select_option("")
    page.locator("#f-start").fill((utcnow() - timedelta(days=5)).date().isoformat())
    page.locator("#f-start").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"start=\d{4}-\d\d-\d\d"))
    expect(page.locator("#panel-participation dd").nth(2)).to_have_text("1")  # one report sent online

    # The table behind a chart, and the way back through history.
    page.locator("#panel-peaks summary").first.click()
    expect(page.locator("#panel-peaks details table").first).to_be_visible()
    assert_accessible(page, "dashboard with filters")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/dashboard/"))

    # The printable weekly report.
    page.goto(base + "/dashboard/reports/weekly")
    expect(page.locator("table.periodic-figures")).to_be_visible()
    assert_accessible(page, "weekly report")
    context.close()
