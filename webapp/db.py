"""Database foundation: declarative Base with a naming convention, the session, and time helpers.

Services use ``db.session`` and call ``flush()``; only views and CLI commands commit.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, registry

# Stable constraint names, so Alembic migrations work the same on SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use webapp.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


# Objects stay readable after commit (a view often renders what it just saved).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


@sa.event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: enforce foreign keys, use WAL so readers never block the writer, wait instead of failing."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection with a round trip before use only when it sat unused for ``idle_seconds``.

    ``pool_pre_ping`` pays that round trip on every checkout, that is on every request. A connection handed back
    moments ago is as alive as the server; one idle for a while may have been cut (a restart, a failover, a
    firewall or proxy timing out idle connections) and is replaced before a request sees it. A server lost while
    connections are busy fails the statements in flight; SQLAlchemy then discards every connection of the pool
    made before, so each process fails at most the requests it had under way."""

    @sa.event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:  # whatever the driver raises for a dead connection
            # The pool's other connections are as old: replace every one of them, and this one now.
            raise sa.exc.InvalidatePoolError(str(error)) from error


# A statement that only reads: it starts with SELECT, takes no row lock and calls no function that changes the
# session's state or takes a transaction-scoped lock. Anything else (writes, SAVEPOINT, DDL, text we cannot
# classify) is treated as writing.
_PLAIN_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_NOT_PLAIN = re.compile(
    r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bpg_advisory|\b(?:nextval|setval|set_config)\s*\(",
    re.IGNORECASE,
)
_read_only_statements: dict[str, bool] = {}


def is_plain_read(statement: str) -> bool:
    known = _read_only_statements.get(statement)
    if known is None:
        known = bool(_PLAIN_READ.match(statement)) and not _NOT_PLAIN.search(statement)
        if len(_read_only_statements) < 5000:  # statements come from SQLAlchemy's cache: a bounded set
            _read_only_statements[statement] = known
    return known


def read_outside_transactions(engine: Engine) -> None:
    """PostgreSQL: a session's reads run without a transaction until its first statement that writes or locks.

    psycopg, like every DB-API driver, opens a transaction with a BEGIN round trip before a connection's first
    statement, and the session ends it with a ROLLBACK round trip even when it only read. A page that reads
    in three statements paid five round trips, and a sync worker waits through each. So a connection is handed
    out in autocommit mode, and the first statement that is not a plain read (``is_plain_read``) switches it back
    before it runs: that statement and everything after it, until the session commits or rolls back, are one
    transaction as before. At READ COMMITTED, PostgreSQL's default and ours, every statement sees its own
    snapshot inside a transaction too, so the reads see what they saw before. Python's SQLite driver already
    behaves this way (it begins a transaction before the first write only).

    A connection is switched to autocommit only when no transaction is open, so an open transaction is never cut
    short; after a commit or a rollback, reads run outside a transaction again."""
    if engine.dialect.driver != "psycopg":
        return
    from psycopg.pq import TransactionStatus

    idle = TransactionStatus.IDLE

    @sa.event.listens_for(engine, "checkout")
    def _autocommit_while_reading(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if dbapi_connection.info.transaction_status == idle:
            dbapi_connection.autocommit = True

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _begin_before_writing(
        conn: sa.Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # asked for by the caller (VACUUM, CREATE DATABASE): every statement on its own
        dbapi_connection = cursor.connection
        plain_read = is_plain_read(statement)
        if dbapi_connection.autocommit:
            if not plain_read:
                dbapi_connection.autocommit = False  # the driver sends BEGIN with this statement
        elif plain_read and dbapi_connection.info.transaction_status == idle:
            dbapi_connection.autocommit = True  # a commit or rollback ended the transaction: read outside again


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def flush_pending() -> None:
    """Flush the session's changes, as a query through the session would (autoflush), before reading past it (a
    kept copy, or a statement on its connection), so a change made earlier in the request counts."""
    if db.session.new or db.session.dirty or db.session.deleted:
        db.session.flush()


# --- Side effects after commit ---------------------------------------------------------------------------------
# Text messages (and any other effect outside the database) must not happen for a change that is rolled back.
# Services queue them with ``after_commit``; they run once the session's outermost transaction has committed and
# are dropped when the transaction (or the savepoint they were queued in) rolls back.

_AFTER_COMMIT = "after_commit_callbacks"
log = logging.getLogger(__name__)


def after_commit(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``callback(*args, **kwargs)`` after the current transaction of ``db.session`` commits.

    The callback runs in the application context that queued it. An exception in it is logged and does not
    affect the commit (which has already happened) or the other callbacks.
    """
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:  # no transaction yet: begin one, so the callback waits for the next commit
        transaction = session.begin()
    app = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    session.info.setdefault(_AFTER_COMMIT, []).append((transaction, app, callback, args, kwargs))


def _inside(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    queued = session.info.get(_AFTER_COMMIT)
    if queued:
        session.info[_AFTER_COMMIT] = [item for item in queued if not _inside(item[0], previous_transaction)]


@sa.event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released; the outer transaction may still roll back
        return
    queued = session.info.pop(_AFTER_COMMIT, None)
    for _transaction, app, callback, args, kwargs in queued or ():
        try:
            if app is not None and not has_app_context():
                with app.app_context():
                    callback(*args, **kwargs)
            else:
                callback(*args, **kwargs)
        except Exception:  # the change is committed; one failing side effect must not stop the others
            log.exception("an after-commit action failed: %r", callback)
