"""The one module that writes analytics data: refreshing the roll-ups ``analytics_daily`` and
``analytics_recurrences``.

Analytics reads everything and writes nothing — except these derived tables, which is allowed because they hold no
facts of their own: every row is recomputed from reports, events and ratings (``facts.daily_facts`` and
``facts.recurrences``), a whole local day at a time, and the tables can be dropped and rebuilt at any moment with
``flask analytics-rollup``.

It is kept current in three ways:

* **after write**: a session hook notes the reports touched by a flush (new or changed reports, new events,
  ratings) and, just before the transaction commits, inserts one ``analytics_pending`` row per report — so the
  note commits (or rolls back) with the change. After the commit a background job (``webapp.jobs.tasks
  .refresh_rollup``) is queued, at most one at a time (a flag in the job queue coalesces a burst of writes into one
  job), which recomputes the days those reports were received (and the days of earlier closed reports a new one
  makes "recurring"), each day once, and removes the rows it counted. A day is a few thousand reports at most:
  20 ms at 100,000 reports, 65–85 ms at 1,000,000 (bench/analytics.py) — time no longer spent inside the writer's
  transaction, where it also serialised concurrent writers on the day's rows. A periodic job sweeps every minute
  in case a queued job was lost. ``freshness()`` tells the dashboard how far behind it is.
  ``ANALYTICS_ROLLUP_INLINE=1`` restores the old behaviour (the refresh inside the writer's transaction), for
  comparison in bench/report_posts.py; so does immediate mode (the demo without a worker, see ``_inline``).
* **by command or schedule**: ``flask analytics-rollup [--since DAY] [--until DAY]`` and the nightly job rebuild
  it, also after bulk loads that bypass the ORM (imports, the benchmark).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from webapp.analytics.facts import daily_facts, interval, local_day, recurrences
from webapp.analytics.models import (
    KEYS,
    MEASURES,
    RECUR_WINDOW,
    analytics_daily,
    analytics_pending,
    analytics_recurrences,
)
from webapp.db import db, utcnow
from webapp.feedback.models import Rating
from webapp.localtime import days_bounds
from webapp.reports.models import Report, ReportEvent

log = logging.getLogger(__name__)
_PENDING = "analytics_rollup_reports"
_QUEUE_REFRESH = "analytics_rollup_queue_refresh"
QUEUED_FLAG = "analytics:refresh-queued"  # in the job queue's storage: a refresh job is waiting
REFRESH_DELAY_SECONDS = 10  # the writes of these seconds become one refresh (busy hours: a refresh every 10 s)
FLAG_TTL_SECONDS = 30
BATCH = 5000  # pending rows counted per transaction by refresh_pending
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


def _days_of(session: Any, report_ids: list[int]) -> set[date]:
    """The local days whose roll-up rows these reports change (received, or made recurring)."""
    days: set[date] = set()
    for index in range(0, len(report_ids), 500):
        batch = report_ids[index : index + 500]
        days.update(session.scalars(sa.select(sa.distinct(local_day(Report.created_at))).where(Report.id.in_(batch))))
        days.update(session.scalars(_earlier_closed_days(batch)))
    return {day for day in days if day is not None}


def _inline() -> bool:
    """Refresh inside the writer's transaction: asked for (the benchmark's "before"), or when jobs run in the web
    process anyway (immediate mode, the one-machine demo): a refresh after the commit would then be one more
    SQLite writer racing the request's next one, for nothing gained."""
    if not has_app_context():
        return False
    if current_app.config.get("ANALYTICS_ROLLUP_INLINE"):
        return True
    from webapp.jobs import huey

    return bool(huey.immediate)


def _refresh_before_commit(session: Session) -> None:
    session.flush()  # what is still pending gets noted by the after_flush hook
    pending: set[int] = session.info.pop(_PENDING, set())
    if not pending:
        return
    if _inline():
        refresh_days(_days_of(session, sorted(pending)), session)
    else:
        now = utcnow()
        session.execute(analytics_pending.insert(), [{"report_id": i, "marked_at": now} for i in sorted(pending)])
        session.info[_QUEUE_REFRESH] = True
    session.info.pop(_PENDING, None)  # the refresh itself changes no report


def _queue_after_commit(session: Session) -> None:
    if session.info.pop(_QUEUE_REFRESH, False):
        request_refresh()


def request_refresh() -> None:
    """Queue one refresh job unless one is already waiting (a burst of commits makes one job)."""
    from webapp.jobs import huey
    from webapp.jobs.tasks import refresh_rollup

    try:
        try:  # the flag expires, so a server killed between setting it and queueing the job blocks nothing long
            queued = huey.put_if_empty(QUEUED_FLAG, "1", ttl=FLAG_TTL_SECONDS)
        except NotImplementedError:  # SQLite and memory queues keep no expiry: the minute's sweep clears the flag
            queued = huey.put_if_empty(QUEUED_FLAG, "1")
        if not queued:
            return
        if huey.immediate:
            refresh_rollup()
        else:
            refresh_rollup.schedule(delay=REFRESH_DELAY_SECONDS)
    except Exception:  # the change is committed; the periodic sweep counts it if the queue is unreachable now
        log.exception("could not queue the analytics roll-up refresh")


def refresh_pending(session: Any, *, batch: int = BATCH) -> int:
    """Count up to ``batch`` pending rows: refresh their days and remove them. Returns the rows counted (0: none
    left). Safe to run twice or in two workers at once: a day refreshed twice gets the same rows (the refresh of
    a range is serialised on PostgreSQL)."""
    rows = session.execute(
        sa.select(analytics_pending.c.id, analytics_pending.c.report_id).order_by(analytics_pending.c.id).limit(batch)
    ).all()
    if not rows:
        return 0
    refresh_days(_days_of(session, sorted({row.report_id for row in rows})), session)
    session.execute(analytics_pending.delete().where(analytics_pending.c.id.in_([row.id for row in rows])))
    return len(rows)


@dataclass(frozen=True)
class Freshness:
    waiting: int  # changed reports not counted yet
    since: datetime | None  # the oldest of them was changed then

    @property
    def current(self) -> bool:
        return self.waiting == 0


def freshness(session: Any = None) -> Freshness:
    """How far behind the roll-up is: the changes not counted yet, and since when."""
    session = session or db.session
    waiting, since = session.execute(_FRESHNESS).one()
    return Freshness(int(waiting or 0), since)


# Built once (the dashboard asks on every request; building a statement costs about as much CPU as running this one).
_FRESHNESS = sa.select(
    sa.func.count(sa.distinct(analytics_pending.c.report_id)), sa.func.min(analytics_pending.c.marked_at)
)


def _forget(session: Session, *args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_QUEUE_REFRESH, None)


def install() -> None:
    """Keep the roll-up current on every ORM commit (called once by the application factory)."""
    if sa.event.contains(Session, "after_flush", _note_touched_reports):
        return
    sa.event.listen(Session, "after_flush", _note_touched_reports)
    sa.event.listen(Session, "before_commit", _refresh_before_commit)
    sa.event.listen(Session, "after_commit", _queue_after_commit)
    sa.event.listen(Session, "after_rollback", _forget)
