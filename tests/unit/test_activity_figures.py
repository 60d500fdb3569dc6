"""Dashboard figures on activities: per kind and street, sign-ups against attendance, volunteer hours, and
attendees who reported or fixed a problem within 30 days after their first activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import make_report, make_user
from webapp import localtime
from webapp.accounts.models import Role
from webapp.activities import checkin, services
from webapp.activities.models import ActivityKind, CheckinMethod
from webapp.analytics import activities
from webapp.analytics.queries import Filters
from webapp.db import db, utcnow
from webapp.reports.status import ReportStatus

pytestmark = pytest.mark.usefixtures("ctx")


def held(admin, kind, start, minutes=120, **extra):  # type: ignore[no-untyped-def]
    return services.create_activity(
        admin,
        services.ActivityData(
            kind=kind,
            title="活动",
            description="",
            address="某地",
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            capacity=10,
            **extra,
        ),
        now=start - timedelta(days=1),
    )


def test_figures_per_kind_attendance_hours_and_follow_up():
    admin = make_user(Role.ADMIN)
    now = utcnow()
    early = held(admin, ActivityKind.GARBAGE_SORTING, now - timedelta(days=20))
    volunteer = held(admin, ActivityKind.VOLUNTEER_DAY, now - timedelta(days=10), min_stay_minutes=30)
    outside = held(admin, ActivityKind.OTHER, now - timedelta(days=400))
    a, b, c, walk_in = make_user(), make_user(), make_user(), make_user()
    for person in (a, b, c):
        services.sign_up(person, early, now=early.starts_at - timedelta(days=2))
    services.sign_up(a, volunteer, now=volunteer.starts_at - timedelta(days=2))
    checkin._check_in(early, a, at=early.starts_at, method=CheckinMethod.QR)
    checkin._check_in(early, b, at=early.starts_at, method=CheckinMethod.QR)
    checkin._check_in(early, walk_in, at=early.starts_at, method=CheckinMethod.ORGANISER)
    checkin._check_in(volunteer, a, at=volunteer.starts_at, method=CheckinMethod.QR)
    checkin._check_out(volunteer, checkin.checkin_of(volunteer, a), volunteer.starts_at + timedelta(minutes=90))
    checkin._check_in(outside, c, at=outside.starts_at, method=CheckinMethod.QR)  # c's first activity: long ago
    # a reports a problem a week after the first activity; b reported one before it (does not count).
    report = make_report(a)
    report.created_at = early.starts_at + timedelta(days=7)
    before = make_report(b)
    before.created_at = early.starts_at - timedelta(days=1)
    fixed = make_report(make_user())
    fixed.handler_id, fixed.status, fixed.closed_at = (
        walk_in.id,
        ReportStatus.CLOSED,
        early.starts_at + timedelta(days=3),
    )
    db.session.flush()

    today = localtime.today()
    result = activities.figures(Filters(start=today - timedelta(days=89), end=today))
    assert result.activities == 2 and result.signed_up == 4 and result.attended == 4
    assert result.attended_after_signing_up == 3 and result.attendance_rate == pytest.approx(0.75)
    assert result.volunteer_minutes == 90
    kinds = {row.key: (row.activities, row.signed_up, row.attended, row.minutes) for row in result.by_kind}
    assert kinds == {"garbage_sorting": (1, 3, 3, 0), "volunteer_day": (1, 1, 1, 90)}
    assert result.first_timers == 3  # a, b and the walk-in; c came first long before
    assert (result.then_reported, result.then_fixed, result.then_either) == (1, 1, 2)
    assert [row.label for row in result.by_street] == ["—"]
