"""Background jobs on Huey: work that need not happen inside a request, and the scheduled jobs.

* ``HUEY_URL`` names the queue's storage: ``redis://host:6379/3`` in production (shared by every app server and
  worker), ``sqlite:///path/jobs.sqlite3`` on one machine (the default: ``instance/jobs.sqlite3``), ``memory://``
  for tests. ``make worker`` (``flask --app webapp worker``) runs the consumer: the queued jobs, their retries and
  the periodic tasks (``webapp.jobs.tasks``).
* ``HUEY_IMMEDIATE`` runs each job in the process that queues it, right after the commit, instead of queueing it:
  the default when ``HUEY_URL`` is not set, so ``make run`` needs nothing but Python. Retries of a failed job are
  then kept in the SQLite queue until a worker runs; production refuses immediate mode (``webapp.production``).
* Jobs are queued **after the commit** of the change that caused them (``after_commit``), never for a change that
  is rolled back, and each is safe to run twice (see each task).

Huey's tasks are bound to one ``Huey`` object when their module is imported, so this module keeps one and
``init_app`` points its storage at ``HUEY_URL``; jobs run in an app context of the app given to ``init_app``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from huey import Huey
from huey.storage import MemoryStorage, RedisExpireStorage, SqliteStorage

from webapp.db import after_commit

log = logging.getLogger(__name__)

NAME = "citizen-grid"
# Kept by Redis for a day: idempotency marks of sent messages, the roll-up's "a refresh is queued" flag.
REDIS_EXPIRE_SECONDS = 24 * 3600

huey = Huey(NAME, results=False, utc=True, immediate=True, immediate_use_memory=False, storage_class=MemoryStorage)
_app: Flask | None = None


def make_storage(url: str) -> Any:
    """The Huey storage for ``HUEY_URL``."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryStorage(NAME)
    if scheme == "sqlite":
        path = url[len("sqlite:///") :]  # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy
        if not path:
            raise ValueError(f"HUEY_URL {url!r} names no file")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteStorage(NAME, filename=path)
    if scheme in {"redis", "rediss", "unix"}:
        return RedisExpireStorage(NAME, url=url, expire_time=REDIS_EXPIRE_SECONDS)
    raise ValueError(f"HUEY_URL {url!r}: use redis://host:6379/N, sqlite:///path/jobs.sqlite3 or memory://")


def init_app(app: Flask) -> None:
    global _app
    huey.storage = make_storage(app.config["HUEY_URL"])
    huey._immediate = bool(app.config["HUEY_IMMEDIATE"])
    _app = app
    app.extensions["huey"] = huey
    from webapp.jobs import tasks  # noqa: F401  (registers the tasks and the periodic schedule)


def configured_app() -> Flask | None:
    return _app


def in_app_context(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a job in a fresh app context (its own database session), in the worker as in immediate mode, where it
    runs inside the after-commit hook of the request's session."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _app is None:
            raise RuntimeError("webapp.jobs.init_app was not called")
        with _app.app_context():
            return function(*args, **kwargs)

    return wrapper


def enqueue_after_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Queue ``task(*args, **kwargs)`` once the current transaction commits (dropped if it rolls back)."""
    after_commit(task, *args, **kwargs)


def queue_state() -> dict[str, Any]:
    """For /readyz and the monitoring page: the storage answers, and how many jobs wait (queued, scheduled)."""
    storage = huey.storage
    backend = type(storage).__name__.removesuffix("Storage").lower() or "memory"
    return {
        "backend": backend,
        "immediate": huey.immediate,
        "pending": huey.pending_count(),
        "scheduled": huey.scheduled_count(),
    }
