"""Pooled connections to PostgreSQL: checked before use only after sitting idle (webapp.db.ping_idle_connections),
replaced when the server dropped them, and /healthz and /readyz answer about the database, not about a connection
made before it came back. The server drops them for real here (pg_terminate_backend)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from webapp.db import db, ping_idle_connections
from webapp.monitoring.services import ping_database

pytestmark = pytest.mark.commits  # other connections must be dropped and made again


@pytest.fixture
def url(app: Flask) -> str:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a database file is never disconnected")
        return db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def admin(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def drop(admin: sa.Engine, pids: list[int]) -> None:
    with admin.connect() as connection:
        for pid in pids:
            assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def backend(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.text("SELECT pg_backend_pid()")))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(importlib.import_module("webapp.db").time, "monotonic", lambda: now[0])
    return now


def test_a_connection_used_moments_ago_is_not_checked(url, clock):
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, 10)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        first = backend(engine)
        clock[0] += 9
        assert backend(engine) == first
        assert statements == ["SELECT pg_backend_pid()"] * 2  # and the check, had there been one, bypasses events
    finally:
        engine.dispose()


def test_a_dropped_connection_idle_past_the_limit_is_replaced_before_use(url, admin, clock):
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, 10)
    try:
        first = backend(engine)
        drop(admin, [first])
        clock[0] += 11
        assert backend(engine) != first  # no error: the check found it dead and the pool made a new one
    finally:
        engine.dispose()


def test_without_the_check_a_dropped_connection_fails_its_statement(url, admin, clock):
    """What the check is for (and what a busy connection still meets if the server goes away under it)."""
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    ping_idle_connections(engine, 10)
    try:
        first = backend(engine)
        drop(admin, [first])
        clock[0] += 1
        with pytest.raises(sa.exc.OperationalError) as failed:
            backend(engine)
        assert failed.value.connection_invalidated
        assert backend(engine) != first  # the pool replaced it
    finally:
        engine.dispose()


def test_health_checks_answer_about_the_database_after_it_dropped_the_pooled_connection(app, admin):
    with app.app_context():
        db.engine.dispose()  # one pooled connection, the one dropped below
        pid = int(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
        db.session.commit()  # the connection goes back to the pool, where the next request takes it
        drop(admin, [pid])
        assert ping_database() is not None
    assert app.test_client().get("/healthz").status_code == 200
