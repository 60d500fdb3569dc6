"""The reviewer, department and volunteer workspaces and the notification centre, through the test client."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from tests.factories import jpeg_bytes, make_report, make_user
from tests.helpers import HX, csrf_token, login, post, text
from webapp.accounts.models import Department, Role
from webapp.db import db
from webapp.notifications.models import Notification
from webapp.reports.models import Report, ReportEvent
from webapp.reports.status import ReportStatus
from webapp.review.models import RoutingRule


@pytest.fixture
def setup(app):  # type: ignore[no-untyped-def]
    """A district with a sanitation department (routing rule for group D), staff and one pending report."""
    with app.app_context():
        department = Department(code="HW", name_zh="环卫中心", district_code="140109")
        other = Department(code="LD", name_zh="路灯所", district_code="140109")
        db.session.add_all([department, other])
        db.session.flush()
        db.session.add(RoutingRule(group_code="D", department_id=department.id))
        reviewer = make_user(Role.REVIEWER, name="审核员")
        reviewer.on_duty = True
        staff = make_user(Role.DEPARTMENT, name="环卫 刘")
        staff.department = department
        staff.is_department_head = True
        outsider = make_user(Role.DEPARTMENT, name="路灯 赵")
        outsider.department = other
        resident = make_user(Role.CITIZEN, phone="13811112222", name="王阿姨")
        volunteer = make_user(Role.VOLUNTEER)
        report = make_report(resident, category_code="06042")
        db.session.commit()
        return {
            "reviewer": reviewer,
            "staff": staff,
            "outsider": outsider,
            "resident": resident,
            "volunteer": volunteer,
            "report_id": report.id,
            "department_id": department.id,
        }


def reload(app, report_id: int) -> Report:  # type: ignore[no-untyped-def]
    with app.app_context():
        report = db.session.get(Report, report_id)
        _ = report.events, report.photos, report.department
        return report


def accept_data(report: Report, department_id: int, **extra):  # type: ignore[no-untyped-def]
    return {
        "accept-version": report.version,
        "accept-category": "06042",
        "accept-severity": "general",
        "accept-department": str(department_id),
        **extra,
    }


def test_queue_full_page_and_fragment(app, client, setup):
    login(client, setup["reviewer"])
    full = client.get("/review/")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    assert f"#{setup['report_id']}" in full.get_data(as_text=True)
    fragment = client.get("/review/?group=B", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True)
    assert f"#{setup['report_id']}" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_case_full_page_and_fragment_hide_the_phone(app, client, setup):
    login(client, setup["reviewer"])
    full = client.get(f"/review/{setup['report_id']}")
    body = full.get_data(as_text=True)
    assert full.status_code == 200 and "<html" in body
    assert "13811112222" not in body  # handlers do not see the reporter's phone
    assert "环卫中心" in body  # the routing table's suggestion
    fragment = client.get(f"/review/{setup['report_id']}", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and "Vary" in fragment.headers


def test_reviewer_accepts_and_the_case_reaches_the_department(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    response = post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    assert response.status_code == 303
    report = reload(app, report.id)
    assert report.status is ReportStatus.DISPATCHED and report.department.code == "HW" and report.due_at
    assert [e.action for e in report.events] == ["submit", "accept", "dispatch"]
    with app.app_context():
        kinds = {n.kind for n in db.session.scalars(sa.select(Notification))}
    assert {"dispatched", "status"} <= kinds

    staff_client = app.test_client()
    login(staff_client, setup["staff"])
    inbox = staff_client.get("/department/")
    assert f"#{report.id}" in inbox.get_data(as_text=True)
    assert "13811112222" not in staff_client.get(f"/department/{report.id}").get_data(as_text=True)
    fragment = staff_client.get("/department/?light=green", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True)



LISTED = re.compile(r'href="/department/(\d+)"')
COUNT = re.compile(r'<p class="count"[^>]*>([^<]*)</p>')
PAGER_LINK = re.compile(
    r'<a class="button" href="([^"]+)" hx-get="[^"]+" hx-target="#inbox" hx-push-url="true" rel="(prev|next)"'
)


@pytest.fixture
def crowded(app, setup):  # type: ignore[no-untyped-def]
    """More open cases than one inbox page holds: the first ones overdue, in inbox order; three of another
    department's, due first of all."""
    from datetime import timedelta

    from tests.unit.cases import make_case
    from webapp.db import utcnow
    from webapp.handling import services as handling

    count = handling.INBOX_PER_PAGE + 5
    overdue = handling.INBOX_PER_PAGE + 2
    with app.app_context():
        now = utcnow()
        other_id = db.session.scalar(sa.select(Department.id).where(Department.code == "LD"))

        def case(department_id: int, n: int) -> int:
            report = make_case(
                status=ReportStatus.DISPATCHED if n % 2 else ReportStatus.SIGNED,
                department_id=department_id,
                dispatched_at=now - timedelta(days=3),
                due_at=now + timedelta(hours=n - overdue, minutes=30),
            )
            db.session.flush()
            return report.id

        ours = [case(setup["department_id"], n) for n in range(count)]
        theirs = [case(other_id, -n - 100) for n in range(3)]
        db.session.commit()
    return {"ours": ours, "theirs": theirs, "overdue": overdue, "per_page": handling.INBOX_PER_PAGE}


def listed(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(n) for n in LISTED.findall(response.get_data(as_text=True))]


def count_shown(response) -> str:  # type: ignore[no-untyped-def]
    return COUNT.search(response.get_data(as_text=True)).group(1)


def pager_links(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {rel: href.replace("&amp;", "&") for href, rel in PAGER_LINK.findall(response.get_data(as_text=True))}


def test_the_inbox_is_paged_full_page_and_fragment(app, client, setup, crowded):
    login(client, setup["staff"])
    ours, per_page = crowded["ours"], crowded["per_page"]
    first = client.get("/department/")
    assert first.status_code == 200 and "<html" in first.get_data(as_text=True)
    assert listed(first) == ours[:per_page]  # the nearest deadline first (the overdue ones)
    assert count_shown(first) == f"{len(ours)} 个案件"  # every case, not the page's
    assert "第 1 页，共 2 页" in first.get_data(as_text=True)
    assert pager_links(first) == {"next": "/department/?page=2"}

    fragment = client.get(pager_links(first)["next"], headers=HX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and "HX-Request" in fragment.headers["Vary"]
    assert listed(fragment) == ours[per_page:]  # the case that was on page 2 is reachable
    assert count_shown(fragment) == f"{len(ours)} 个案件"
    assert pager_links(fragment) == {"prev": "/department/?page=1"}

    full = client.get("/department/?page=2")
    assert "<html" in full.get_data(as_text=True) and listed(full) == ours[per_page:]
    case = client.get(f"/department/{ours[-1]}")
    assert case.status_code == 200

    assert listed(client.get("/department/?page=99")) == ours[per_page:]  # past the end: the last page
    assert listed(client.get("/department/?page=-1")) == ours[:per_page]
    assert listed(client.get("/department/?page=x")) == ours[:per_page]


def test_the_inbox_pager_keeps_the_light_filter(app, client, setup, crowded):
    login(client, setup["staff"])
    ours, overdue, per_page = crowded["ours"], crowded["overdue"], crowded["per_page"]
    red = client.get("/department/?light=red", headers=HX)
    assert listed(red) == ours[:per_page] and count_shown(red) == f"{overdue} 个案件"
    following = pager_links(red)["next"]
    assert "light=red" in following and "page=2" in following
    second = client.get(following, headers=HX)
    assert listed(second) == ours[per_page:overdue] and count_shown(second) == f"{overdue} 个案件"
    assert "light=red" in pager_links(second)["prev"]
    not_yet_due = client.get("/department/?light=green").get_data(as_text=True)
    not_yet_due += client.get("/department/?light=yellow").get_data(as_text=True)
    assert sorted(int(n) for n in LISTED.findall(not_yet_due)) == ours[overdue:]
    assert listed(client.get("/department/?light=purple&page=2")) == ours[per_page:]  # no such light: unfiltered


def test_no_page_of_the_inbox_lists_another_departments_case(app, client, setup, crowded):
    login(client, setup["staff"])
    ours, theirs = crowded["ours"], crowded["theirs"]
    seen = [n for page in (1, 2, 3) for n in listed(client.get(f"/department/?page={page}", headers=HX))]
    assert sorted(seen) == sorted(ours + ours[crowded["per_page"] :])  # page 3 shows the last page again
    assert not set(seen) & set(theirs)
    for light in ("red", "yellow", "green"):
        assert not set(listed(client.get(f"/department/?light={light}&page=1"))) & set(theirs)

    outsider = app.test_client()
    login(outsider, setup["outsider"])
    own = outsider.get("/department/")
    assert listed(own) == theirs[::-1] and count_shown(own) == "3 个案件"
    assert listed(outsider.get("/department/?page=2", headers=HX)) == theirs[::-1]
    reviewer = app.test_client()
    login(reviewer, setup["reviewer"])
    assert reviewer.get("/department/?page=2").status_code == 403
    assert app.test_client().get("/department/?page=2").status_code in (302, 303)


def test_a_stale_form_is_refused_with_the_current_state(app, client, setup):
    """Two reviewers open the same case; the second one's action is refused and they see what happened."""
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    other = app.test_client()
    with app.app_context():
        second = make_user(Role.REVIEWER)
        db.session.commit()
    login(other, second)
    assert (
        post(
            other,
            f"/review/{report.id}/reject",
            {"reject-version": report.version, "reject-reason": "not_city_problem"},
        ).status_code
        == 303
    )
    response = post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    assert response.status_code == 409
    assert "已经处理" in text(response) or "已被" in text(response)
    assert reload(app, report.id).status is ReportStatus.REJECTED


def test_reject_as_duplicate_needs_the_original(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    response = post(
        client,
        f"/review/{report.id}/reject",
        {"reject-version": report.version, "reject-reason": "duplicate", "reject-duplicate_of": "999"},
    )
    assert response.status_code == 422
    assert reload(app, report.id).status is ReportStatus.PENDING_REVIEW


def test_department_handles_and_reviewer_closes(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    staff = app.test_client()
    login(staff, setup["staff"])
    report = reload(app, report.id)
    assert post(staff, f"/department/{report.id}/sign", {"case-version": report.version}).status_code == 303
    report = reload(app, report.id)
    no_photo = post(
        staff,
        f"/department/{report.id}/result",
        {"case-version": report.version, "case-note": "清理"},
        content_type="multipart/form-data",
    )
    assert no_photo.status_code == 422
    response = post(
        staff,
        f"/department/{report.id}/result",
        {
            "case-version": report.version,
            "case-note": "已清理",
            "photos": [(io.BytesIO(jpeg_bytes((0, 150, 0))), "a.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    report = reload(app, report.id)
    assert report.status is ReportStatus.AWAITING_CHECK and len(report.after_photos) == 1
    response = post(client, f"/review/{report.id}/close", {"case-version": report.version})
    assert response.status_code == 303
    assert reload(app, report.id).status is ReportStatus.CLOSED
    # The public page shows the result photo next to the first one.
    public = app.test_client().get(f"/reports/{report.id}").get_data(as_text=True)
    assert "处置后" in public or "After" in public


def test_another_department_cannot_touch_the_case(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    outsider = app.test_client()
    login(outsider, setup["outsider"])
    report = reload(app, report.id)
    assert outsider.get(f"/department/{report.id}").status_code == 404
    assert post(outsider, f"/department/{report.id}/sign", {"case-version": report.version}).status_code == 404
    assert reload(app, report.id).status is ReportStatus.DISPATCHED


def test_department_returns_a_misrouted_case_and_the_reviewer_redispatches(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    staff = app.test_client()
    login(staff, setup["staff"])
    report = reload(app, report.id)
    without_reason = post(staff, f"/department/{report.id}/return", {"case-version": report.version})
    assert without_reason.status_code == 409
    response = post(staff, f"/department/{report.id}/return", {"case-version": report.version, "case-note": "属地不符"})
    assert response.status_code == 303
    report = reload(app, report.id)
    assert report.status is ReportStatus.RETURNED and report.department_id is None
    with app.app_context():
        other = db.session.scalar(sa.select(Department).where(Department.code == "LD"))
    response = post(
        client,
        f"/review/{report.id}/dispatch",
        {"dispatch-version": report.version, "dispatch-department": str(other.id)},
    )
    assert response.status_code == 303
    assert reload(app, report.id).department_id == other.id


def test_extension_request_and_decision(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    staff = app.test_client()
    login(staff, setup["staff"])
    report = reload(app, report.id)
    post(staff, f"/department/{report.id}/sign", {"case-version": report.version})
    report = reload(app, report.id)
    due = report.due_at
    response = post(
        staff,
        f"/department/{report.id}/extension",
        {
            "ext-version": report.version,
            "ext-extra_value": "2",
            "ext-extra_unit": "work_days",
            "ext-note": "需要采购配件",
        },
    )
    assert response.status_code == 303
    case = client.get(f"/review/{report.id}").get_data(as_text=True)
    assert "需要采购配件" in case
    with app.app_context():
        from webapp.review.models import ExtensionRequest

        request_id = db.session.scalar(sa.select(ExtensionRequest.id))
    response = post(
        client,
        f"/review/{report.id}/extension",
        {"ext-version": report.version, "ext-request_id": str(request_id), "ext-decision": "approve"},
    )
    assert response.status_code == 303
    assert reload(app, report.id).due_at > due


def test_emergency_banner_until_acknowledged_and_public_safety_notice(app, client, setup):
    with app.app_context():
        emergency = make_report(db.session.get(type(setup["resident"]), setup["resident"].id), category_code="01002")
        db.session.commit()
        emergency_id = emergency.id
    assert "安全提示" in text(app.test_client().get(f"/reports/{emergency_id}"))
    login(client, setup["reviewer"])
    page = client.get("/review/").get_data(as_text=True)
    assert 'class="emergency-banner"' in page and f"#{emergency_id}" in page
    queue = client.get("/review/").get_data(as_text=True)
    assert queue.index(f">#{emergency_id}<") < queue.index(f">#{setup['report_id']}<")  # jumps the queue
    report = reload(app, emergency_id)
    response = post(client, f"/review/{emergency_id}/acknowledge", {"case-version": report.version})
    assert response.status_code == 303
    assert 'class="emergency-banner"' not in client.get("/review/").get_data(as_text=True)


def test_bulk_refuse(app, client, setup):
    with app.app_context():
        extra = make_report(category_code="06042")
        db.session.commit()
        ids = [setup["report_id"], extra.id]
    login(client, setup["reviewer"])
    response = client.post(
        "/review/bulk",
        data={
            "csrf_token": csrf_token(client),
            "ids": [str(i) for i in ids],
            "action": "reject",
            "reason": "not_city_problem",
        },
    )
    assert response.status_code == 303
    for report_id in ids:
        assert reload(app, report_id).status is ReportStatus.REJECTED


def test_volunteer_claims_and_fixes_a_simple_case(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    with app.app_context():
        simple = make_report(category_code="06010")  # 暴露垃圾: volunteers may fix it
        db.session.commit()
    report = reload(app, simple.id)
    post(
        client,
        f"/review/{report.id}/accept",
        {
            "accept-version": report.version,
            "accept-category": "06010",
            "accept-severity": "general",
            "accept-for_volunteers": "y",
        },
    )
    assert reload(app, report.id).status is ReportStatus.ACCEPTED
    volunteer = app.test_client()
    login(volunteer, setup["volunteer"])
    listing = volunteer.get("/volunteer/?lat=37.86&lon=112.518")
    assert f"#{report.id}" in listing.get_data(as_text=True)
    assert "<html" not in volunteer.get("/volunteer/", headers=HX).get_data(as_text=True)
    report = reload(app, report.id)
    assert post(volunteer, f"/volunteer/{report.id}/claim", {"case-version": report.version}).status_code == 303
    report = reload(app, report.id)
    response = post(
        volunteer,
        f"/volunteer/{report.id}/result",
        {"case-version": report.version, "photos": [(io.BytesIO(jpeg_bytes((9, 9, 9))), "after.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert reload(app, report.id).status is ReportStatus.AWAITING_CHECK


def test_volunteer_report_and_fix(app, client, setup):
    login(client, setup["volunteer"])
    form = {
        "category": "06010",
        "address": "兴华街 公交站",
        "note": "已清理",
        "photos": [(io.BytesIO(jpeg_bytes((200, 0, 0))), "before.jpg")],
        "after_photos": [(io.BytesIO(jpeg_bytes((0, 200, 0))), "after.jpg")],
    }
    response = post(client, "/volunteer/fix", form, content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        report = db.session.scalar(sa.select(Report).where(Report.self_handled.is_(True)))
        assert report.status is ReportStatus.AWAITING_CHECK
        assert [p.kind for p in report.photos] == ["before", "after"]
    unsafe = {
        **form,
        "category": "01002",
        "photos": [(io.BytesIO(jpeg_bytes()), "b.jpg")],
        "after_photos": [(io.BytesIO(jpeg_bytes()), "a.jpg")],
    }
    response = post(client, "/volunteer/fix", unsafe, content_type="multipart/form-data")
    assert response.status_code == 422


def test_notification_centre_full_and_fragment(app, client, setup):
    login(client, setup["reviewer"])
    report = reload(app, setup["report_id"])
    post(client, f"/review/{report.id}/accept", accept_data(report, setup["department_id"]))
    resident = app.test_client()
    login(resident, setup["resident"])
    home = resident.get("/").get_data(as_text=True)
    assert 'id="notification-count"' in home
    page = resident.get("/me/notifications")
    assert f"#{report.id}" in page.get_data(as_text=True) and "已派遣" in text(page)
    fragment = post(resident, "/me/notifications/read", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert 'id="notification-count"' not in resident.get("/me/notifications").get_data(as_text=True)


def test_opening_a_report_reads_its_notifications(app, client, setup):
    """The report page marks that reader's news about that report read: the badge drops at once, the list shows the
    entry as read, and news about other reports (and other people's news) stays unread."""
    from webapp.notifications import services as notifications

    with app.app_context():
        resident = db.session.get(type(setup["resident"]), setup["resident"].id)
        opened = db.session.get(Report, setup["report_id"])
        other = make_report(resident, category_code="06042")
        notifications.notify([resident], "status", opened, status="accepted")
        notifications.notify([resident], "status", opened, status="dispatched")
        notifications.notify([resident], "status", other, status="accepted")
        notifications.notify([setup["volunteer"]], "followed_status", opened, status="accepted")
        db.session.commit()
        other_id = other.id
    login(client, setup["resident"])
    badge = re.compile(r'id="notification-count"[^>]*>(\d+)<')
    assert badge.search(client.get("/me/notifications").get_data(as_text=True)).group(1) == "2"

    page = client.get(f"/reports/{setup['report_id']}")
    assert page.status_code == 200 and badge.search(page.get_data(as_text=True)).group(1) == "1"
    unread = re.compile(
        r'<li class="notification unread[^"]*">\s*<span class="visually-hidden">[^<]*</span>\s*<a href="([^"]+)"'
    )
    listed = client.get("/me/notifications").get_data(as_text=True)
    fragment = client.get("/me/notifications", headers=HX).get_data(as_text=True)
    for html in (listed, fragment):
        assert unread.findall(html) == [f"/reports/{other_id}"]
        assert f'href="/reports/{setup["report_id"]}"' in html  # still listed, as read
    with app.app_context():
        assert notifications.unread_count(db.session.get(type(setup["volunteer"]), setup["volunteer"].id)) == 1

    client.get(f"/reports/{other_id}")
    assert 'id="notification-count"' not in client.get("/me/notifications").get_data(as_text=True)


def test_resident_rates_and_reopens(app, client, setup):
    with app.app_context():
        from webapp.review import services as review

        report = db.session.get(Report, setup["report_id"])
        reviewer = db.session.get(type(setup["reviewer"]), setup["reviewer"].id)
        review.accept(
            report,
            reviewer,
            category_code="06042",
            severity=review.Severity.GENERAL,
            department=db.session.get(Department, setup["department_id"]),
        )
        report.status = ReportStatus.AWAITING_CHECK  # the department's part is tested above
        db.session.flush()
        review.close(report, reviewer)
        db.session.commit()
    login(client, setup["resident"])
    page = client.get(f"/reports/{setup['report_id']}").get_data(as_text=True)
    assert 'name="stars"' in page
    bad = post(client, f"/reports/{setup['report_id']}/rating", {"stars": "4", "reopen": "y"})
    assert bad.status_code == 422
    response = post(
        client, f"/reports/{setup['report_id']}/rating", {"stars": "1", "comment": "还是满的", "reopen": "y"}
    )
    assert response.status_code == 303
    report = reload(app, setup["report_id"])
    assert report.status is ReportStatus.AWAITING_CHECK
    assert report.events[-1].action == "reopen" and report.events[-1].note == "还是满的"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportEvent)) >= 5


def test_the_queue_page_form_refuses_in_bulk_in_either_language(app, client, setup):
    """The bulk actions are rendered once per language: each language gets its own labels, and the page's form
    (its token and field names) submits."""
    import re

    login(client, setup["reviewer"])
    client.set_cookie("lang", "en")
    english = client.get("/review/").get_data(as_text=True)
    client.set_cookie("lang", "zh_Hans_CN")
    chinese = client.get("/review/").get_data(as_text=True)
    assert "Refuse the cases" in english and "Refuse the cases" not in chinese
    for page in (english, chinese):
        assert '<select id="action" name="action">' in page and '<select id="reason" name="reason">' in page
    token = re.search(r'<form method="post" action="/review/bulk" class="bulk">\s*<input type="hidden" '
                      r'name="csrf_token" value="([^"]+)">', chinese).group(1)  # fmt: skip
    response = client.post(
        "/review/bulk",
        data={"csrf_token": token, "ids": [str(setup["report_id"])], "action": "reject", "reason": "not_city_problem"},
    )
    assert response.status_code == 303 and reload(app, setup["report_id"]).status is ReportStatus.REJECTED


def test_inbox_cards_rendered_once_still_follow_the_case_its_light_and_the_language(app, client, setup, crowded):
    """Cards are kept per what they show (handling.views.inbox_card): a case that moves on, a light that changes
    with the clock and another language each get their own card."""
    from datetime import timedelta

    from webapp.db import utcnow

    login(client, setup["staff"])
    first = crowded["ours"][0]
    card = re.compile(rf'<li class="report-card[^"]*">\s*<a href="/department/{first}">.*?</li>', re.S)

    def first_card(language: str, path: str = "/department/") -> str:
        client.set_cookie("lang", language)
        return card.search(client.get(path).get_data(as_text=True)).group(0)

    before = first_card("en")
    assert "Received by department" in before and "light-red" in before and first_card("en") == before
    chinese = first_card("zh_Hans_CN")
    assert "Received by department" not in chinese and "light-red" in chinese
    with app.app_context():
        report = db.session.get(Report, first)
        report.status = ReportStatus.IN_PROGRESS
        report.due_at = utcnow() + timedelta(days=30)
        db.session.commit()
    after = first_card("en", "/department/?light=green")  # now last of the open cases: the only green one
    assert "Being handled" in after and "light-green" in after and "Received by department" not in after
    assert first_card("zh_Hans_CN", "/department/?light=green") != chinese


def test_the_case_page_leads_back_to_the_inbox_page_the_worker_came_from(app, client, setup, crowded):
    login(client, setup["staff"])
    case = crowded["ours"][-1]

    def back_link(referrer: str | None) -> str:
        headers = {"Referer": referrer} if referrer is not None else {}
        page = client.get(f"/department/{case}", headers=headers).get_data(as_text=True)
        return re.search(r'<a href="([^"]*)">← ', page).group(1).replace("&amp;", "&")

    assert back_link("http://localhost/department/?page=2") == "/department/?page=2"
    assert back_link("http://localhost/department/?light=red&page=2") == "/department/?light=red&page=2"
    assert back_link(None) == "/department/"
    assert back_link("http://elsewhere.example/department/?page=2") == "/department/"  # not from this site
    assert back_link("http://localhost/review/?page=2") == "/department/"
    assert back_link('http://localhost/department/?page=2"><script>&light=purple') == "/department/"
