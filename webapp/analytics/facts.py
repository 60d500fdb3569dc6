"""What the roll-up stores, as one SQL statement: the per-day facts about the reports received in a time window.

``daily_facts`` is the single definition of every figure in ``analytics_daily``. The roll-up inserts its rows
(``rollup.refresh_days``); the dashboard runs the very same statement live when a filter is finer than the roll-up
(one grid), so the two can never disagree. Times are grouped by the local day and hour (``TIMEZONE``, a fixed
offset: China has no daylight saving time).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webapp.analytics.models import BUCKETS, COUNTERS, HOURS, RECUR_WINDOW, STAGE_EDGES, STAGES
from webapp.db import db
from webapp.feedback.models import Rating
from webapp.localtime import offset_minutes
from webapp.reports.models import Category, Report, ReportEvent
from webapp.reports.status import ReportStatus

# A report counts as "synced from offline" when the phone saved it this long before the server got it.
OFFLINE_AFTER = timedelta(minutes=5)
RESULT_ACTIONS = ("report_result", "volunteer_result", "self_fix")  # the case enters 待核查 with a result
CHECK_ACTIONS = (*RESULT_ACTIONS, "reopen")


def _postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def local_day(column: sa.ColumnElement[datetime]) -> sa.ColumnElement[date]:
    minutes = offset_minutes()
    if _postgres():
        return sa.cast(column + sa.text(f"interval '{minutes} minutes'"), sa.Date)
    return sa.type_coerce(sa.func.date(column, f"{minutes:+d} minutes"), sa.Date)


def local_hour(column: sa.ColumnElement[datetime]) -> sa.ColumnElement[int]:
    minutes = offset_minutes()
    if _postgres():
        return sa.cast(sa.extract("hour", column + sa.text(f"interval '{minutes} minutes'")), sa.Integer)
    return sa.cast(sa.func.strftime("%H", column, f"{minutes:+d} minutes"), sa.Integer)


def hours_between(start: sa.ColumnElement[datetime], end: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
    if _postgres():
        return sa.extract("epoch", end - start) / 3600.0
    # julianday() is a float of days: round to whole seconds so 1 h is 1.0, not 0.99999 (bucket edges).
    return sa.func.round((sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0) / 3600.0


def interval(span: timedelta) -> sa.ColumnElement[Any]:
    """A PostgreSQL interval literal (a bound timedelta would be taken for a UTC datetime)."""
    return sa.literal_column(f"interval '{int(span.total_seconds())} seconds'")


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _buckets(hours: sa.ColumnElement[float]) -> list[sa.ColumnElement[int]]:
    """One count per duration bucket; a negative duration (a clock set wrong) falls into the first."""
    columns = []
    for bucket in range(BUCKETS):
        condition = hours.is_not(None)
        if bucket < len(STAGE_EDGES):
            condition = condition & (hours < STAGE_EDGES[bucket])
        if bucket > 0:
            condition = condition & (hours >= STAGE_EDGES[bucket - 1])
        columns.append(_count(condition))
    return columns


def _window(start: datetime, end: datetime, grid_codes: list[str] | None) -> sa.ColumnElement[bool]:
    in_window = (Report.created_at >= start) & (Report.created_at < end)
    if grid_codes is not None:
        in_window = in_window & Report.grid_code.in_(grid_codes)
    return in_window


def _per_report(start: datetime, end: datetime, grid_codes: list[str] | None) -> sa.CTE:
    """One row per report with everything the roll-up counts worked out once (day, hour, stage hours, flags).
    MATERIALIZED, so SQLite does not recompute the date functions in every one of the roll-up's sums."""
    in_window = _window(start, end, grid_codes)
    ids = sa.select(Report.id).where(in_window)
    events = (
        sa.select(
            ReportEvent.report_id.label("report_id"),
            sa.func.max(sa.case((ReportEvent.action == "return", 1), else_=0)).label("returned"),
            sa.func.max(sa.case((ReportEvent.action == "rework", 1), else_=0)).label("rework"),
            sa.func.min(sa.case((ReportEvent.action.in_(RESULT_ACTIONS), ReportEvent.at))).label("first_result"),
            sa.func.max(sa.case((ReportEvent.action.in_(CHECK_ACTIONS), ReportEvent.at))).label("last_check"),
        )
        .where(ReportEvent.report_id.in_(ids))
        .group_by(ReportEvent.report_id)
        .subquery("ev")
    )
    ratings = (
        sa.select(
            Rating.report_id.label("report_id"),
            sa.func.count().label("rated"),
            sa.func.sum(Rating.stars).label("stars"),
        )
        .where(Rating.report_id.in_(ids))
        .group_by(Rating.report_id)
        .subquery("rt")
    )
    closed = Report.status == ReportStatus.CLOSED
    offline = Report.captured_at.is_not(None) & (Report.captured_at < Report.created_at - interval(OFFLINE_AFTER))
    if not _postgres():  # SQLite compares the stored text: shift it with datetime() instead
        offline = Report.captured_at.is_not(None) & (
            Report.captured_at < sa.func.datetime(Report.created_at, f"-{int(OFFLINE_AFTER.total_seconds())} seconds")
        )
    flag = lambda condition: sa.case((condition, 1), else_=0)  # noqa: E731
    return (
        sa.select(
            local_day(Report.created_at).label("day"),
            sa.func.coalesce(sa.func.substr(Report.grid_code, 1, 9), "").label("street_code"),
            Category.group_code.label("group_code"),
            Report.category_code.label("category_code"),
            sa.func.coalesce(Report.department_id, 0).label("department_id"),
            local_hour(Report.created_at).label("hour"),
            flag(Report.accepted_at.is_not(None)).label("accepted"),
            flag(Report.status == ReportStatus.REJECTED).label("rejected"),
            flag(closed).label("closed"),
            flag(Report.due_at.is_not(None)).label("dispatched"),
            flag(closed & Report.due_at.is_not(None)).label("closed_due"),
            flag(closed & Report.due_at.is_not(None) & (Report.closed_at <= Report.due_at)).label("on_time"),
            sa.func.coalesce(events.c.returned, 0).label("returned"),
            sa.func.coalesce(events.c.rework, 0).label("rework"),
            flag(Report.self_handled | Report.handler_id.is_not(None)).label("self_handled"),
            flag(offline).label("offline"),
            sa.func.coalesce(ratings.c.rated, 0).label("rated"),
            sa.func.coalesce(ratings.c.stars, 0).label("stars"),
            flag(Report.emergency).label("emergency"),
            hours_between(Report.created_at, Report.accepted_at).label("review"),
            hours_between(Report.accepted_at, Report.dispatched_at).label("dispatch"),
            sa.case(
                (
                    events.c.first_result >= Report.dispatched_at,
                    hours_between(Report.dispatched_at, events.c.first_result),
                )
            ).label("handling"),
            sa.case((closed, hours_between(events.c.last_check, Report.closed_at))).label("verification"),
        )
        .select_from(Report)
        .join(Category, Category.code == Report.category_code)
        .outerjoin(events, events.c.report_id == Report.id)
        .outerjoin(ratings, ratings.c.report_id == Report.id)
        .where(in_window)
        .cte("per_report")
        .prefix_with("MATERIALIZED")
    )


def daily_facts(start: datetime, end: datetime, *, grid_codes: list[str] | None = None) -> sa.Select:
    """Per local day × street × category × department: the roll-up's columns for reports created in [start, end)."""
    r = _per_report(start, end, grid_codes)
    keys = [r.c.day, r.c.street_code, r.c.group_code, r.c.category_code, r.c.department_id]
    measures = [sa.func.count().label("reports")]
    measures += [sa.func.sum(r.c[name]).label(name) for name in COUNTERS[1:]]
    measures += [_count(r.c.hour == index).label(name) for index, name in enumerate(HOURS)]
    for stage in STAGES:
        measures += [column.label(f"{stage}_b{i}") for i, column in enumerate(_buckets(r.c[stage]))]
    return sa.select(*keys, *measures).group_by(*keys)


def recurrences(start: datetime, end: datetime, *, grid_codes: list[str] | None = None) -> sa.Select:
    """The closed reports received in [start, end) after which the same category was reported in the same grid
    within RECUR_WINDOW of closing: one row each, with what the dashboard filters on."""
    later = sa.orm.aliased(Report)
    if _postgres():
        window_end = Report.closed_at + interval(RECUR_WINDOW)
    else:
        window_end = sa.func.datetime(Report.closed_at, f"+{RECUR_WINDOW.days} days")
    came_back = sa.exists().where(
        later.grid_code == Report.grid_code,
        later.category_code == Report.category_code,
        later.created_at > Report.closed_at,
        later.created_at <= window_end,
    )
    return (
        sa.select(
            Report.id.label("report_id"),
            local_day(Report.created_at).label("day"),
            Report.grid_code.label("grid_code"),
            Category.group_code.label("group_code"),
            Report.category_code.label("category_code"),
            sa.func.coalesce(Report.department_id, 0).label("department_id"),
        )
        .join(Category, Category.code == Report.category_code)
        .where(
            _window(start, end, grid_codes),
            Report.grid_code.is_not(None),
            Report.status == ReportStatus.CLOSED,
            came_back,
        )
    )
