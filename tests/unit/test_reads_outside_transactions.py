"""PostgreSQL: a session's reads run without a transaction (no BEGIN and ROLLBACK round trips) until its first
statement that writes or locks, and from there on everything is one transaction as before
(webapp.db.read_outside_transactions). The classification of statements is tested on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from webapp.cache import CacheVersion
from webapp.db import db, is_plain_read, read_outside_transactions


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT users.id FROM users WHERE users.id = %(id)s",
        "  select 1",
    ],
)
def test_plain_reads(statement):
    assert is_plain_read(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (name) VALUES (%(name)s)",
        "UPDATE users SET name = %(name)s",
        "DELETE FROM users",
        "SAVEPOINT sa_savepoint_1",
        "SELECT users.id FROM users WHERE users.id = %(id)s FOR UPDATE",
        "SELECT users.id FROM users FOR NO KEY UPDATE",
        "SELECT users.id FROM users\nFOR SHARE OF users",
        "SELECT users.id FROM users FOR KEY SHARE",
        "SELECT pg_advisory_xact_lock(%(pg_advisory_xact_lock_1)s) AS pg_advisory_xact_lock_1",
        "SELECT nextval('reports_id_seq')",
        "SELECT set_config('app.user', '1', true)",
        "WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone",
        "CREATE TABLE t (id int)",
    ],
)
def test_everything_else_counts_as_writing(statement):
    assert not is_plain_read(statement)


pg = pytest.mark.commits  # the engine below works outside the test's transaction


@pytest.fixture
def engine(app: Flask) -> Iterator[sa.Engine]:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's driver begins a transaction before the first write by itself")
        url = db.engine.url
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    read_outside_transactions(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def other(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A second connection, to look at what the first one has committed or locked."""
    other_engine = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with other_engine.connect() as connection:
        yield connection
    other_engine.dispose()


def in_transaction(session: Session) -> bool:
    """Whether the server holds a transaction open for this session's connection (a BEGIN was sent)."""
    from psycopg.pq import TransactionStatus

    raw = session.connection().connection.dbapi_connection
    return raw.info.transaction_status != TransactionStatus.IDLE  # type: ignore[union-attr]


def counter(connection: sa.Connection, name: str) -> int | None:
    return connection.scalar(sa.select(CacheVersion.version).where(CacheVersion.name == name))


@pg
def test_reads_open_no_transaction(engine):
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.literal(1))) == 1
        assert not in_transaction(session)
        session.scalar(sa.select(sa.func.count()).select_from(CacheVersion))
        assert not in_transaction(session)


@pg
def test_the_first_write_begins_a_transaction_that_a_rollback_undoes(engine, other):
    with Session(engine) as session:
        session.scalar(sa.select(sa.literal(1)))
        session.add(CacheVersion(name="test-rollback", version=1))
        session.flush()
        assert in_transaction(session)
        session.add(CacheVersion(name="test-rollback-2", version=1))
        session.flush()
        assert session.scalar(sa.select(CacheVersion.version).where(CacheVersion.name == "test-rollback")) == 1
        assert counter(other, "test-rollback") is None  # not committed yet
        session.rollback()
    assert counter(other, "test-rollback") is None
    assert counter(other, "test-rollback-2") is None


@pg
def test_a_commit_keeps_the_writes_and_reads_then_run_outside_again(engine, other):
    with Session(engine) as session:
        session.add(CacheVersion(name="test-commit", version=3))
        session.commit()
        assert counter(other, "test-commit") == 3
        session.scalar(sa.select(sa.literal(1)))
        assert not in_transaction(session)
        session.execute(sa.update(CacheVersion).where(CacheVersion.name == "test-commit").values(version=4))
        assert in_transaction(session)
        assert counter(other, "test-commit") == 3
        session.commit()
    assert counter(other, "test-commit") == 4


@pg
def test_a_row_lock_is_held_until_the_transaction_ends(engine, other):
    other.execute(sa.insert(CacheVersion).values(name="test-lock", version=1))
    with Session(engine) as session:
        session.execute(sa.select(CacheVersion).where(CacheVersion.name == "test-lock").with_for_update())
        assert in_transaction(session)
        with pytest.raises(sa.exc.OperationalError, match="could not obtain lock"):
            other.execute(sa.text("SELECT 1 FROM cache_versions WHERE name = 'test-lock' FOR UPDATE NOWAIT"))
        session.rollback()
    assert other.scalar(sa.text("SELECT 1 FROM cache_versions WHERE name = 'test-lock' FOR UPDATE NOWAIT")) == 1


@pg
def test_an_advisory_transaction_lock_is_held_until_the_transaction_ends(engine, other):
    """The dashboard's roll-up serialises its refreshes this way (webapp.analytics.rollup)."""
    with Session(engine) as session:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(424242)))
        assert in_transaction(session)
        assert other.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(424242))) is False
        session.commit()
    assert other.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(424242))) is True


@pg
def test_a_transaction_begun_by_the_caller_is_not_cut_short(engine, other):
    with engine.connect() as connection:
        connection.execute(sa.insert(CacheVersion).values(name="test-open", version=1))
        connection.execute(sa.select(sa.literal(1)))  # a read inside the open transaction stays inside it
        connection.execute(sa.insert(CacheVersion).values(name="test-open-2", version=1))
        connection.rollback()
    assert counter(other, "test-open") is None
    assert counter(other, "test-open-2") is None


@pg
def test_a_connection_the_caller_put_in_autocommit_mode_stays_in_it(engine):
    """VACUUM, for one, cannot run inside a transaction."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE cache_versions"))
        connection.execute(sa.insert(CacheVersion).values(name="test-autocommit", version=1))
        connection.rollback()  # nothing to roll back: every statement was on its own
    with engine.connect() as connection:
        assert connection.scalar(sa.select(CacheVersion.version).where(CacheVersion.name == "test-autocommit")) == 1
