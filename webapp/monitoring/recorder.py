"""Counting server errors (5xx responses, unhandled exceptions) and failed SMS sends for the monitoring page.

Two places, on purpose:

* **in the database** (``error_events``), one row per error. This is what "the last 24 hours" counts, because a
  deployment runs several worker processes (gunicorn, several machines) and each only sees its own requests.
  The row is written on a connection of its own, outside the request's session: the request's transaction is
  usually being rolled back when an error is recorded, and recording must not change what it commits.
* **in this process**, a thread-safe counter since the process started. It still counts when the database is
  the thing that is failing (the insert then fails too), and it is what "since start" means.

Rows older than ``RETENTION`` are deleted now and then, so the table stays small.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from sqlalchemy.orm import Session, SessionTransaction

from webapp.db import db, utcnow
from webapp.monitoring.models import ErrorEvent

log = logging.getLogger(__name__)

KINDS = ("http_5xx", "exception", "sms_failed")
RETENTION = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)
_PENDING = "monitoring_pending_errors"


class _ProcessCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = utcnow()
        self._counts: Counter[str] = Counter()
        self._unrecorded = 0  # errors the database did not take
        self._last_prune: datetime | None = None

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def add_unrecorded(self) -> None:
        with self._lock:
            self._unrecorded += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**{kind: self._counts[kind] for kind in KINDS}, "unrecorded": self._unrecorded}

    def due_for_prune(self, now: datetime) -> bool:
        with self._lock:
            if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY:
                return False
            self._last_prune = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._unrecorded = 0
            self._last_prune = None
            self.started_at = utcnow()


counters = _ProcessCounters()


def record(kind: str, *, status: int | None = None, path: str = "", detail: str = "") -> None:
    """Count one error; never raises (it runs inside error handlers).

    While the request's session is inside a transaction (an SMS failing in the middle of a reply), the row is
    written when that transaction ends: on SQLite a second connection could not write before the first one's
    lock is released, and on every database the row must not depend on whether the request commits.
    """
    counters.add(kind)
    row = {"at": utcnow(), "kind": kind, "status": status, "path": path[:200], "detail": detail[:200]}
    if has_app_context() and db.session().in_transaction():
        db.session().info.setdefault(_PENDING, []).append(row)
        return
    _write([row])


def _write(rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.insert(ErrorEvent), rows)
            if counters.due_for_prune(now):
                connection.execute(sa.delete(ErrorEvent).where(ErrorEvent.at < now - RETENTION))
    except Exception:  # the database may be what is failing; the process counter above still has it
        for _row in rows:
            counters.add_unrecorded()
        log.warning("could not record %d error(s) in the database", len(rows), exc_info=True)


@sa.event.listens_for(Session, "after_transaction_end")
def _write_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.get(_PENDING):
        _write(session.info.pop(_PENDING))


def record_sms_failure(phone: str, error: BaseException, *, note: str = "") -> None:
    """``note``: which try this was and whether it will be retried (SMS are sent by a job with retries)."""
    masked = f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"
    record("sms_failed", detail=f"{masked} {type(error).__name__}" + (f" ({note})" if note else ""))


def counts_since(since: datetime) -> dict[str, int]:
    """Errors of every process since ``since``, by kind (from the database)."""
    rows = db.session.execute(
        sa.select(ErrorEvent.kind, sa.func.count()).where(ErrorEvent.at >= since).group_by(ErrorEvent.kind)
    ).all()
    counts = dict.fromkeys(KINDS, 0)
    counts.update({kind: count for kind, count in rows})
    return counts


def recent(kind: str | None = None, limit: int = 10) -> list[ErrorEvent]:
    stmt = sa.select(ErrorEvent).order_by(ErrorEvent.at.desc(), ErrorEvent.id.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(ErrorEvent.kind == kind)
    return list(db.session.scalars(stmt))
