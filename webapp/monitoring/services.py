"""What the monitoring page shows: system health and participation over time. Reads only (the storage check
writes and removes one small probe file)."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from webapp import localtime
from webapp.accounts.models import Role, User
from webapp.analytics.facts import local_day
from webapp.db import db, utcnow
from webapp.feedback.models import PlatformFeedback, Rating
from webapp.localtime import days_bounds
from webapp.monitoring import recorder
from webapp.reports.models import Report

RESIDENT_ROLES = (Role.CITIZEN, Role.VOLUNTEER)
LOW_DISK_BYTES = 1024**3  # under 1 GB free is a warning
SLOW_DB_MS = 200.0


@dataclass
class Check:
    ok: bool
    details: dict[str, Any] = field(default_factory=dict)
    warning: str = ""


@cache
def _head_revisions(directory: str) -> tuple[str, ...]:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    config = AlembicConfig()
    config.set_main_option("script_location", directory)
    return tuple(ScriptDirectory.from_config(config).get_heads())


def ping_database() -> float | None:
    """Milliseconds a trivial query takes, or None when the database cannot be reached. /healthz asks the same.

    A pooled connection the server has dropped (a restart, a failover) is replaced and the query tried once more
    on a new one: the answer is about the database, not about a connection made before it came back."""
    for attempt in range(2):
        try:
            started = time.perf_counter()
            db.session.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as error:
            db.session.rollback()
            if attempt or not error.connection_invalidated:
                return None
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            return None
        else:
            return (time.perf_counter() - started) * 1000
    return None


def check_database() -> Check:
    """Reachable, how long a trivial query takes, and whether the schema is at the latest migration."""
    latency_ms = ping_database()
    if latency_ms is None:
        return Check(False, {"backend": db.engine.dialect.name, "reachable": False})
    try:
        revision = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    except sa.exc.SQLAlchemyError as error:
        db.session.rollback()
        return Check(False, {"backend": db.engine.dialect.name, "reachable": True, "error": type(error).__name__})
    heads = _head_revisions(str(current_app.extensions["migrate"].directory))
    details = {
        "backend": db.engine.dialect.name,
        "reachable": True,
        "latency_ms": round(latency_ms, 1),
        "revision": revision or "",
        "head": ", ".join(heads),
        "up_to_date": revision in heads,
    }
    return Check(bool(details["up_to_date"]), details, warning="slow" if latency_ms >= SLOW_DB_MS else "")


def check_storage() -> Check:
    """Writable (a probe file is written, read back and removed) and, for local storage, the free space."""
    storage = current_app.extensions["storage"]
    details: dict[str, Any] = {"backend": current_app.config.get("STORAGE_BACKEND", "local")}
    key = f"_health/{uuid.uuid4().hex}.probe"
    try:
        storage.put(key, b"ok")
        writable = storage.open(key) == b"ok"
        storage.delete(key)
    except Exception as error:  # any backend failure is what this check is for
        return Check(False, {**details, "writable": False, "error": type(error).__name__})
    details["writable"] = writable
    root = getattr(storage, "root", None)
    if isinstance(root, Path):
        usage = shutil.disk_usage(root)
        details.update(free_bytes=usage.free, total_bytes=usage.total)
        if usage.free < LOW_DISK_BYTES:
            return Check(writable, details, warning="low_disk")
    return Check(writable, details)


def check_rate_limits() -> Check:
    """The Flask-Limiter backend. ``memory://`` counts per process: fine for one process, not for several."""
    uri = current_app.config.get("RATELIMIT_STORAGE_URI", "memory://")
    scheme = uri.split("://", 1)[0]  # never show the rest: it may hold a password
    from webapp.extensions import limiter

    try:
        reachable = bool(limiter.storage.check())
    except Exception:
        reachable = False
    enabled = bool(current_app.config.get("RATELIMIT_ENABLED", True))
    warning = "per_process" if scheme == "memory" else ""
    return Check(reachable or not enabled, {"backend": scheme, "enabled": enabled, "reachable": reachable}, warning)


def check_sms() -> Check:
    sender = current_app.extensions.get("sms")
    backend = current_app.config.get("SMS_BACKEND", "log")
    development = bool(getattr(sender, "is_development", False))
    return Check(sender is not None, {"backend": backend}, warning="development" if development else "")


def check_jobs() -> Check:
    """The background job queue (webapp.jobs): reachable, jobs waiting and retries scheduled; immediate mode (jobs
    run inside the web process, the one-machine default) is a warning."""
    from webapp.jobs import queue_state

    scheme = str(current_app.config.get("HUEY_URL", "")).split("://", 1)[0]  # never the rest: it may hold a password
    try:
        state = queue_state()
    except Exception as error:  # an unreachable Redis is what this check is for
        return Check(False, {"backend": scheme, "error": type(error).__name__})
    details = {"backend": scheme, **{k: state[k] for k in ("immediate", "pending", "scheduled")}}
    return Check(True, details, warning="immediate" if state["immediate"] else "")


def readiness() -> dict[str, str]:
    """/readyz: "ok" or "unavailable" for the database, the storage (one cheap lookup: reachable, credentials
    accepted) and the job queue (its length read from Redis/SQLite)."""
    state = {"db": "ok" if ping_database() is not None else "unavailable"}
    try:
        current_app.extensions["storage"].exists("_health/readyz.probe")
        state["storage"] = "ok"
    except Exception:  # unreachable, refused credentials, missing bucket: not ready
        current_app.logger.warning("readyz: the storage does not answer", exc_info=True)
        state["storage"] = "unavailable"
    from webapp.jobs import queue_state

    try:
        queue_state()
        state["jobs"] = "ok"
    except Exception:
        current_app.logger.warning("readyz: the job queue does not answer", exc_info=True)
        state["jobs"] = "unavailable"
    return state


def errors() -> dict[str, Any]:
    now = utcnow()
    return {
        "since_start": recorder.counters.snapshot(),
        "started_at": recorder.counters.started_at,
        "last_24h": recorder.counts_since(now - timedelta(hours=24)),
        "recent": recorder.recent(limit=10),
        "sms_failures": recorder.recent("sms_failed", limit=10),
    }


def health() -> dict[str, Check]:
    return {
        "database": check_database(),
        "storage": check_storage(),
        "rate_limits": check_rate_limits(),
        "sms": check_sms(),
        "jobs": check_jobs(),
    }


# --- Participation over time -------------------------------------------------------------------------------------


@dataclass
class DayRow:
    day: date
    reports: int = 0
    registrations: int = 0
    active: int = 0


@dataclass
class Participation:
    days: list[DayRow]
    active_total: int  # distinct residents active on any day of the window

    @property
    def totals(self) -> dict[str, int]:
        return {
            "reports": sum(row.reports for row in self.days),
            "registrations": sum(row.registrations for row in self.days),
        }


def _per_day(column: Any, start: datetime, end: datetime, *where: Any, distinct: Any = None) -> dict[date, int]:
    day = local_day(column).label("day")
    counted = sa.func.count(sa.distinct(distinct)) if distinct is not None else sa.func.count()
    rows = db.session.execute(sa.select(day, counted).where(column >= start, column < end, *where).group_by(day)).all()
    return {_as_date(d): n for d, n in rows}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def participation(days: int = 30, today: date | None = None) -> Participation:
    """Per local day of the last ``days`` days (today included): reports received, new resident accounts, and
    active residents (distinct resident accounts that sent a report, a rating or feedback that day)."""
    today = today or localtime.today()
    first = today - timedelta(days=days - 1)
    start, end = days_bounds(first, today)
    reports = _per_day(Report.created_at, start, end)
    registrations = _per_day(User.created_at, start, end, User.role.in_(RESIDENT_ROLES))

    resident = sa.select(User.id).where(User.role.in_(RESIDENT_ROLES))
    activity = sa.union_all(
        sa.select(Report.reporter_id.label("user_id"), Report.created_at.label("at")).where(
            Report.created_at >= start, Report.created_at < end, Report.reporter_id.in_(resident)
        ),
        sa.select(Rating.user_id.label("user_id"), Rating.created_at.label("at")).where(
            Rating.created_at >= start, Rating.created_at < end, Rating.user_id.in_(resident)
        ),
        sa.select(PlatformFeedback.user_id.label("user_id"), PlatformFeedback.created_at.label("at")).where(
            PlatformFeedback.created_at >= start,
            PlatformFeedback.created_at < end,
            PlatformFeedback.user_id.in_(resident),
        ),
    ).subquery()
    day = local_day(activity.c.at).label("day")
    active = {
        _as_date(d): n
        for d, n in db.session.execute(
            sa.select(day, sa.func.count(sa.distinct(activity.c.user_id))).group_by(day)
        ).all()
    }
    active_total = db.session.scalar(sa.select(sa.func.count(sa.distinct(activity.c.user_id)))) or 0
    rows = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        rows.append(
            DayRow(
                current,
                reports=reports.get(current, 0),
                registrations=registrations.get(current, 0),
                active=active.get(current, 0),
            )
        )
    return Participation(rows, int(active_total))


# --- The chart ---------------------------------------------------------------------------------------------------

SERIES = (("reports", "series-reports"), ("registrations", "series-registrations"), ("active", "series-active"))


@dataclass
class Chart:
    """Geometry of a server-rendered SVG line chart (the template draws it; no JavaScript)."""

    width: int
    height: int
    left: int
    bottom: int
    top: int
    maximum: int
    lines: dict[str, str]  # series name → SVG polyline points
    y_ticks: list[tuple[float, int]]
    x_labels: list[tuple[float, str]]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above ``value``: a round top for the scale."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= value:
                return step * power
        power *= 10


def chart(data: Participation, *, width: int = 640, height: int = 240) -> Chart:
    left, right, top, bottom = 40, 10, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = max([1, *(getattr(row, name) for row in data.days for name, _css in SERIES)])
    scale = nice_ceiling(maximum)
    count = max(len(data.days) - 1, 1)

    def x(index: int) -> float:
        return round(left + plot_w * index / count, 1)

    def y(value: int) -> float:
        return round(top + plot_h - plot_h * value / scale, 1)

    lines = {
        name: " ".join(f"{x(i)},{y(getattr(row, name))}" for i, row in enumerate(data.days)) for name, _css in SERIES
    }
    y_ticks = [(y(value), value) for value in sorted({0, scale // 2, scale})]
    step = max(1, len(data.days) // 6)
    x_labels = [(x(i), row.day.strftime("%m-%d")) for i, row in enumerate(data.days) if i % step == 0]
    return Chart(width, height, left, height - bottom, top, scale, lines, y_ticks, x_labels)
