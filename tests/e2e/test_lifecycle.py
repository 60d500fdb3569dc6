"""One report through its whole life in real browsers: resident, reviewer and department (and a volunteer)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from webapp.accounts.models import Department, Role, User
from webapp.db import db
from webapp.reports.status import ReportStatus
from webapp.review.models import RoutingRule

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        department = Department(code="HW", name_zh="万柏林区环卫中心", district_code="140109")
        db.session.add(department)
        db.session.flush()
        db.session.add(RoutingRule(group_code="D", department_id=department.id))
        resident = make_user(Role.CITIZEN, phone="13900000001", name="王阿姨", public=True)
        reviewer = make_user(Role.REVIEWER, phone="13900000002", name="审核员 张")
        staff = make_user(Role.DEPARTMENT, phone="13900000003", name="环卫 刘")
        staff.department = department
        volunteer = make_user(Role.VOLUNTEER, phone="13900000004", name="志愿者 李")
        db.session.commit()
        return {
            "resident": resident.phone,
            "reviewer": reviewer.phone,
            "staff": staff.phone,
            "volunteer": volunteer.phone,
        }


def browser_for(browser: Browser, base: str, phone: str) -> Page:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True, service_workers="block"
    )
    page = context.new_page()
    log_in(page, base, phone)
    return page


def report_problem(page: Page, base: str, group: str, category: str, address: str) -> str:
    page.goto(base + "/reports/new")
    page.locator("#photo-1").set_input_files(str(IMAGES / "flower.jpg"))
    page.get_by_text(group, exact=True).click()
    page.get_by_label(category, exact=True).check()
    page.locator("#address").fill(address)
    page.get_by_role("button", name="发送报告").click()
    page.locator("#sent-list a").first.click()
    expect(page.locator(".status").first).to_have_text("待审核")
    return page.url.rsplit("/", 1)[1]


def test_resident_reviewer_and_department_take_a_report_to_closed(browser, live_server, people):
    base = live_server.url
    resident = browser_for(browser, base, people["resident"])
    report_id = report_problem(resident, base, "垃圾与环境卫生", "垃圾站（箱）满溢", "兴华街 菜市场 东口")

    reviewer = browser_for(browser, base, people["reviewer"])
    reviewer.get_by_role("link", name="审核", exact=True).click()
    assert_accessible(reviewer, "review queue")
    reviewer.get_by_role("link", name=f"#{report_id}", exact=True).click()
    assert_accessible(reviewer, "review case")
    expect(reviewer.locator("#accept-department")).to_have_value(str(_department_id(reviewer)))
    reviewer.get_by_role("button", name="立案并派遣 (a)").click()
    expect(reviewer.locator(".flash-success")).to_contain_text(f"案件 #{report_id} 已立案")

    staff = browser_for(browser, base, people["staff"])
    staff.get_by_role("link", name="待办", exact=True).click()
    assert_accessible(staff, "department inbox")
    staff.get_by_role("link", name=f"#{report_id}").click()
    expect(staff.locator(".light")).to_have_text("正常")
    assert_accessible(staff, "department case")
    staff.get_by_role("button", name="签收案件").click()
    staff.get_by_role("button", name="开始处置").click()
    staff.locator("#result-photos").set_input_files(str(IMAGES / "flower2.jpg"))
    staff.locator("#result-note").fill("已清运，垃圾箱已清洗")
    staff.get_by_role("button", name="提交结果核查").click()
    expect(staff.locator(".status").first).to_have_text("已处置，待核查")

    reviewer.goto(f"{base}/review/?queue=check")
    reviewer.get_by_role("link", name=f"#{report_id}", exact=True).click()
    expect(reviewer.locator(".before-after img")).to_have_count(2)
    reviewer.get_by_role("button", name="已解决：结案 (c)").click()
    expect(reviewer.locator(".flash-success")).to_contain_text("已结案")

    resident.goto(f"{base}/me/notifications")
    expect(resident.locator(".notification").first).to_contain_text(f"#{report_id}")
    assert_accessible(resident, "notifications")
    resident.goto(f"{base}/reports/{report_id}")
    expect(resident.locator(".status").first).to_have_text("已结案")
    for step in ("上报", "已立案", "已派遣到部门", "部门已签收", "开始处置", "已反馈，待核查", "核查通过，已结案"):
        expect(resident.locator(".timeline")).to_contain_text(step)
    resident.get_by_label("4 星").check()
    resident.locator("#rating-comment").fill("很快，谢谢")
    resident.get_by_role("button", name="提交评价").click()
    expect(resident.get_by_text("您给处理结果打了 4 星")).to_be_visible()
    assert_accessible(resident, "closed report")



def test_a_department_worker_reaches_a_case_on_the_second_page_of_the_inbox(browser, live_server, app, people):
    """More open cases than one page of the inbox holds: the pager (htmx, the address follows) leads to the rest,
    nearest deadline first, and the count names all of them."""
    from datetime import timedelta

    from tests.unit.cases import make_case
    from webapp.db import utcnow
    from webapp.handling.services import INBOX_PER_PAGE

    with app.app_context():
        department_id = db.session.scalar(sa.select(Department.id).where(Department.code == "HW"))
        resident = db.session.scalar(sa.select(User).where(User.phone == people["resident"]))
        now = utcnow()
        ids = []
        for n in range(INBOX_PER_PAGE + 2):
            report = make_case(
                resident,
                status=ReportStatus.DISPATCHED,
                department_id=department_id,
                dispatched_at=now - timedelta(hours=2),
                due_at=now + timedelta(days=1, hours=n),
            )
            db.session.flush()
            ids.append(report.id)
        db.session.commit()
    last = ids[-1]

    base = live_server.url
    staff = browser_for(browser, base, people["staff"])
    staff.get_by_role("link", name="待办", exact=True).click()
    expect(staff.locator("#inbox .count")).to_have_text(f"{len(ids)} 个案件")
    expect(staff.get_by_role("link", name=f"#{last}")).to_have_count(0)
    staff.locator("#inbox .pager a[rel=next]").click()
    expect(staff).to_have_url(re.compile(r"/department/\?page=2$"))
    expect(staff.locator("#inbox .pager")).to_contain_text("第 2 页，共 2 页")
    expect(staff.locator("#inbox .count")).to_have_text(f"{len(ids)} 个案件")
    assert_accessible(staff, "department inbox, page 2")
    staff.get_by_role("link", name=f"#{last}").click()
    expect(staff).to_have_url(re.compile(rf"/department/{last}$"))
    expect(staff.locator(".light")).to_have_text("正常")
    staff.go_back()
    expect(staff.get_by_role("link", name=f"#{last}")).to_be_visible()  # back on page 2
    staff.get_by_role("link", name=f"#{last}").click()
    staff.get_by_role("link", name="返回待办").click()  # the case page's own link leads back to page 2 as well
    expect(staff).to_have_url(re.compile(r"/department/\?page=2$"))
    expect(staff.get_by_role("link", name=f"#{last}")).to_be_visible()


def _department_id(page: Page) -> int:
    return int(page.locator("#accept-department option", has_text="万柏林区环卫中心").get_attribute("value"))


def test_a_volunteer_takes_and_fixes_a_simple_case(browser, live_server, people):
    base = live_server.url
    resident = browser_for(browser, base, people["resident"])
    report_id = report_problem(resident, base, "垃圾与环境卫生", "暴露垃圾", "千峰南路 公交站 西侧")

    reviewer = browser_for(browser, base, people["reviewer"])
    reviewer.goto(f"{base}/review/{report_id}")
    reviewer.get_by_label("交给志愿者处理（仅限简单问题）").check()
    reviewer.get_by_role("button", name="立案并派遣 (a)").click()
    expect(reviewer.locator(".flash-success")).to_contain_text(f"#{report_id}")

    volunteer = browser_for(browser, base, people["volunteer"])
    volunteer.get_by_role("link", name="志愿者", exact=True).click()
    assert_accessible(volunteer, "volunteer page")
    volunteer.locator("#claimable").get_by_role("link", name=f"#{report_id}").click()
    volunteer.get_by_role("button", name="我来解决").click()
    volunteer.locator("#result-photos").set_input_files(str(IMAGES / "flower2.jpg"))
    volunteer.get_by_role("button", name="提交结果核查").click()
    expect(volunteer.locator(".status").first).to_have_text("已处置，待核查")

    reviewer.goto(f"{base}/review/?queue=check")
    reviewer.get_by_role("link", name=f"#{report_id}", exact=True).click()
    reviewer.get_by_role("button", name="已解决：结案 (c)").click()
    resident.goto(f"{base}/reports/{report_id}")
    expect(resident.locator(".status").first).to_have_text("已结案")
    expect(resident.locator(".timeline")).to_contain_text("志愿者已处理，待核查")
