"""Review services: opening, refusing (and merging duplicates), dispatching with deadlines, checking, extensions,
the long-term list, escalation, the queue and the case view's helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from tests.factories import jpeg_bytes, make_user
from tests.unit.cases import (
    GAS_LEAK,
    LAT,
    LITTER,
    RUBBISH,
    STREET_LIGHT,
    events_of,
    make_case,
    make_department,
    make_grid,
    make_staff,
    notifications_of,
    sms_phones,
)
from webapp import localtime
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.errors import NotFound
from webapp.handling import services as handling
from webapp.reports import services as reports
from webapp.reports.models import Report, ReportFollower, Severity, TimeUnit
from webapp.reports.status import ReportStatus
from webapp.review import services
from webapp.review.calendar import Light, WorkingCalendar
from webapp.review.models import CalendarDay, ExtensionRequest, ExtensionStatus, TimeLimit
from webapp.review.services import ReviewError
from webapp.review.time_limits import Limit
from webapp.review.workflow import AlreadyHandled, InvalidTransition

S = ReportStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS, DAYS = TimeUnit.WORK_HOURS, TimeUnit.WORK_DAYS


def followers_of(report: Report) -> set[int]:
    return set(db.session.scalars(sa.select(ReportFollower.user_id).where(ReportFollower.report_id == report.id)))


def actions(report: Report) -> list[str]:
    return [event.action for event in events_of(report)]


def dispatched(department, **fields) -> Report:  # type: ignore[no-untyped-def]
    """A general case dispatched to ``department`` just now, due in four hours (``fields`` override)."""
    now = utcnow()
    values = {"status": S.DISPATCHED, "severity": Severity.GENERAL, "department_id": department.id}
    values.update(dispatched_at=now, due_at=now + timedelta(hours=4))
    values.update(fields)
    return make_case(**values)


# --- Time: calendar and limits --------------------------------------------------------------------------------


def test_working_calendar_reads_the_calendar_days(ctx):
    assert services.working_calendar() == WorkingCalendar(timezone=localtime.zone_name())
    db.session.add_all(
        [
            CalendarDay(day=date(2026, 10, 1), is_workday=False, name="国庆节"),  # a Thursday
            CalendarDay(day=date(2026, 10, 10), is_workday=True, name="调休"),  # a Saturday
        ]
    )
    db.session.flush()
    calendar = services.working_calendar()
    assert not calendar.is_workday(date(2026, 10, 1))
    assert calendar.is_workday(date(2026, 10, 10))
    assert calendar.is_workday(date(2026, 10, 2)) and not calendar.is_workday(date(2026, 10, 11))
    # Wednesday 16:30 + 2 working hours: one hour that day, the holiday skipped, one hour on Friday.
    start = datetime(2026, 9, 30, 16, 30, tzinfo=SHANGHAI)
    assert calendar.add(start, 2, HOURS) == datetime(2026, 10, 2, 9, 30, tzinfo=SHANGHAI)


def test_handling_limit_is_the_category_default_with_caps_and_overrides(ctx):
    assert services.handling_limit(make_case(category_code=RUBBISH)) == Limit(4, HOURS)
    light = make_case(category_code=STREET_LIGHT, severity=Severity.GENERAL)
    assert services.handling_limit(light) == Limit(2, DAYS)
    light.severity = Severity.MAJOR
    assert services.handling_limit(light) == Limit(2, DAYS)
    light.severity = Severity.URGENT
    assert services.handling_limit(light) == Limit(4, HOURS)
    light.severity = Severity.CRITICAL
    assert services.handling_limit(light) == Limit(2, HOURS)

    db.session.add_all(
        [
            TimeLimit(category_code=STREET_LIGHT, severity=Severity.CRITICAL, value=1, unit=DAYS),
            TimeLimit(category_code=STREET_LIGHT, severity=Severity.GENERAL, value=3, unit=DAYS),
            TimeLimit(category_code=RUBBISH, severity=Severity.CRITICAL, value=9, unit=HOURS),
        ]
    )
    db.session.flush()
    assert services.handling_limit(light) == Limit(1, DAYS)  # an explicit override beats the emergency cap
    light.severity = Severity.GENERAL
    assert services.handling_limit(light) == Limit(3, DAYS)
    light.severity = None
    assert services.handling_limit(light) == Limit(3, DAYS)  # no severity yet counts as general
    light.severity = Severity.URGENT
    assert services.handling_limit(light) == Limit(4, HOURS)  # the other category's override does not apply


# --- Accept (立案) ----------------------------------------------------------------------------------------------


def test_accept_opens_the_case_and_dispatches_it_with_its_deadline(app, ctx):
    reviewer, department = make_staff(Role.REVIEWER), make_department()
    handler, outsider = make_staff(Role.DEPARTMENT, department), make_staff(Role.DEPARTMENT, make_department())
    reporter = make_user()
    report = make_case(reporter)
    before = utcnow()
    services.accept(
        report, reviewer, category_code=RUBBISH, severity=Severity.MAJOR, department=department, note=" 已核实 "
    )
    after = utcnow()
    assert report.status is S.DISPATCHED
    assert report.department is department and report.severity is Severity.MAJOR and report.handler_id is None
    assert before <= report.accepted_at <= after and before <= report.dispatched_at <= after
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    events = events_of(report)
    assert [e.action for e in events] == ["submit", "accept", "dispatch"]
    assert [e.to_status for e in events] == [S.PENDING_REVIEW, S.ACCEPTED, S.DISPATCHED]
    assert events[1].note == "已核实" and events[2].note == department.name
    assert [n.kind for n in notifications_of(handler)] == ["dispatched"]
    assert notifications_of(outsider) == []
    assert [n.params["status"] for n in notifications_of(reporter)] == ["accepted", "dispatched"]
    assert not report.emergency and sms_phones(app) == []


def test_accept_can_correct_the_category(ctx):
    report = make_case(category_code=RUBBISH)
    old_name = report.category.name
    services.accept(
        report,
        make_staff(Role.ADMIN),
        category_code=STREET_LIGHT,
        severity=Severity.GENERAL,
        department=make_department(),
    )
    db.session.flush()
    assert report.category_code == STREET_LIGHT
    accept_event = events_of(report)[1]
    assert old_name in accept_event.note and report.category.name in accept_event.note
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 2, DAYS)


def test_accept_for_volunteers_leaves_the_case_open_to_claim(ctx):
    report = make_case(category_code=LITTER)
    services.accept(
        report,
        make_staff(Role.REVIEWER),
        category_code=LITTER,
        severity=Severity.GENERAL,
        department=None,
        for_volunteers=True,
    )
    assert report.status is S.ACCEPTED
    assert report.department_id is None and report.due_at is None and report.dispatched_at is None
    assert actions(report) == ["submit", "accept"]
    assert [c.report for c in handling.claimable()] == [report]


@pytest.mark.parametrize(
    ("category_code", "severity"),
    [(RUBBISH, Severity.GENERAL), (GAS_LEAK, Severity.GENERAL), (LITTER, Severity.URGENT), (LITTER, Severity.CRITICAL)],
    ids=["not-volunteer-ok", "safety-critical", "urgent", "critical"],
)
def test_accept_for_volunteers_is_refused_for_unsuitable_cases(ctx, category_code, severity):
    report = make_case(category_code=LITTER)
    with pytest.raises(ReviewError) as refused:
        services.accept(
            report,
            make_staff(Role.REVIEWER),
            category_code=category_code,
            severity=severity,
            department=None,
            for_volunteers=True,
        )
    assert refused.value.field == "for_volunteers"
    assert report.status is S.PENDING_REVIEW and report.severity is None and report.accepted_at is None
    assert report.category_code == LITTER and actions(report) == ["submit"]


@pytest.mark.parametrize(
    ("code", "department", "field"),
    [("", True, "category"), ("99999", True, "category"), (RUBBISH, False, "department")],
)
def test_accept_needs_a_known_category_and_a_department(ctx, code, department, field):
    report = make_case()
    with pytest.raises(ReviewError) as refused:
        services.accept(
            report,
            make_staff(Role.REVIEWER),
            category_code=code,
            severity=Severity.GENERAL,
            department=make_department() if department else None,
        )
    assert refused.value.field == field
    assert report.status is S.PENDING_REVIEW and actions(report) == ["submit"]


def test_accept_with_a_stale_form_is_already_handled(ctx):
    report = make_case()
    with pytest.raises(AlreadyHandled):
        services.accept(
            report,
            make_staff(Role.REVIEWER),
            category_code=RUBBISH,
            severity=Severity.GENERAL,
            department=make_department(),
            expected_version=report.version + 1,
        )
    assert actions(report) == ["submit"]


def test_accept_of_an_urgent_case_starts_the_emergency_plan(app, ctx):
    department = make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    admin, on_duty = make_staff(Role.ADMIN), make_staff(Role.REVIEWER, on_duty=True)
    off_duty = make_staff(Role.REVIEWER)
    report = make_case()
    services.accept(report, on_duty, category_code=RUBBISH, severity=Severity.URGENT, department=department)
    assert report.emergency
    assert actions(report) == ["submit", "accept", "dispatch", "emergency"]
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    for user in (head, admin, on_duty):
        [alert] = notifications_of(user, "emergency")
        assert alert.urgent
    assert notifications_of(off_duty) == []
    assert sorted(sms_phones(app)) == sorted([head.phone, admin.phone, on_duty.phone])


# --- Dispatch and its deadline ----------------------------------------------------------------------------------


def test_dispatch_deadline_follows_time_limit_overrides(ctx):
    db.session.add(TimeLimit(category_code=RUBBISH, severity=Severity.GENERAL, value=2, unit=DAYS))
    report = make_case(status=S.ACCEPTED, severity=Severity.GENERAL)
    services.dispatch(report, make_staff(Role.REVIEWER), make_department())
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 2, DAYS)


def test_dispatch_deadline_skips_the_holidays_in_the_calendar(ctx):
    today = utcnow().astimezone(SHANGHAI).date()
    holidays = [today + timedelta(days=n) for n in range(-1, 10)]
    db.session.add_all(CalendarDay(day=day, is_workday=False, name="假期") for day in holidays)
    db.session.flush()
    report = make_case(status=S.ACCEPTED, severity=Severity.GENERAL)
    services.dispatch(report, make_staff(Role.REVIEWER), make_department())
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    assert report.due_at.astimezone(SHANGHAI).date() > holidays[-1]
    assert report.due_at > WorkingCalendar(timezone=localtime.zone_name()).add(report.dispatched_at, 4, HOURS)


def test_dispatch_is_refused_outside_its_states(ctx):
    report = make_case()  # pending review: it must be opened first
    with pytest.raises(InvalidTransition):
        services.dispatch(report, make_staff(Role.REVIEWER), make_department())
    assert actions(report) == ["submit"]


def test_suggested_department_routes_by_the_reports_grid(ctx):
    owner = make_department()
    make_department(fallback=True)
    report = make_case(grid_code=make_grid(department=owner).code)
    assert services.suggested_department(report) is owner


# --- Reject and duplicates ------------------------------------------------------------------------------------


def test_reject_needs_a_reason_from_the_list(ctx):
    report = make_case()
    with pytest.raises(ReviewError) as refused:
        services.reject(report, make_staff(Role.REVIEWER), reason="because")
    assert refused.value.field == "reason"
    assert report.status is S.PENDING_REVIEW and report.reject_reason is None


def test_reject_records_the_reason_and_tells_the_reporter(ctx):
    reporter = make_user()
    report = make_case(reporter)
    services.reject(report, make_staff(Role.REVIEWER), reason="not_city_problem", note=" 属于物业 ")
    assert report.status is S.REJECTED and report.reject_reason == "not_city_problem"
    assert events_of(report)[-1].note == gettext("Not a problem the city handles") + ": 属于物业"
    assert [n.params["status"] for n in notifications_of(reporter)] == ["rejected"]


def test_a_duplicate_is_merged_into_the_original(ctx):
    original_reporter, old_follower = make_user(), make_user()
    original = make_case(original_reporter, status=S.DISPATCHED, department_id=make_department().id)
    reports.follow(old_follower, original)
    dup_reporter, dup_follower = make_user(), make_user()
    duplicate = make_case(dup_reporter)
    reports.follow(dup_follower, duplicate)
    reports.follow(old_follower, duplicate)
    reports.follow(original_reporter, duplicate)

    services.reject(duplicate, make_staff(Role.REVIEWER), reason="duplicate", duplicate_of=original.id)
    assert duplicate.status is S.REJECTED and duplicate.reject_reason == "duplicate"
    assert duplicate.duplicate_of is original and duplicate.duplicate_of_id == original.id
    assert f"#{original.id}" in events_of(duplicate)[-1].note
    # The duplicate's reporter and followers now follow the original (once each); its own reporter is not a follower.
    assert followers_of(original) == {old_follower.id, dup_reporter.id, dup_follower.id}
    assert original.status is S.DISPATCHED
    # They hear how the original ends.
    services.suspend(original, make_staff(Role.REVIEWER), "等待施工")
    for user in (dup_reporter, dup_follower, old_follower):
        assert notifications_of(user, "followed_status")[-1].params["status"] == "suspended"


def test_a_chain_of_duplicates_resolves_to_the_root(ctx):
    reviewer = make_staff(Role.REVIEWER)
    root = make_case()
    first = make_case()
    services.reject(first, reviewer, reason="duplicate", duplicate_of=root.id)
    second = make_case()
    # The reviewer gives the number of the duplicate they found; the case joins the original, not the duplicate.
    services.reject(second, reviewer, reason="duplicate", duplicate_of=first.id)
    assert second.duplicate_of is root
    assert f"#{root.id}" in events_of(second)[-1].note
    assert second.reporter_id in followers_of(root) and first.reporter_id in followers_of(root)
    assert followers_of(first) == set()


@pytest.mark.parametrize("which", ["missing", "unknown", "itself", "refused", "duplicate-of-itself"])
def test_a_duplicate_needs_a_valid_original(ctx, which):
    reviewer = make_staff(Role.REVIEWER)
    report = make_case()
    if which == "missing":
        original_id = None
    elif which == "unknown":
        original_id = report.id + 1000
    elif which == "itself":
        original_id = report.id
    elif which == "refused":
        refused = make_case()
        services.reject(refused, reviewer, reason="false_report")
        original_id = refused.id
    else:  # a report already merged into this one cannot become its original
        other = make_case()
        services.reject(other, reviewer, reason="duplicate", duplicate_of=report.id)
        original_id = other.id
    with pytest.raises(ReviewError) as error:
        services.reject(report, reviewer, reason="duplicate", duplicate_of=original_id)
    assert error.value.field == "duplicate_of"
    assert report.status is S.PENDING_REVIEW and report.duplicate_of is None


# --- Redispatch, close, rework, refusing a volunteer's result -------------------------------------------------


def test_a_returned_case_is_dispatched_again_with_a_fresh_deadline(ctx):
    first, second = make_department(), make_department()
    staff = make_staff(Role.DEPARTMENT, second)
    old = utcnow() - timedelta(days=10)
    report = make_case(status=S.RETURNED, severity=Severity.GENERAL, dispatched_at=old)
    with pytest.raises(AlreadyHandled):
        services.redispatch(report, make_staff(Role.REVIEWER), second, expected_version=report.version - 1)
    assert report.status is S.RETURNED
    services.redispatch(report, make_staff(Role.REVIEWER), second, "改派", expected_version=report.version)
    assert report.status is S.DISPATCHED and report.department is second and first is not second
    assert report.dispatched_at > old
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    assert events_of(report)[-1].note == "改派"
    assert [n.kind for n in notifications_of(staff)] == ["dispatched"]


def test_close_a_checked_case(ctx):
    report = make_case(status=S.AWAITING_CHECK, department_id=make_department().id)
    before = utcnow()
    services.close(report, make_staff(Role.REVIEWER), "整改到位", expected_version=report.version)
    assert report.status is S.CLOSED and report.closed_at >= before
    assert services.is_final(report)
    with pytest.raises(InvalidTransition):
        services.close(make_case(status=S.IN_PROGRESS), make_staff(Role.REVIEWER))


def test_send_back_gives_the_department_a_fresh_deadline(ctx):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    long_ago = utcnow() - timedelta(days=14)
    report = make_case(
        status=S.AWAITING_CHECK,
        severity=Severity.GENERAL,
        department_id=department.id,
        dispatched_at=long_ago,
        due_at=long_ago + timedelta(hours=4),
    )
    before = utcnow()
    with pytest.raises(InvalidTransition):
        services.send_back(report, make_staff(Role.REVIEWER), "")  # a reason is needed
    services.send_back(report, make_staff(Role.REVIEWER), "垃圾未清完", expected_version=report.version)
    after = utcnow()
    assert report.status is S.REWORK and report.department is department
    calendar = services.working_calendar()
    assert calendar.add(before, 4, HOURS) <= report.due_at <= calendar.add(after, 4, HOURS)
    # The traffic light measures the new limit, not the time since the first dispatch.
    assert before <= report.dispatched_at <= after
    assert report.due_at == calendar.add(report.dispatched_at, 4, HOURS)
    assert handling.deadline_light(report, now=after) is Light.GREEN
    assert [n.kind for n in notifications_of(staff)] == ["dispatched"]
    handling.sign(report, staff)
    assert report.status is S.SIGNED


def test_send_back_of_a_volunteers_fix_hands_it_to_a_department(ctx):
    owner = make_department()
    staff = make_staff(Role.DEPARTMENT, owner)
    volunteer = make_staff(Role.VOLUNTEER)
    report = make_case(
        volunteer,
        status=S.AWAITING_CHECK,
        category_code=LITTER,
        self_handled=True,
        handler_id=volunteer.id,
        grid_code=make_grid(department=owner).code,
    )
    services.send_back(report, make_staff(Role.REVIEWER), "没有清理干净")
    assert report.status is S.REWORK and report.department is owner
    assert not report.self_handled and report.handler_id is None
    assert report.dispatched_at is not None
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    assert handling.deadline_light(report) is not None
    assert [item.case.id for item in handling.inbox(owner).items] == [report.id]
    assert [n.kind for n in notifications_of(staff)] == ["dispatched"]


def test_send_back_without_any_department_to_take_it_is_refused(ctx):
    volunteer = make_staff(Role.VOLUNTEER)
    report = make_case(status=S.AWAITING_CHECK, category_code=LITTER, self_handled=True, handler_id=volunteer.id)
    with pytest.raises(ReviewError) as refused:
        services.send_back(report, make_staff(Role.REVIEWER), "没有清理干净")
    assert refused.value.field == "department"
    assert report.status is S.AWAITING_CHECK and report.self_handled and actions(report) == ["submit"]


def test_refuse_a_volunteers_report_and_fix(ctx):
    volunteer = make_staff(Role.VOLUNTEER)
    report = make_case(volunteer, status=S.AWAITING_CHECK, category_code=LITTER, self_handled=True)
    services.refuse_result(report, make_staff(Role.REVIEWER), "照片不是同一地点")
    assert report.status is S.REJECTED and report.reject_reason == "false_report"
    assert events_of(report)[-1].action == "reject_result"
    department_result = make_case(status=S.AWAITING_CHECK, department_id=make_department().id)
    with pytest.raises(InvalidTransition):
        services.refuse_result(department_result, make_staff(Role.REVIEWER), "x")
    assert department_result.status is S.AWAITING_CHECK


# --- Extensions -------------------------------------------------------------------------------------------------


def _extension(report: Report, value: int = 2, unit: TimeUnit = DAYS) -> ExtensionRequest:
    staff = make_staff(Role.DEPARTMENT, report.department)
    handling.request_extension(report, staff, extra_value=value, extra_unit=unit, reason="需要调配设备")
    [request] = services.pending_extensions(report)
    return request


def test_approving_an_extension_moves_the_deadline(ctx):
    department = make_department()
    due = utcnow() + timedelta(days=20)
    report = make_case(status=S.SIGNED, department_id=department.id, dispatched_at=utcnow(), due_at=due)
    request = _extension(report)
    reviewer = make_staff(Role.REVIEWER)
    services.decide_extension(request, reviewer, approve=True)
    assert report.due_at == services.working_calendar().add(due, 2, DAYS)
    assert request.status is ExtensionStatus.APPROVED
    assert request.decided_by_id == reviewer.id and request.decided_at is not None
    assert services.pending_extensions(report) == []
    assert actions(report)[-2:] == ["request_extension", "approve_extension"]
    assert report.status is S.SIGNED
    with pytest.raises(ReviewError):
        services.decide_extension(request, reviewer, approve=False, note="再想想")
    assert report.due_at == services.working_calendar().add(due, 2, DAYS)


def test_an_extension_of_an_overdue_case_counts_from_now(ctx):
    report = make_case(
        status=S.IN_PROGRESS,
        department_id=make_department().id,
        dispatched_at=utcnow() - timedelta(days=9),
        due_at=utcnow() - timedelta(days=3),
    )
    request = _extension(report, 6, HOURS)
    before = utcnow()
    services.decide_extension(request, make_staff(Role.ADMIN), approve=True)
    after = utcnow()
    calendar = services.working_calendar()
    assert calendar.add(before, 6, HOURS) <= report.due_at <= calendar.add(after, 6, HOURS)


def test_refusing_an_extension_needs_a_reason_and_keeps_the_deadline(ctx):
    due = utcnow() + timedelta(days=1)
    report = make_case(status=S.SIGNED, department_id=make_department().id, dispatched_at=utcnow(), due_at=due)
    request = _extension(report)
    with pytest.raises(InvalidTransition):
        services.decide_extension(request, make_staff(Role.REVIEWER), approve=False)
    assert request.status is ExtensionStatus.PENDING
    services.decide_extension(request, make_staff(Role.REVIEWER), approve=False, note="时限足够")
    assert request.status is ExtensionStatus.REFUSED and report.due_at == due
    assert events_of(report)[-1].note == "时限足够"


def test_an_extension_cannot_be_decided_once_the_result_is_in(ctx):
    report = make_case(status=S.SIGNED, department_id=make_department().id, dispatched_at=utcnow(), due_at=utcnow())
    request = _extension(report)
    report.status = S.AWAITING_CHECK
    db.session.flush()
    with pytest.raises(InvalidTransition):
        services.decide_extension(request, make_staff(Role.REVIEWER), approve=True)
    assert request.status is ExtensionStatus.PENDING


# --- Long-term list -------------------------------------------------------------------------------------------


def test_suspend_and_resume_with_a_fresh_deadline(ctx):
    department = make_department()
    long_ago = utcnow() - timedelta(days=30)
    report = dispatched(department, dispatched_at=long_ago, due_at=long_ago + timedelta(hours=4))
    reviewer = make_staff(Role.REVIEWER)
    with pytest.raises(InvalidTransition):
        services.suspend(report, reviewer, " ")
    services.suspend(report, reviewer, "需要市级资金", expected_version=report.version)
    assert report.status is S.SUSPENDED
    assert services.queue("suspended").items == [report]
    before = utcnow()
    services.resume(report, reviewer, expected_version=report.version)
    assert report.status is S.DISPATCHED and report.department is department
    assert report.dispatched_at >= before
    assert report.due_at == services.working_calendar().add(report.dispatched_at, 4, HOURS)
    assert handling.deadline_light(report, now=report.dispatched_at) is Light.GREEN
    assert actions(report)[-2:] == ["suspend", "resume"]


# --- Escalation ---------------------------------------------------------------------------------------------------


def test_escalate_tells_the_supervisors_and_the_department_head_urgently(app, ctx):
    department, other = make_department(), make_department()
    head, worker = make_staff(Role.DEPARTMENT, department, head=True), make_staff(Role.DEPARTMENT, department)
    other_head = make_staff(Role.DEPARTMENT, other, head=True)
    admins = [make_staff(Role.ADMIN), make_staff(Role.ADMIN)]
    make_staff(Role.ADMIN, active=False)
    reviewer = make_staff(Role.REVIEWER, on_duty=True)
    with pytest.raises(InvalidTransition):
        services.escalate(dispatched(department), reviewer)  # only supervisors (and the scheduler) escalate
    report = dispatched(department)
    services.escalate(report, admins[0], "群众反映强烈")
    assert report.escalated_at is not None and report.status is S.DISPATCHED
    assert events_of(report)[-1].action == "escalate"
    for user in (head, *admins):
        [message] = notifications_of(user, "escalated")
        assert message.urgent
    for user in (worker, other_head, reviewer):
        assert notifications_of(user, "escalated") == []
    assert sorted(sms_phones(app)) == sorted([head.phone, admins[0].phone, admins[1].phone])


def test_escalate_overdue_picks_only_overdue_unescalated_handling_cases(app, ctx):
    department = make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    admin = make_staff(Role.ADMIN)
    now = utcnow()
    late, soon = now - timedelta(minutes=1), now + timedelta(hours=1)

    def case(status: S, due: datetime | None, **fields) -> Report:  # type: ignore[no-untyped-def]
        return make_case(
            status=status, department_id=department.id, dispatched_at=now - timedelta(days=2), due_at=due, **fields
        )

    overdue = [case(S.DISPATCHED, late), case(S.SIGNED, late), case(S.IN_PROGRESS, late), case(S.REWORK, late)]
    not_due = [
        case(S.DISPATCHED, soon),
        case(S.SIGNED, None),
        case(S.SIGNED, late, escalated_at=now - timedelta(days=1)),
        case(S.SUSPENDED, late),
        case(S.AWAITING_CHECK, late),
        case(S.CLOSED, late),
        case(S.RETURNED, late),
    ]
    assert services.escalate_overdue(now=now - timedelta(hours=2)) == []

    escalated = services.escalate_overdue(now=now)
    assert sorted(r.id for r in escalated) == sorted(r.id for r in overdue)
    for report in overdue:
        event = events_of(report)[-1]
        assert report.escalated_at is not None
        assert (event.action, event.actor_role, event.actor_id) == ("escalate", "system", None)
        assert event.note == gettext("Past the deadline")
    for report in not_due:
        assert "escalate" not in actions(report)
    assert len(notifications_of(head, "escalated")) == len(overdue)
    assert len(notifications_of(admin, "escalated")) == len(overdue)
    assert all(n.urgent for n in notifications_of(admin, "escalated"))
    assert sorted(sms_phones(app)) == sorted([head.phone, admin.phone] * len(overdue))
    assert services.escalate_overdue(now=now) == []


# --- The queue ------------------------------------------------------------------------------------------------


def test_queue_puts_emergencies_first_then_severity_then_the_oldest(ctx):
    t0 = utcnow() - timedelta(days=1)
    at = [t0 + timedelta(minutes=n) for n in range(6)]
    general_old = make_case(created_at=at[0], severity=Severity.GENERAL)
    unrated = make_case(created_at=at[1])
    critical = make_case(created_at=at[4], severity=Severity.CRITICAL)
    major = make_case(created_at=at[2], severity=Severity.MAJOR)
    emergency_general = make_case(created_at=at[5], severity=Severity.GENERAL, emergency=True)
    urgent = make_case(created_at=at[3], severity=Severity.URGENT)
    make_case(status=S.DISPATCHED, created_at=t0 - timedelta(days=1), emergency=True)  # another queue
    page = services.queue("review")
    assert page.items == [emergency_general, critical, urgent, major, general_old, unrated]
    assert (page.total, page.pages, page.page) == (6, 1, 1)

    second = services.queue("review", page=2, per_page=4)
    assert second.items == [general_old, unrated] and second.total == 6 and second.pages == 2
    assert services.queue("review", emergency_only=True).items == [emergency_general]
    assert services.queue("no-such-queue").items == page.items


def test_queue_filters_by_group_and_street(ctx):
    grid = make_grid("140109001001001")
    other = make_grid("140109002001001", lat=LAT + 0.01)
    rubbish_here = make_case(category_code=RUBBISH, grid_code=grid.code)
    light_here = make_case(category_code=STREET_LIGHT, grid_code=grid.code)
    rubbish_there = make_case(category_code=RUBBISH, grid_code=other.code)
    make_case(category_code=RUBBISH)  # outside every grid
    assert {r.id for r in services.queue(group="D", street="140109001").items} == {rubbish_here.id}
    assert {r.id for r in services.queue(street="140109001").items} == {rubbish_here.id, light_here.id}
    assert {r.id for r in services.queue(group="B").items} == {light_here.id}
    assert services.queue(street="140109002").total == 1 and rubbish_there in services.queue(street="140109002").items
    assert services.queue(street="1401%").total == 0  # LIKE wildcards are taken literally


def test_each_queue_shows_its_statuses_and_counts(ctx):
    department = make_department()
    by_status = {status: make_case(status=status, department_id=department.id) for status in S}
    make_case(status=S.PENDING_REVIEW)
    for name, statuses in services.QUEUES.items():
        page = services.queue(name)
        assert {r.id for r in page.items} >= {by_status[s].id for s in statuses}, name
        assert all(r.status in statuses for r in page.items), name
    counts = services.queue_counts()
    assert set(counts) == set(services.QUEUES)
    assert counts["review"] == 2 and counts["handling"] == 4
    assert counts["check"] == counts["returned"] == counts["suspended"] == counts["volunteers"] == 1


def test_queue_pages_are_clamped(ctx):
    report = make_case()
    for page in (0, -3):
        result = services.queue(page=page)
        assert result.items == [report] and result.page == 1


# --- Case view helpers ------------------------------------------------------------------------------------------


def test_reporter_record_counts_opened_and_refused_reports(ctx):
    assert services.reporter_record(None) is None
    resident = make_user()
    assert services.reporter_record(resident) == services.ReporterRecord(total=0, valid=0, invalid=0)
    for status in (S.PENDING_REVIEW, S.REJECTED, S.REJECTED, S.DISPATCHED, S.CLOSED, S.AWAITING_CHECK):
        make_case(resident, status=status)
    make_case(status=S.REJECTED)  # someone else's
    assert services.reporter_record(resident) == services.ReporterRecord(total=6, valid=3, invalid=2)


def test_nearby_cases_are_the_other_reports_around_nearest_first(ctx):
    metre = 1 / 111_195  # degrees of latitude per metre
    here = make_case()
    at_150 = make_case(lat=LAT + 150 * metre, category_code=STREET_LIGHT, status=S.CLOSED)
    at_50 = make_case(lat=LAT - 50 * metre, status=S.DISPATCHED)
    make_case(lat=LAT + 10 * metre, status=S.REJECTED)
    make_case(lat=LAT + 500 * metre)
    make_case(lat=None, lon=None)
    found = services.nearby_cases(here)
    assert [n.report for n in found] == [at_50, at_150]
    assert found[0].distance_m == pytest.approx(50, rel=0.02) and found[1].distance_m == pytest.approx(150, rel=0.02)
    assert [n.report for n in services.nearby_cases(here, limit=1)] == [at_50]
    assert [n.report for n in services.nearby_cases(here, radius_m=100)] == [at_50]
    assert services.nearby_cases(make_case(lat=None, lon=None)) == []


def test_get_case_and_is_final(ctx):
    report = make_case()
    assert services.get_case(report.id) is report
    with pytest.raises(NotFound):
        services.get_case(report.id + 1000)
    assert not services.is_final(report)
    assert services.is_final(make_case(status=S.REJECTED)) and services.is_final(make_case(status=S.CLOSED))


def test_deadlines_are_aware_utc(ctx):
    report = make_case(status=S.ACCEPTED, severity=Severity.GENERAL)
    services.dispatch(report, make_staff(Role.REVIEWER), make_department())
    db.session.expire(report)
    assert report.due_at.tzinfo is not None and report.due_at.utcoffset() == timedelta(0)
    assert report.due_at.astimezone(UTC) == report.due_at


# --- Concurrent updates: every service refuses with AlreadyHandled, never a crash --------------------------------


def _bump_version_elsewhere(report_id: int) -> None:
    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE reports SET version = version + 1 WHERE id = :id"), {"id": report_id})


CONCURRENT = {
    "accept": (
        S.PENDING_REVIEW,
        lambda r, u, d: services.accept(r, u, category_code=RUBBISH, severity=Severity.GENERAL, department=d),
    ),
    "reject": (S.PENDING_REVIEW, lambda r, u, d: services.reject(r, u, reason="false_report")),
    "dispatch": (S.ACCEPTED, lambda r, u, d: services.dispatch(r, u, d)),
    "redispatch": (S.RETURNED, lambda r, u, d: services.redispatch(r, u, d, expected_version=r.version)),
    "close": (S.AWAITING_CHECK, lambda r, u, d: services.close(r, u)),
    "send_back": (S.AWAITING_CHECK, lambda r, u, d: services.send_back(r, u, "重做")),
    "suspend": (S.SIGNED, lambda r, u, d: services.suspend(r, u, "挂账")),
    "resume": (S.SUSPENDED, lambda r, u, d: services.resume(r, u)),
    "escalate": (S.SIGNED, lambda r, u, d: services.escalate(r, None)),
}


@pytest.mark.commits  # several connections: needs real commits
@pytest.mark.parametrize("name", sorted(CONCURRENT))
def test_a_concurrent_change_makes_any_review_action_already_handled(app, ctx, name):
    status, action = CONCURRENT[name]
    department = make_department()
    reviewer = make_staff(Role.ADMIN)
    report = make_case(status=status, severity=Severity.GENERAL, department_id=department.id)
    report_id = report.id
    db.session.commit()
    _bump_version_elsewhere(report_id)
    with pytest.raises(AlreadyHandled):
        action(report, reviewer, department)
    db.session.rollback()
    assert db.session.get(Report, report_id).status is status
    assert actions(db.session.get(Report, report_id)) == ["submit"]


def test_escalating_a_case_without_a_department_tells_the_supervisors(app, ctx):
    admin = make_staff(Role.ADMIN)
    head = make_staff(Role.DEPARTMENT, make_department(), head=True)
    report = make_case(status=S.IN_PROGRESS, category_code=LITTER, handler_id=make_staff(Role.VOLUNTEER).id)
    services.escalate(report, admin)
    assert [n.kind for n in notifications_of(admin)] == ["escalated"]
    assert notifications_of(head) == [] and sms_phones(app) == [admin.phone]


def test_send_back_of_a_claimed_volunteer_case_routes_it_to_a_department(ctx, storage):
    owner = make_department()
    volunteer = make_staff(Role.VOLUNTEER)
    report = make_case(status=S.ACCEPTED, category_code=LITTER, grid_code=make_grid(department=owner).code)
    handling.claim(report, volunteer)
    handling.post_result(report, volunteer, note="", photos=[jpeg_bytes(size=(64, 48))], storage=storage)
    assert report.status is S.AWAITING_CHECK and not report.self_handled and report.department_id is None
    services.send_back(report, make_staff(Role.REVIEWER), "没有清理干净")
    assert report.status is S.REWORK and report.department is owner and report.handler_id is None
    assert handling.my_claims(volunteer) == []


def test_correcting_the_category_to_a_safety_critical_one_starts_the_plan(app, ctx):
    department = make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    report = make_case(category_code=RUBBISH)
    assert not report.emergency
    services.accept(
        report, make_staff(Role.REVIEWER), category_code=GAS_LEAK, severity=Severity.GENERAL, department=department
    )
    assert report.emergency and actions(report)[-1] == "emergency"
    assert [n.urgent for n in notifications_of(head, "emergency")] == [True]
