"""Read-only figures on community activities for the dashboard: activities per kind and street, sign-ups against
attendance, volunteer hours, and whether attendees went on to use the platform (reported or fixed a problem within
30 days after their first activity) — the point of linking activities to Citizen Grid.

Activities count when they **start** in the date range; a street or district filter applies to the activity's
place; category filters do not apply (activities have no category).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from webapp.activities.models import Activity, ActivityKind, Checkin, Signup, SignupStatus
from webapp.analytics.queries import Filters
from webapp.db import db
from webapp.geo.models import Grid
from webapp.localtime import days_bounds
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus

FOLLOW_UP = timedelta(days=30)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    activities: int
    signed_up: int
    attended: int
    minutes: int

    @property
    def attendance_rate(self) -> float | None:
        return self.attended / self.signed_up if self.signed_up else None


@dataclass(frozen=True)
class ActivityFigures:
    by_kind: list[Row]
    by_street: list[Row]
    activities: int
    signed_up: int
    attended: int
    attended_after_signing_up: int
    volunteer_minutes: int
    first_timers: int  # attendees whose first activity ever is in the range
    then_reported: int  # … of whom reported a problem within 30 days after it
    then_fixed: int  # … fixed one as a volunteer within 30 days
    then_either: int

    @property
    def attendance_rate(self) -> float | None:
        return self.attended_after_signing_up / self.signed_up if self.signed_up else None

    @property
    def volunteer_hours(self) -> float:
        return self.volunteer_minutes / 60

    @property
    def follow_up_rate(self) -> float | None:
        return self.then_either / self.first_timers if self.first_timers else None


def _in_range(filters: Filters) -> list[sa.ColumnElement[bool]]:
    start, end = days_bounds(filters.start, filters.end)
    conditions = [Activity.starts_at >= start, Activity.starts_at < end, Activity.cancelled_at.is_(None)]
    if filters.grid:
        conditions.append(Activity.grid_code == filters.grid)
    elif filters.place_prefix:
        conditions.append(Activity.street_code.startswith(filters.place_prefix, autoescape=True))
    return conditions


def _rows(group: sa.ColumnElement, filters: Filters) -> dict[str | None, list[int]]:
    """[activities, confirmed sign-ups, check-ins, volunteer minutes] per value of ``group``."""
    conditions = _in_range(filters)
    out: dict[str | None, list[int]] = {}
    for key, n in db.session.execute(sa.select(group, sa.func.count()).where(*conditions).group_by(group)):
        out.setdefault(key, [0, 0, 0, 0])[0] = int(n)
    signed = (
        sa.select(group, sa.func.count())
        .select_from(Signup)
        .join(Activity, Activity.id == Signup.activity_id)
        .where(*conditions, Signup.status == SignupStatus.CONFIRMED)
        .group_by(group)
    )
    for key, n in db.session.execute(signed):
        out.setdefault(key, [0, 0, 0, 0])[1] = int(n)
    came = (
        sa.select(group, sa.func.count(), sa.func.coalesce(sa.func.sum(Checkin.minutes), 0))
        .select_from(Checkin)
        .join(Activity, Activity.id == Checkin.activity_id)
        .where(*conditions)
        .group_by(group)
    )
    for key, n, minutes in db.session.execute(came):
        row = out.setdefault(key, [0, 0, 0, 0])
        row[2], row[3] = int(n), int(minutes)
    return out


def figures(filters: Filters) -> ActivityFigures:
    conditions = _in_range(filters)
    kinds = _rows(Activity.kind, filters)
    by_kind = [Row(kind.value, kind.label, *kinds[kind]) for kind in ActivityKind if kind in kinds]
    streets = _rows(Activity.street_code, filters)
    names = dict(
        db.session.execute(
            sa.select(Grid.street_code, sa.func.max(Grid.street_name))
            .where(Grid.street_code.in_([code for code in streets if code]))
            .group_by(Grid.street_code)
        ).all()
    )
    by_street = sorted(
        (Row(code or "", (names.get(code) or code) if code else "—", *values) for code, values in streets.items()),
        key=lambda row: (-row.activities, row.key),
    )
    totals = [sum(row[i] for row in kinds.values()) for i in range(4)]
    attended_after_signing_up = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Checkin)
        .join(Activity, Activity.id == Checkin.activity_id)
        .join(
            Signup,
            sa.and_(
                Signup.activity_id == Checkin.activity_id,
                Signup.user_id == Checkin.user_id,
                Signup.status == SignupStatus.CONFIRMED,
            ),
        )
        .where(*conditions)
    )
    first = (
        sa.select(Checkin.user_id, sa.func.min(Checkin.checked_in_at).label("first_at"))
        .group_by(Checkin.user_id)
        .subquery("first")
    )
    start, end = days_bounds(filters.start, filters.end)
    # The first activity must itself match the filters (its place and dates).
    first_activity = sa.exists().where(
        Checkin.user_id == first.c.user_id,
        Checkin.checked_in_at == first.c.first_at,
        Activity.id == Checkin.activity_id,
        *conditions,
    )
    cohort = dict(
        db.session.execute(
            sa.select(first.c.user_id, first.c.first_at).where(
                first.c.first_at >= start, first.c.first_at < end, first_activity
            )
        ).all()
    )
    then_reported: set[int] = set()
    then_fixed: set[int] = set()
    if cohort:
        # Date arithmetic in SQL differs between SQLite and PostgreSQL: fetch the candidates, compare here.
        ids = list(cohort)
        for user_id, at in db.session.execute(
            sa.select(Report.reporter_id, Report.created_at).where(
                Report.reporter_id.in_(ids), Report.created_at >= start, Report.created_at < end + FOLLOW_UP
            )
        ):
            if cohort[user_id] <= at < cohort[user_id] + FOLLOW_UP:
                then_reported.add(user_id)
        for user_id, at in db.session.execute(
            sa.select(Report.handler_id, Report.closed_at).where(
                Report.handler_id.in_(ids),
                Report.status == ReportStatus.CLOSED,
                Report.closed_at >= start,
                Report.closed_at < end + FOLLOW_UP,
            )
        ):
            if cohort[user_id] <= at < cohort[user_id] + FOLLOW_UP:
                then_fixed.add(user_id)
    return ActivityFigures(
        by_kind=by_kind,
        by_street=by_street,
        activities=totals[0],
        signed_up=totals[1],
        attended=totals[2],
        attended_after_signing_up=int(attended_after_signing_up or 0),
        volunteer_minutes=totals[3],
        first_timers=len(cohort),
        then_reported=len(then_reported),
        then_fixed=len(then_fixed),
        then_either=len(then_reported | then_fixed),
    )
