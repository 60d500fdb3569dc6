"""The volunteers' list on a 360×740 phone: "Sort by distance from me" sends a position rounded to about 100 m and
orders the cases nearest first; where the position is refused the list keeps its order and says why."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_report, make_user
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.reports.status import ReportStatus


def test_the_cases_nearest_first_from_the_phones_position(app, live_server, browser: Browser):
    base = live_server.url
    with app.app_context():
        make_user(Role.VOLUNTEER, phone="13700006051")
        # 06010 (暴露垃圾) is a case volunteers may fix; the far one was opened first.
        far = make_report(category_code="06010", lat=37.88, lon=112.518)
        near = make_report(category_code="06010", lat=37.8628, lon=112.518)
        for hours, report in ((2, far), (1, near)):
            report.status, report.department_id = ReportStatus.ACCEPTED, None
            report.accepted_at = utcnow() - timedelta(hours=hours)
        db.session.commit()
        titles = [f"#{far.id}", f"#{near.id}"]
        db.session.remove()
    cards = "#claimable .card-title"

    def phone(**options):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, locale="zh-CN", **options)
        page = context.new_page()
        log_in(page, base, "13700006051")
        page.goto(base + "/volunteer/")
        expect(page.locator(cards)).to_have_count(2)
        for card, title in zip(page.locator(cards).all(), titles, strict=True):
            expect(card).to_contain_text(title)
        return context, page

    context, page = phone(geolocation={"latitude": 37.86012, "longitude": 112.51801}, permissions=["geolocation"])
    with page.expect_request(lambda request: "/volunteer/?" in request.url) as asked:
        page.get_by_role("button", name="按离我的距离排序").click()
    assert asked.value.url.endswith("?lat=37.860&lon=112.518")  # rounded before it left the phone
    expect(page.locator(cards).first).to_contain_text(titles[1])
    expect(page.locator(cards).last).to_contain_text(titles[0])
    expect(page.locator("#claimable .card-meta").first).to_contain_text("距离 311 米")  # from 37.860, not 298 m
    assert_accessible(page, "volunteer cases nearest first")
    context.close()

    context, page = phone()
    page.get_by_role("button", name="按离我的距离排序").click()
    expect(page.locator("#near-me-status")).to_contain_text("无法获取您的位置")
    expect(page.locator(cards).first).to_contain_text(titles[0])
    assert_accessible(page, "volunteer cases without a position")
    context.close()
