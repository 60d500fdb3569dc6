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
    from webapp.points.awards import local_date
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
