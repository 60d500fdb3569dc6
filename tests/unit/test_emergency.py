"""The emergency plan: started by a safety-critical submission (signal) or an urgent/critical case at 立案; alerts
reach the reviewers on duty (or every reviewer), the supervisors and the handling department's head, by SMS too;
the red banner stays until someone acknowledges."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import jpeg_bytes, make_report, make_user
from tests.unit.cases import (
    GAS_LEAK,
    RUBBISH,
    events_of,
    make_case,
    make_department,
    make_staff,
    notifications_of,
    sms_phones,
)
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError
from webapp.notifications import services as notifications
from webapp.notifications.models import Notification
from webapp.reports.models import Severity
from webapp.reports.status import ReportStatus
from webapp.review import emergency
from webapp.review import services as review
from webapp.review.workflow import InvalidTransition

S = ReportStatus


def submit(category_code: str, **overrides):  # type: ignore[no-untyped-def]
    return make_report(category_code=category_code, photos=[jpeg_bytes(size=(64, 48))], **overrides)


def banner_ids(user) -> list[int]:  # type: ignore[no-untyped-def]
    return [banner.id for banner in emergency.unacknowledged(user)]


def test_a_safety_critical_submission_starts_the_plan(app, ctx):
    on_duty, off_duty = make_staff(Role.REVIEWER, on_duty=True), make_staff(Role.REVIEWER)
    admin = make_staff(Role.ADMIN)
    make_staff(Role.ADMIN, active=False)
    head = make_staff(Role.DEPARTMENT, make_department(), head=True)  # no department has the case yet
    report = submit(GAS_LEAK, address="兴华街 12 号")
    assert report.emergency and report.emergency_acknowledged_at is None
    assert report.status is S.PENDING_REVIEW
    event = events_of(report)[-1]
    assert (event.action, event.actor_role, event.actor_id, event.to_status) == (
        "emergency",
        "system",
        None,
        S.PENDING_REVIEW,
    )
    for user in (on_duty, admin):
        [alert] = notifications_of(user, "emergency")
        assert alert.urgent and alert.params["place"] == "兴华街 12 号" and alert.report_id == report.id
    assert notifications_of(off_duty) == [] and notifications_of(head) == []
    assert sorted(sms_phones(app)) == sorted([on_duty.phone, admin.phone])  # once committed
    assert all("兴华街 12 号" in message.text for message in app.extensions["sms"].sent)


def test_an_ordinary_submission_starts_nothing(app, ctx):
    make_staff(Role.REVIEWER, on_duty=True)
    report = submit(RUBBISH)
    assert not report.emergency
    assert [e.action for e in events_of(report)] == ["submit"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert sms_phones(app) == []


def test_without_anyone_on_duty_every_reviewer_is_alerted(app, ctx):
    reviewers = [make_staff(Role.REVIEWER), make_staff(Role.REVIEWER)]
    make_staff(Role.REVIEWER, active=False)
    assert notifications.reviewers_on_duty() == reviewers
    report = submit(GAS_LEAK, address="")  # no address: the place is given by its coordinates
    for user in reviewers:
        [alert] = notifications_of(user, "emergency")
        assert alert.params["place"] == f"{report.lat:.5f}, {report.lon:.5f}"
    assert sorted(sms_phones(app)) == sorted(u.phone for u in reviewers)


def test_accepting_a_safety_critical_case_brings_in_the_department_head(app, ctx):
    department = make_department()
    head, worker = make_staff(Role.DEPARTMENT, department, head=True), make_staff(Role.DEPARTMENT, department)
    reviewer = make_staff(Role.REVIEWER, on_duty=True)
    report = submit(GAS_LEAK)
    assert len(notifications_of(reviewer, "emergency")) == 1
    db.session.commit()
    app.extensions["sms"].sent.clear()
    review.accept(report, reviewer, category_code=GAS_LEAK, severity=Severity.GENERAL, department=department)
    # The plan already runs: no second emergency event, no second alert to the reviewers, the head is told now.
    assert [e.action for e in events_of(report)] == ["submit", "emergency", "accept", "dispatch"]
    assert len(notifications_of(reviewer, "emergency")) == 1
    [alert] = notifications_of(head, "emergency")
    assert alert.urgent
    assert notifications_of(worker, "emergency") == [] and [n.kind for n in notifications_of(worker)] == ["dispatched"]
    assert sms_phones(app) == [head.phone]


@pytest.mark.parametrize("severity", [Severity.URGENT, Severity.CRITICAL])
def test_an_urgent_or_critical_case_starts_the_plan_at_accept(app, ctx, severity):
    department = make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    reviewer, admin = make_staff(Role.REVIEWER), make_staff(Role.ADMIN)
    report = make_case()
    review.accept(report, reviewer, category_code=RUBBISH, severity=severity, department=department)
    assert report.emergency
    assert events_of(report)[-1].action == "emergency" and events_of(report)[-1].note == severity.label
    for user in (head, reviewer, admin):
        assert len(notifications_of(user, "emergency")) == 1
    assert sorted(sms_phones(app)) == sorted([head.phone, reviewer.phone, admin.phone])


@pytest.mark.parametrize("severity", [Severity.GENERAL, Severity.MAJOR])
def test_general_and_major_cases_are_not_emergencies(app, ctx, severity):
    make_staff(Role.ADMIN)
    report = make_case()
    review.accept(
        report, make_staff(Role.REVIEWER), category_code=RUBBISH, severity=severity, department=make_department()
    )
    assert not report.emergency and sms_phones(app) == []


def test_a_closed_case_cannot_start_the_plan(ctx):
    report = make_case(status=S.CLOSED)
    with pytest.raises(InvalidTransition):
        emergency.start(report, make_staff(Role.REVIEWER))


def test_acknowledge_clears_the_banner_for_everyone(ctx):
    department = make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    reviewer, admin = make_staff(Role.REVIEWER), make_staff(Role.ADMIN)
    report = submit(GAS_LEAK)
    review.accept(report, reviewer, category_code=GAS_LEAK, severity=Severity.CRITICAL, department=department)
    other = submit(GAS_LEAK)
    for user in (head, reviewer, admin):
        assert report.id in banner_ids(user)
    assert other.id not in banner_ids(head)  # not (yet) the department's case

    emergency.acknowledge(report, head)
    assert report.emergency_acknowledged_at is not None and report.emergency_acknowledged_by_id == head.id
    assert events_of(report)[-1].action == "acknowledge"
    for user in (head, reviewer, admin):
        assert report.id not in banner_ids(user)
    assert banner_ids(reviewer) == [other.id]
    urgent = db.session.scalars(sa.select(Notification).where(Notification.report_id == report.id, Notification.urgent))
    assert all(n.acknowledged_at is not None for n in urgent)
    others = db.session.scalars(sa.select(Notification).where(Notification.report_id == other.id))
    assert all(n.acknowledged_at is None for n in others)

    first_at = report.emergency_acknowledged_at
    emergency.acknowledge(report, admin)  # a second acknowledgement changes nothing
    assert report.emergency_acknowledged_at == first_at and report.emergency_acknowledged_by_id == head.id
    assert [e.action for e in events_of(report)].count("acknowledge") == 1


def test_acknowledge_refusals(ctx):
    with pytest.raises(DomainError):
        emergency.acknowledge(make_case(), make_staff(Role.REVIEWER))  # not an emergency
    report = make_case(emergency=True)
    with pytest.raises(InvalidTransition):
        emergency.acknowledge(report, make_user())  # residents cannot


def test_unacknowledged_shows_open_emergencies_to_staff_only(ctx):
    department, other = make_department(), make_department()
    ours = make_case(emergency=True, status=S.DISPATCHED, department_id=department.id)
    theirs = make_case(emergency=True, status=S.DISPATCHED, department_id=other.id)
    unassigned = make_case(emergency=True)
    make_case(emergency=True, status=S.CLOSED)
    make_case(emergency=True, status=S.REJECTED)
    make_case(emergency=True, emergency_acknowledged_at=ours.created_at)
    make_case()
    assert {r.id for r in emergency.unacknowledged(make_staff(Role.REVIEWER))} == {ours.id, theirs.id, unassigned.id}
    assert {r.id for r in emergency.unacknowledged(make_staff(Role.ADMIN))} == {ours.id, theirs.id, unassigned.id}
    assert banner_ids(make_staff(Role.DEPARTMENT, department)) == [ours.id]
    assert emergency.unacknowledged(make_user()) == []
    assert emergency.unacknowledged(make_staff(Role.VOLUNTEER)) == []
    for _ in range(6):
        make_case(emergency=True)
    assert len(emergency.unacknowledged(make_staff(Role.REVIEWER))) == 5


def test_department_staff_without_a_department_see_no_emergencies(ctx):
    make_case(emergency=True)  # pending review: no department has it yet
    make_case(emergency=True, status=S.DISPATCHED, department_id=make_department().id)
    assert emergency.unacknowledged(make_staff(Role.DEPARTMENT)) == []


def test_only_changes_the_banner_shows_move_its_shared_counter(ctx):
    """Every bump updates one shared row: an emergency's notes, photos and events, written often, leave it alone."""
    from webapp.cache import CacheVersion

    def counter() -> int:
        return db.session.scalar(sa.select(CacheVersion.version).where(CacheVersion.name == "emergencies")) or 0

    department = make_department()
    before = counter()
    report = make_case(emergency=True, status=S.DISPATCHED)
    assert counter() > before  # a new emergency
    made = counter()
    ordinary = make_case()
    ordinary.description = "另一处"
    db.session.flush()
    assert counter() == made  # neither is nor was an emergency

    report.description = "井盖周围已设置警示"
    report.address = "千峰南路 12 号 东侧"
    db.session.flush()
    assert counter() == made  # nothing the banner shows

    for change in (
        lambda: setattr(report, "department_id", department.id),
        lambda: setattr(report, "status", S.IN_PROGRESS),
        lambda: setattr(report, "emergency_acknowledged_at", report.created_at),
        lambda: setattr(report, "emergency", False),
    ):
        now = counter()
        change()
        db.session.flush()
        assert counter() == now + 1
    assert banner_ids(make_staff(Role.REVIEWER)) == []
