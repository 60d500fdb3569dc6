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


def _campaign(app) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from webapp.campaigns import services as campaign_pages
    from webapp.localtime import today
    from webapp.points.campaigns import create_campaign

    admin = make_user(Role.ADMIN)
    campaign = create_campaign(
        admin,
        name="长风西社区垃圾满溢专项整治（第二轮，两周）",
        categories="06042 06010",
        starts_on=today(),
        ends_on=today() + timedelta(days=13),
        multiplier=2,
        budget_points=500,
    )
    campaign_pages.set_published(admin, campaign, True)


def test_the_camera_step_is_on_the_first_screen_with_normal_and_large_text(page: Page, live_server, app):
    with app.app_context():
        resident = make_user(Role.CITIZEN, phone="13700006666")
        _campaign(app)
        db.session.commit()
    log_in(page, live_server.url, resident.phone)
    for large in (False, True):
        if large:
            page.locator("footer button[name=large_text][value=on]").click()
            expect(page.locator("html.large-text")).to_have_count(1)
        page.goto(live_server.url + "/reports/new")
        tops = page.locator("ul.nav > li:visible").evaluate_all("items => items.map(li => li.offsetTop)")
        assert len(set(tops)) == 1, f"the menu wraps (large text: {large}): {tops}"
        summary = page.locator(".cp-fold summary")
        box = summary.bounding_box()
        line = summary.evaluate("s => parseFloat(getComputedStyle(s).lineHeight)")
        assert box is not None and box["height"] < 2 * line + 24, "the campaign notice takes more than one line"
        camera = page.locator("#photo-1").bounding_box()
        assert camera is not None and camera["y"] + camera["height"] <= 740, f"camera step below the fold: {camera}"
        assert_accessible(page, f"report form, large text {large}")
    page.get_by_text("更多").click()
    expect(page.get_by_role("link", name="积分商城")).to_be_visible()
    page.get_by_role("link", name="积分商城").click()
    expect(page).to_have_url(live_server.url + "/store")


def test_the_map_and_the_category_search_say_what_to_do_without_a_network(page: Page, context, live_server, app):
    page.goto(live_server.url + "/reports/new")
    expect(page.locator("#category-offline")).to_be_hidden()
    context.set_offline(True)
    page.locator("#category-search").fill("路灯")
    expect(page.locator("#category-offline")).to_be_visible()
    expect(page.locator("#category-offline")).to_contain_text("从下面的分类中选择")
    context.set_offline(False)
    page.locator("#category-search").fill("路灯不亮")
    expect(page.locator("#category-offline")).to_be_hidden()
    expect(page.locator("#category-results")).to_contain_text("路灯")

    # A map service that answers nothing: the grey box gets words.
    old = app.config["MAP_TILE_URL"]
    app.config["MAP_TILE_URL"] = live_server.url + "/no-such-tiles/{z}/{x}/{y}.png"
    try:
        page.goto(live_server.url + "/reports/new")
        expect(page.locator("#map-hint")).to_be_hidden()
        page.get_by_role("button", name="在地图上标记位置").click()
        expect(page.locator("#map-hint")).to_be_visible()
        expect(page.locator("#map-hint")).to_contain_text("地址")
        assert_accessible(page, "report form with the map hint")
    finally:
        app.config["MAP_TILE_URL"] = old


def _cases(app, n: int = 2) -> list[int]:  # type: ignore[no-untyped-def]
    from tests.factories import make_report
    from tests.unit.cases import make_grid

    grid = make_grid("140109001001031")
    grid.street_name, grid.community_name, grid.name = "千峰街道", "长风西社区", "长风西社区031号网格"
    return [
        make_report(category_code="06042", lat=37.8601, lon=112.5180, address="千峰南路与长风西大街路口 东北角").id
        for _ in range(n)
    ]


def test_the_reviewers_case_page_uses_the_desk_width(browser, live_server, app):
    with app.app_context():
        reviewer = make_user(Role.REVIEWER, phone="13700007777")
        first, second = _cases(app)
        db.session.commit()
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server.url, reviewer.phone)
    page.goto(live_server.url + "/review/")
    thumbs = page.locator("table.queue td.queue-thumb img")
    expect(thumbs).to_have_count(2)
    assert_accessible(page, "review queue at a desk")
    page.locator("[data-case-link]").first.click()
    evidence = page.locator(".case-evidence").bounding_box()
    work = page.locator(".case-work").bounding_box()
    assert evidence and work and work["x"] >= evidence["x"] + evidence["width"], "photos and actions side by side"
    assert abs(work["y"] - evidence["y"]) < 5
    expect(page.locator("#case-map")).to_be_visible()
    expect(page.locator("#case-map .leaflet-marker-icon")).to_be_visible()
    assert_accessible(page, "case page at a desk")
    here = page.url
    page.keyboard.press("n")  # the next case, one key away
    page.wait_for_url(lambda url: url != here)
    expect(page.locator("h1")).to_contain_text("#")
    context.close()


def test_staff_pages_are_readable_on_a_phone(page: Page, live_server, app):
    with app.app_context():
        reviewer = make_user(Role.REVIEWER, phone="13700008888")
        _cases(app, 3)
        db.session.commit()
    log_in(page, live_server.url, reviewer.phone)
    page.goto(live_server.url + "/review/")
    place = page.locator("table.queue tbody tr").first.locator("td").nth(4)
    box = place.bounding_box()
    assert box is not None and box["width"] > 250, f"the place column is too narrow on a phone: {box}"
    expect(page.locator("#case-map")).to_have_count(0)
    assert_accessible(page, "review queue on a phone")
    page.goto(live_server.url + "/dashboard/")
    expect(page.locator("#panel-hotspots")).not_to_have_attribute("aria-busy", "true")
    label = page.locator("#chart-places text").first
    expect(label).to_have_count(1)
    size = label.evaluate("t => t.getBoundingClientRect().height")
    assert size >= 10, f"chart labels are {size:.1f} px high"
    assert label.text_content().endswith("长风西社区031号网格") or "031号网格" in (label.text_content() or "")
    assert "千峰街道" in (label.locator("title").text_content() or "")
