"""Places where residents, older people and staff stumbled (a walk through every role): each fix stays fixed."""

from __future__ import annotations

import re

import pytest

from tests.helpers import login, post, text
from tests.unit.cases import GAS_LEAK, make_case, make_department, make_staff
from webapp.accounts.models import Role
from webapp.db import db
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus


@pytest.fixture
def staff(app):  # type: ignore[no-untyped-def]
    """A department with its head and a reviewer."""
    with app.app_context():
        department = make_department("HW", name="环卫中心")
        head = make_staff(Role.DEPARTMENT, department, head=True)
        reviewer = make_staff(Role.REVIEWER, on_duty=True)
        db.session.commit()
        return {"department_id": department.id, "head": head, "reviewer": reviewer}


def test_a_department_head_acknowledges_an_emergency_on_the_case_page(app, client, staff):
    with app.app_context():
        case = make_case(status=ReportStatus.DISPATCHED, category_code=GAS_LEAK, department_id=staff["department_id"])
        case.emergency = True
        db.session.commit()
        case_id, version = case.id, case.version
    login(client, staff["head"])
    assert 'class="emergency-banner"' in client.get("/department/").get_data(as_text=True)
    page = client.get(f"/department/{case_id}").get_data(as_text=True)
    assert f'action="/department/{case_id}/acknowledge"' in page
    response = post(client, f"/department/{case_id}/acknowledge", {"case-version": version})
    assert response.status_code == 303
    with app.app_context():
        report = db.session.get(Report, case_id)
        assert report.emergency_acknowledged_by_id == staff["head"].id
    after = client.get(f"/department/{case_id}").get_data(as_text=True)
    assert 'class="emergency-banner"' not in after and f"/department/{case_id}/acknowledge" not in after


# --- 3. Each meaning its own words --------------------------------------------------------------------------------


def test_the_dashboards_start_date_is_not_the_feedback_sender(app, client, staff):
    login(client, staff["reviewer"])  # the default language: Chinese
    filters = text(client.get("/dashboard/"))
    assert "起始日期" in filters and "结束日期" in filters and "提交人" not in filters


def test_refusing_more_time_is_not_refusing_a_report(app, client, staff):
    from webapp.handling import services as handling
    from webapp.reports.models import TimeUnit

    with app.app_context():
        case = make_case(status=ReportStatus.IN_PROGRESS, department_id=staff["department_id"])
        handling.request_extension(
            case,
            db.session.get(type(staff["head"]), staff["head"].id),
            extra_value=2,
            extra_unit=TimeUnit.WORK_DAYS,
            reason="等配件",
        )
        db.session.commit()
        case_id = case.id
    login(client, staff["reviewer"])
    page = client.get(f"/review/{case_id}").get_data(as_text=True)
    assert 'value="refuse">不同意延期</button>' in page and 'value="approve">同意延期</button>' in page


def test_campaign_sentences_join_categories_as_the_language_does(app, client):
    from datetime import timedelta

    from tests.factories import make_user
    from webapp.campaigns import services as campaign_pages
    from webapp.db import utcnow
    from webapp.localtime import local_date
    from webapp.points.campaigns import create_campaign

    with app.app_context():
        admin = make_user(Role.ADMIN)
        today = local_date(utcnow())
        campaign = create_campaign(
            admin,
            name="垃圾专项",
            categories="06042 06010",
            starts_on=today,
            ends_on=today + timedelta(days=5),
            multiplier=2,
            budget_points=500,
        )
        campaign_pages.set_published(admin, campaign, True)
        db.session.commit()
    zh = text(client.get("/campaigns"))
    assert "、" in zh or "和" in zh
    client.set_cookie("lang", "en")
    en = text(client.get("/campaigns"))
    assert "、" not in en and " and " in en


# --- 5. One badge for how serious a case is -----------------------------------------------------------------------


BADGE = re.compile(r'<span class="status[^"]*">([^<]*)</span>')


@pytest.fixture
def urgent_case(app, staff):  # type: ignore[no-untyped-def]
    from webapp.reports.models import Severity

    with app.app_context():
        case = make_case(status=ReportStatus.DISPATCHED, department_id=staff["department_id"], severity=Severity.URGENT)
        case.emergency = True
        db.session.commit()
        return case.id


def test_an_urgent_case_says_urgent_once_to_reviewers(client, staff, urgent_case):
    login(client, staff["reviewer"])
    for url in (f"/review/{urgent_case}", "/review/?queue=handling"):
        badges = BADGE.findall(client.get(url).get_data(as_text=True))
        assert badges.count("紧急") == 1, (url, badges)


def test_an_urgent_case_says_urgent_once_to_the_department(client, staff, urgent_case):
    login(client, staff["head"])
    badges = BADGE.findall(client.get(f"/department/{urgent_case}").get_data(as_text=True))
    assert badges.count("紧急") == 1, badges


# --- 7. Deadlines to the minute, and what happens once one has passed ----------------------------------------------


def test_an_overdue_case_says_so_and_no_time_has_seconds(app, client, staff):
    from datetime import timedelta

    from webapp.db import utcnow

    with app.app_context():
        now = utcnow()
        late = make_case(
            status=ReportStatus.IN_PROGRESS,
            department_id=staff["department_id"],
            due_at=now - timedelta(days=2),
            escalated_at=now - timedelta(days=1),
        )
        waiting = make_case(status=ReportStatus.DISPATCHED, due_at=now + timedelta(days=1))
        db.session.commit()
        late_id, waiting_id = late.id, waiting.id
    page = text(client.get(f"/reports/{late_id}"))
    assert "已超期，已督办" in page and "预计在" not in page
    assert not re.search(r"\d:\d\d:\d\d", page)  # no seconds
    upcoming = text(client.get(f"/reports/{waiting_id}"))
    assert "预计在" in upcoming and "已超期" not in upcoming
    assert re.search(r"预计在 \d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d\d 前处理完", upcoming)


# --- 8. The daily cap says so -------------------------------------------------------------------------------------


def test_the_points_page_says_when_todays_report_points_are_used_up(app, client):
    from tests.factories import make_user
    from webapp.db import utcnow
    from webapp.points import awards, rules

    with app.app_context():
        admin = make_user(Role.ADMIN)
        resident = make_user(Role.CITIZEN)
        rules.publish({"daily_report_cap": 1}, effective_from=utcnow(), admin=admin)
        db.session.commit()
    login(client, resident)
    assert "今日上报积分已达上限" not in text(client.get("/points"))
    with app.app_context():
        awards.award_report(make_case(db.session.get(type(resident), resident.id)))
        db.session.commit()
    page = text(client.get("/points"))
    assert "今日上报积分已达上限" in page


# --- 9. Report pages say only what is there -----------------------------------------------------------------------


def _photo(report, kind: str, event, position: int, key: str):  # type: ignore[no-untyped-def]
    from webapp.reports.models import ReportPhoto

    return ReportPhoto(
        report=report,
        kind=kind,
        event=event,
        position=position,
        display_key=f"{key}.jpg",
        thumb_key=f"{key}-t.jpg",
        width=800,
        height=600,
        thumb_width=160,
        thumb_height=120,
        phash="0" * 16,
    )


def test_report_pages_say_only_what_is_there(app, client, staff):
    from tests.unit.cases import make_grid
    from webapp.reports.services import add_event

    with app.app_context():
        grid = make_grid("140109001001031")
        grid.street_name, grid.community_name, grid.name = "千峰街道", "长风西社区", "长风西社区031号网格"
        case = make_case(status=ReportStatus.AWAITING_CHECK, grid_code=grid.code, address=grid.label)
        no_address = make_case(status=ReportStatus.ACCEPTED, grid_code=grid.code, address="", lat=None, lon=None)
        first = add_event(case, None, ReportStatus.IN_PROGRESS, ReportStatus.AWAITING_CHECK, action="report_result")
        add_event(case, None, ReportStatus.AWAITING_CHECK, ReportStatus.REWORK, action="rework")
        second = add_event(case, None, ReportStatus.IN_PROGRESS, ReportStatus.AWAITING_CHECK, action="report_result")
        db.session.flush()
        db.session.add_all([_photo(case, "after", first, 0, "round1"), _photo(case, "after", second, 1, "round2")])
        db.session.commit()
        case_id, no_address_id = case.id, no_address.id
    page = client.get(f"/reports/{case_id}").get_data(as_text=True)
    shown = text(client.get(f"/reports/{case_id}"))
    assert "也反映了这个问题" not in shown  # nobody else did
    assert shown.count("长风西社区031号网格") == 1  # the place once
    assert "处置前" not in shown  # no before photo, no empty heading
    after = page[page.index("before-after") : page.index('class="timeline"')]
    assert "round2.jpg" in after and "round1.jpg" not in after  # the latest result
    timeline = page[page.index('class="timeline"') :]
    assert timeline.index("round1-t.jpg") < timeline.index("round2-t.jpg")  # each round in its step
    listed = text(client.get("/reports"))
    assert "地图上的位置" not in listed and "长风西社区031号网格" in listed
    assert "长风西社区031号网格" in text(client.get(f"/reports/{no_address_id}"))


# --- 10. The 110/119 notice for real dangers only -----------------------------------------------------------------


def test_the_call_110_notice_is_for_safety_critical_categories_only(app, client):
    from webapp.reports.models import Severity

    with app.app_context():
        parking = make_case(category_code="02025", severity=Severity.URGENT, status=ReportStatus.DISPATCHED)
        parking.emergency = True
        gas = make_case(category_code=GAS_LEAK, status=ReportStatus.DISPATCHED)
        gas.emergency = True
        db.session.commit()
        parking_id, gas_id = parking.id, gas.id
    assert "110" not in text(client.get(f"/reports/{parking_id}"))
    assert "110" in text(client.get(f"/reports/{gas_id}"))


# --- 12. A merged report says where it went -----------------------------------------------------------------------


def test_the_reporter_of_a_merged_report_is_told_where_it_went(app, client, staff):
    from tests.factories import make_user

    with app.app_context():
        resident = make_user(Role.CITIZEN)
        original = make_case()
        duplicate = make_case(resident)
        db.session.commit()
        original_id, duplicate_id, version = original.id, duplicate.id, duplicate.version
    login(client, staff["reviewer"])
    response = post(
        client,
        f"/review/{duplicate_id}/reject",
        {"reject-version": version, "reject-reason": "duplicate", "reject-duplicate_of": str(original_id)},
    )
    assert response.status_code == 303
    reporter = app.test_client()
    login(reporter, resident)
    page = reporter.get("/me/notifications").get_data(as_text=True)
    assert f"已合并到 #{original_id}" in page and f'href="/reports/{original_id}"' in page
    assert "不予受理" not in text(reporter.get("/me/notifications"))
    assert f"已合并到 #{original_id}" in text(reporter.get(f"/reports/{duplicate_id}"))


# --- 18. Small things ----------------------------------------------------------------------------------------------


def test_a_volunteer_does_not_rate_their_own_fix(app, client):
    from tests.factories import make_user

    with app.app_context():
        volunteer = make_user(Role.VOLUNTEER)
        fixed = make_case(volunteer, status=ReportStatus.CLOSED, handler_id=volunteer.id, self_handled=True)
        db.session.commit()
        fixed_id = fixed.id
    login(client, volunteer)
    assert 'name="stars"' not in client.get(f"/reports/{fixed_id}").get_data(as_text=True)
    refused = post(client, f"/reports/{fixed_id}/rating", {"stars": "5"})
    assert refused.status_code in (403, 409, 422)
    with app.app_context():
        from webapp.feedback.models import Rating

        assert db.session.query(Rating).count() == 0


def test_a_street_light_poster_chooses_the_category_and_a_second_one_is_questioned(app, client):
    from tests.factories import make_user
    from webapp.reports.models import PosterKind
    from webapp.reports.posters import services as posters

    with app.app_context():
        admin = make_user(Role.ADMIN)
        poster = posters.create_poster(
            admin,
            posters.NewPoster(kind=PosterKind.STREETLIGHT, label="LD-0123", asset_id="LD-0123", lat=37.86, lon=112.518),
        )
        db.session.commit()
        code = poster.code
    scan = client.get(f"/p/{code}", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 13) Mobile"})
    form = client.get(scan.headers["Location"]).get_data(as_text=True)
    assert 'value="01037" checked' in form
    login(client, admin)
    data = {"kind": "streetlight", "label": "LD-0123 new", "asset_id": "LD-0123"}
    again = post(client, "/admin/posters/new", data)
    assert again.status_code == 422 and "已经有" in text(again)
    assert post(client, "/admin/posters/new", {**data, "again": "y"}).status_code == 303


def test_the_home_page_lists_each_report_once_and_links_the_honour_roll(app, client):
    from tests.factories import make_user

    with app.app_context():
        resident = make_user(Role.CITIZEN)
        mine = make_case(resident, status=ReportStatus.ACCEPTED)
        db.session.commit()
        mine_id = mine.id
    login(client, resident)
    page = client.get("/").get_data(as_text=True)
    assert page.count(f'href="/reports/{mine_id}"') == 1
    assert 'href="/honour"' in page and 'href="/household"' in page


# --- 14. Notifications: one entry per report, and "only when it is fixed or needs me" -------------------------------


def test_the_notification_centre_shows_one_entry_per_report(app, client):
    from tests.factories import make_user
    from webapp.notifications import services as notifications

    with app.app_context():
        resident = make_user(Role.CITIZEN)
        report = make_case(resident)
        for status in ("accepted", "dispatched", "signed", "in_progress", "awaiting_check"):
            notifications.notify([resident], "status", report, status=status)
        db.session.commit()
        report_id = report.id
    login(client, resident)
    page = client.get("/me/notifications").get_data(as_text=True)
    assert page.count(f'href="/reports/{report_id}"') == 1
    assert "已处置，待核查" in text(client.get("/me/notifications")) and "5 条更新" in text(
        client.get("/me/notifications")
    )
    assert 'id="notification-count"' in page and re.search(r'id="notification-count"[^>]*>1<', page)
    fragment = client.get("/me/notifications", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and fragment.count(f'href="/reports/{report_id}"') == 1


def test_a_resident_chooses_only_when_fixed_or_needs_me(app, client):
    from tests.factories import make_user

    with app.app_context():
        resident = make_user(Role.CITIZEN)
        db.session.commit()
    login(client, resident)
    saved = post(
        client, "/me/profile", {"display_name": "王阿姨", "locale": "zh_Hans_CN", "notify_only_important": "y"}
    )
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.get(type(resident), resident.id).notify_only_important is True
    assert "您只在问题解决或需要您时收到报告的通知" in text(client.get("/me/notifications"))
