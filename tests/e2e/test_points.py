"""Points in real browsers: a resident earns points for an accepted report, redeems them in the store, staff at a
service point hand the goods over with the pickup code, and the fund's reconciliation for the period balances.

Setting up the shop (an item bought with the fund) is done with the services; every step of the flow itself goes
through the pages. Selectors are ids, classes and URLs rather than words, so the test holds in either language.
The resident's points pages are also checked on a 360 px phone: nothing wider than the screen, and a first visit
(empty cache) stays under the 60 KB budget.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.e2e.test_lifecycle import browser_for, report_problem
from tests.factories import PASSWORD, make_user
from webapp import localtime
from webapp.accounts.models import Department, Role
from webapp.db import db
from webapp.points import awards, fund, rules, store
from webapp.points.models import StoreItem
from webapp.review.models import RoutingRule

FIRST_LOAD_BUDGET = 60 * 1024


@pytest.fixture
def shop(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        sanitation = Department(code="HW", name_zh="万柏林区环卫中心", district_code="140109")
        service_point = Department(code="FWZ", name_zh="兴华街社区服务站", district_code="140109", service_point=True)
        db.session.add_all([sanitation, service_point])
        db.session.flush()
        db.session.add(RoutingRule(group_code="D", department_id=sanitation.id))
        resident = make_user(Role.CITIZEN, phone="13900000011", name="王阿姨", public=True)
        reviewer = make_user(Role.REVIEWER, phone="13900000012", name="审核员 张")
        staff = make_user(Role.DEPARTMENT, phone="13900000013", name="服务站 周")
        staff.department = service_point
        admin = make_user(Role.ADMIN, phone="13900000015", name="督办 孙")
        line = fund.add_budget_line(admin, name="积分兑换专项", source="财政专项", amount_fen=500_000, year=2026)
        # A valid report of an overflowing bin earns the base points: the soap costs exactly that.
        price = rules.effective()["report_points"]
        soap = StoreItem(name_zh="洗洁精", name_en="Dish soap", points_price=price, cost_fen=350, stock=0)
        db.session.add(soap)
        db.session.flush()
        store.purchase(soap, admin, quantity=3, cost_fen=1050, budget_line=line, note="发票 2026-001")
        db.session.commit()
        return {
            "resident": resident.phone,
            "reviewer": reviewer.phone,
            "staff": staff.phone,
            "admin": admin.phone,
            "item": soap.id,
            "price": price,
        }


def wide_page(browser: Browser, base: str, phone: str) -> Page:
    """Staff and admins work at a desk."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", service_workers="block")
    page = context.new_page()
    log_in(page, base, phone)
    return page


def assert_fits_a_phone(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what} is {width}px wide on a 360px screen"


def first_load_bytes(browser: Browser, base: str, path: str, phone: str) -> int:
    """What a first visit to the page costs on the network (empty cache): headers plus compressed bodies."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", service_workers="block")
    token = context.request.get(base + "/api/v1/csrf").json()["csrf_token"]
    answer = context.request.post(
        base + "/api/v1/session", data={"phone": phone, "password": PASSWORD}, headers={"X-CSRFToken": token}
    )
    assert answer.ok, answer.text()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: dict[str, int] = {}
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    page.goto(base + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    context.close()
    return sum(sizes.values())


def test_earn_redeem_hand_over_and_reconcile(browser, live_server, shop):
    base = live_server.url

    # The resident reports an overflowing bin; a reviewer opens the case (立案), which pays the points.
    resident = browser_for(browser, base, shop["resident"])
    report_id = report_problem(resident, base, "垃圾与环境卫生", "垃圾站（箱）满溢", "兴华街 菜市场 东口")
    reviewer = browser_for(browser, base, shop["reviewer"])
    reviewer.goto(f"{base}/review/{report_id}")
    reviewer.get_by_role("button", name="立案并派遣 (a)").click()
    expect(reviewer.locator(".flash-success")).to_contain_text(f"#{report_id}")

    # The resident sees the points and where they came from.
    resident.goto(f"{base}/points")
    expect(resident.locator(".balance-value")).to_have_text(str(shop["price"]))
    expect(resident.locator(".points-table")).to_contain_text(f"#{report_id}")
    assert_fits_a_phone(resident, "my points")
    assert_accessible(resident, "my points")

    # The store, the item, the redemption: the order page shows the pickup code and its QR code.
    resident.goto(f"{base}/store")
    assert_fits_a_phone(resident, "the store")
    assert_accessible(resident, "store")
    resident.locator(f".store-card a[href$='/store/{shop['item']}']").click()
    expect(resident.locator(".redeem-form")).to_be_visible()
    assert_fits_a_phone(resident, "the item page")
    assert_accessible(resident, "store item")
    resident.locator(".redeem-form button[type=submit]").click()
    resident.wait_for_url(re.compile(r"/store/orders/\d+$"))
    order_url = resident.url
    expect(resident.locator(".flash-success")).to_be_visible()
    expect(resident.locator(".status-order-waiting")).to_be_visible()
    expect(resident.locator("svg.qr")).to_be_visible()
    code = re.sub(r"\D", "", resident.locator(".pickup-code").inner_text())
    assert len(code) == 8
    assert_fits_a_phone(resident, "the order page")
    assert_accessible(resident, "order")
    resident.goto(f"{base}/points")
    expect(resident.locator(".balance-value")).to_have_text("0")

    # At the service point: the staff member types the code (as read out by the resident) and hands the soap over.
    staff = wide_page(browser, base, shop["staff"])
    staff.goto(f"{base}/admin/points/handover")
    staff.locator("#pickup-code").fill(f"{code[:4]} {code[4:]}")
    staff.locator("#code-form button[type=submit]").click()
    expect(staff.locator("#order-title")).to_contain_text(code)
    assert_accessible(staff, "hand-over with the order found")
    staff.locator("#order-panel form[action$='/handover/" + order_url.rsplit("/", 1)[1] + "'] button").click()
    expect(staff.locator(".flash-success")).to_contain_text("洗洁精")
    # The same code again is refused: the order was already handed over.
    staff.locator("#pickup-code").fill(code)
    staff.locator("#code-form button[type=submit]").click()
    expect(staff.locator("#order-panel .alert-error")).to_be_visible()
    expect(staff.locator("#order-panel form")).to_have_count(0)

    resident.goto(order_url)
    expect(resident.locator(".status-order-handed_over")).to_be_visible()

    # The supervisor opens this month's reconciliation: balanced to the fen, the soap's cost charged to the fund.
    admin = wide_page(browser, base, shop["admin"])
    today = localtime.local_date(awards.utcnow()).isoformat()
    admin.goto(f"{base}/admin/points/fund?start={today}&end={today}")
    expect(admin.locator(".pa-result")).to_have_class(re.compile(r"alert-ok"))
    expect(admin.locator(".pa-mismatches")).to_have_count(0)
    expect(admin.locator(".pa-mismatch")).to_have_count(0)
    expect(admin.locator(".pa-sums").nth(1)).to_contain_text("¥3.50")
    assert_accessible(admin, "reconciliation")
    with admin.expect_download() as download:
        admin.locator("a[href*='reconciliation.csv']").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "result,balanced,yes" in text and "money,charged_to_fund_yuan,3.50" in text


def test_the_residents_points_pages_are_light_on_a_phone(browser, live_server, shop):
    base = live_server.url
    phone = shop["resident"]
    pages = ["/store", f"/store/{shop['item']}", "/store/orders", "/points"]
    weights = {path: first_load_bytes(browser, base, path, phone) for path in pages}
    heavy = {path: size for path, size in weights.items() if size > FIRST_LOAD_BUDGET}
    assert heavy == {}, f"over {FIRST_LOAD_BUDGET // 1024} KB on a first visit: {heavy}"
    page = browser_for(browser, base, phone)
    for path in pages:
        page.goto(base + path)
        assert_fits_a_phone(page, path)
