"""The one module that writes analytics data: refreshing the roll-ups ``analytics_daily`` and
``analytics_recurrences``.

Analytics reads everything and writes nothing — except these derived tables, which is allowed because they hold no
facts of their own: every row is recomputed from reports, events and ratings (``facts.daily_facts`` and
``facts.recurrences``), a whole local day at a time, and the tables can be dropped and rebuilt at any moment with
``flask analytics-rollup``.

It is kept current in two ways:

* **on write**: a session hook notes the reports touched by a flush (new or changed reports, new events, ratings)
  and, just before the transaction commits, recomputes the days those reports were received (and the days of
  earlier closed reports a new one makes "recurring"). A day is a few thousand reports at most: 20 ms at 100,000
  reports, 65–85 ms at 1,000,000 (bench/analytics.py). It runs inside the writer's transaction, so the roll-up
  commits (or rolls back) with the change that caused it.
* **by command**: ``flask analytics-rollup [--since DAY] [--until DAY]`` for a scheduler (e.g. nightly) and after
  bulk loads that bypass the ORM (imports, the benchmark).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from webapp.analytics.facts import daily_facts, interval, local_day, recurrences
from webapp.analytics.models import KEYS, MEASURES, RECUR_WINDOW, analytics_daily, analytics_recurrences
from webapp.db import db
from webapp.feedback.models import Rating
from webapp.localtime import days_bounds
from webapp.reports.models import Report, ReportEvent

_PENDING = "analytics_rollup_reports"
_ADVISORY_LOCK = 0x616E6C  # "anl": serialises refreshes of the roll-up on PostgreSQL


def refresh_days(days: Iterable[date], session: Session | None = None) -> int:
    """Recompute the roll-up rows of these local days; returns the number of rows written."""
    written = 0
    for start, end in _runs(sorted(set(days))):
        written += _refresh_range(session or db.session, start, end)
    return written


def refresh_all(since: date | None = None, until: date | None = None, *, chunk_days: int = 31) -> int:
    """Rebuild the roll-up for every day with reports (or the given range), a month at a time."""
    bounds = db.session.execute(sa.select(sa.func.min(Report.created_at), sa.func.max(Report.created_at))).one()
    if bounds[0] is None:
        db.session.execute(_delete_between(since, until))
        db.session.execute(_delete_between(since, until, analytics_recurrences))
        return 0
    first = since or _to_local(bounds[0]) - timedelta(days=1)
    last = until or _to_local(bounds[1]) + timedelta(days=1)
    for table in (analytics_daily, analytics_recurrences):
        db.session.execute(_delete_between(None if since is None else first, None if until is None else last, table))
    day = first
    while day <= last:
        chunk_end = min(day + timedelta(days=chunk_days - 1), last)
        _refresh_range(db.session, day, chunk_end, delete=False)
        day = chunk_end + timedelta(days=1)
    # Counted, not summed from rowcount: drivers do not all report it for INSERT … SELECT.
    in_range = analytics_daily.c.day.between(first, last)
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(analytics_daily).where(in_range)) or 0)


def _to_local(moment: Any) -> date:
    return db.session.scalar(sa.select(local_day(sa.literal(moment, Report.created_at.type))))  # type: ignore[no-any-return]


def _delete_between(since: date | None, until: date | None, table: sa.Table = analytics_daily) -> sa.Delete:
    stmt = table.delete()
    if since is not None:
        stmt = stmt.where(table.c.day >= since)
    if until is not None:
        stmt = stmt.where(table.c.day <= until)
    return stmt


def _runs(days: list[date]) -> Iterable[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, so a refresh of a week is one statement, not seven."""
    run: list[date] = []
    for day in days:
        if run and day != run[-1] + timedelta(days=1):
            yield run[0], run[-1]
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1]


def _refresh_range(session: Any, first: date, last: date, *, delete: bool = True) -> int:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
    if delete:
        session.execute(_delete_between(first, last))
        session.execute(_delete_between(first, last, analytics_recurrences))
    start, end = days_bounds(first, last)
    facts = daily_facts(start, end).subquery()
    names = [*KEYS, *MEASURES]
    result = session.execute(analytics_daily.insert().from_select(names, sa.select(*[facts.c[name] for name in names])))
    came_back = recurrences(start, end).subquery()
    session.execute(analytics_recurrences.insert().from_select(list(came_back.c.keys()), sa.select(*came_back.c)))
    return max(result.rowcount or 0, 0)


def _earlier_closed_days(report_ids: list[int]) -> sa.Select:
    """Days of closed reports that these reports may have made "recurring" (same grid and category, closed within
    RECUR_WINDOW before the new one came in)."""
    new, old = sa.orm.aliased(Report), sa.orm.aliased(Report)
    return (
        sa.select(sa.distinct(local_day(old.created_at)))
        .join(new, (new.grid_code == old.grid_code) & (new.category_code == old.category_code))
        .where(
            new.id.in_(report_ids),
            old.id != new.id,
            old.closed_at < new.created_at,
            old.closed_at >= new.created_at - interval(RECUR_WINDOW)
            if db.engine.dialect.name == "postgresql"
            else old.closed_at >= sa.func.datetime(new.created_at, f"-{RECUR_WINDOW.days} days"),
        )
    )


# --- Kept current on write --------------------------------------------------------------------------------------


def _note_touched_reports(session: Session, flush_context: Any) -> None:
    pending: set[int] = session.info.setdefault(_PENDING, set())
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Report) and obj.id is not None:
            pending.add(obj.id)
        elif isinstance(obj, ReportEvent | Rating) and obj.report_id is not None:
            pending.add(obj.report_id)


def _refresh_before_commit(session: Session) -> None:
    session.flush()  # what is still pending gets noted by the after_flush hook
    pending: set[int] = session.info.pop(_PENDING, set())
    if not pending:
        return
    days: set[date] = set()
    ids = sorted(pending)
    for index in range(0, len(ids), 500):
        batch = ids[index : index + 500]
        days.update(session.scalars(sa.select(sa.distinct(local_day(Report.created_at))).where(Report.id.in_(batch))))
        days.update(session.scalars(_earlier_closed_days(batch)))
    refresh_days((day for day in days if day is not None), session)
    session.info.pop(_PENDING, None)  # the refresh itself changes no report


def _forget(session: Session, *args: Any) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Keep the roll-up current on every ORM commit (called once by the application factory)."""
    if sa.event.contains(Session, "after_flush", _note_touched_reports):
        return
    sa.event.listen(Session, "after_flush", _note_touched_reports)
    sa.event.listen(Session, "before_commit", _refresh_before_commit)
    sa.event.listen(Session, "after_rollback", _forget)
