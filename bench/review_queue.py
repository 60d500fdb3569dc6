"""Speed of the reviewer's queue (``webapp.review.services.queue``) on 100,000 cases, against the cheapest page.

The script builds a throw-away database (SQLite in a temporary directory by default; with ``--postgres`` a
temporary PostgreSQL database ``cg_bench`` next to ``test`` on 127.0.0.1:5432, dropped at the end), creates the
schema with the real Alembic migrations and the category table with ``sync_categories``, then bulk-inserts
realistic cases with SQLAlchemy Core in batches: about 5 % awaiting review, the rest spread over the other
statuses, categories from the categories table, severities (set at review, so none on pending reports), about
1 % emergencies, created over the past year (the pending ones in the last two weeks) around 万柏林区
(37.845–37.870 N, 112.505–112.530 E).

It then times, as the median of ``--repeat`` runs in a fresh session each (ms, ORM objects included):

* ``queue("review")`` page 1 and page 50, with a category-group filter (largest and smallest group) and
  emergencies only, ``queue("check")``, ``queue("handling")``, the next-case lookup the case view makes
  (``queue(per_page=2)``) and ``queue_counts()``;
* the two statements ``queue()`` sends (the total count and the ordered page), as raw SQL;
* a baseline in the same run: ``SELECT * FROM reports ORDER BY id LIMIT 25``, the cheapest possible page,

and prints each timing next to the baseline with the ratio. Finally it prints the query plan the database
chooses for the queue's statements (captured from a real ``queue()`` call), so a missing index shows up as a
full scan or a big sort. PostgreSQL gets a ``VACUUM ANALYZE`` after the load (what autovacuum does to a table
that has grown); SQLite gets no ``ANALYZE`` unless ``--analyze`` is given, as the application never runs it.

Run from the repository root:

    .venv/bin/python bench/review_queue.py [--postgres] [--rows 100000] [--repeat 15] [--analyze]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.accounts.models import Department, Role, User  # noqa: E402
from webapp.db import db  # noqa: E402
from webapp.reports.models import Category, Channel, LocationSource, Report, Severity  # noqa: E402
from webapp.reports.status import ReportStatus as S  # noqa: E402
from webapp.reports.taxonomy import sync_categories  # noqa: E402
from webapp.review import services  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_BENCH_DB = "cg_bench"
BATCH = 5_000
REPORTERS = 2_000
DEPARTMENTS = 8

# Share of each status; pending review is about 5 %, closed cases dominate a year of history.
STATUS_WEIGHTS: dict[S, float] = {
    S.PENDING_REVIEW: 5.0,
    S.CLOSED: 55.0,
    S.REJECTED: 9.0,
    S.ACCEPTED: 2.0,
    S.DISPATCHED: 6.0,
    S.SIGNED: 4.0,
    S.IN_PROGRESS: 7.0,
    S.AWAITING_CHECK: 5.0,
    S.REWORK: 1.5,
    S.RETURNED: 1.5,
    S.SUSPENDED: 4.0,
}
DISPATCHED_STATES = {S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.AWAITING_CHECK, S.REWORK, S.SUSPENDED, S.CLOSED}


# --- The database -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(postgres: bool) -> Iterator[str]:
    """A URL of an empty database that is removed afterwards, whatever happens."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix="cg_bench_") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"))  # a crashed run
            connection.execute(sa.text(f"CREATE DATABASE {PG_BENCH_DB}"))
        try:
            yield admin.url.set(database=PG_BENCH_DB).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"))
    finally:
        admin.dispose()


def make_app(url: str, upload_dir: str) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_DIR": upload_dir,
            "RATELIMIT_ENABLED": False,
        }
    )


# --- The data ---------------------------------------------------------------------------------------------------


def insert_batches(table: sa.Table, rows: Iterator[dict[str, Any]], total: int, label: str) -> float:
    """Core executemany in batches of BATCH rows, one transaction each; returns the seconds it took."""
    started = time.perf_counter()
    done = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal done
        with db.engine.begin() as connection:
            connection.execute(table.insert(), batch)
        done += len(batch)
        batch.clear()
        elapsed = time.perf_counter() - started
        print(f"  {label}: {done:>9,} / {total:,}  ({done / elapsed:,.0f} rows/s)", flush=True)

    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return time.perf_counter() - started


def people(now: datetime) -> tuple[list[int], list[int]]:
    """Residents who report, and departments that handle; returns their ids."""
    departments = [
        {"code": f"BENCH{i:02d}", "name_zh": f"处置部门{i}", "name_en": f"Department {i}", "district_code": "140109"}
        for i in range(DEPARTMENTS)
    ]
    users = [
        {
            "phone": f"138{i:08d}",
            "password_hash": "!",  # nobody logs in
            "role": Role.CITIZEN,
            "phone_verified_at": now - timedelta(days=400),
            "created_at": now - timedelta(days=400),
        }
        for i in range(REPORTERS)
    ]
    with db.engine.begin() as connection:
        connection.execute(Department.__table__.insert(), departments)
        connection.execute(User.__table__.insert(), users)
        department_ids = list(connection.scalars(sa.select(Department.id)))
        user_ids = list(connection.scalars(sa.select(User.id)))
    return user_ids, department_ids


def report_rows(
    count: int, categories: list[str], reporters: list[int], departments: list[int], now: datetime, seed: int = 7
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    for _ in range(count):
        status = rng.choices(statuses, weights)[0]
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86_400))
        # Recent reports are the ones still waiting: pending cases come from the last two weeks.
        if status is S.PENDING_REVIEW:
            created = now - timedelta(seconds=rng.uniform(0, 14 * 86_400))
        emergency = rng.random() < 0.01
        severity = None
        if status is not S.PENDING_REVIEW:
            if emergency:
                severity = rng.choice([Severity.URGENT, Severity.CRITICAL])
            else:
                severity = rng.choices([Severity.GENERAL, Severity.MAJOR], [80, 20])[0]
        accepted = status not in (S.PENDING_REVIEW, S.REJECTED)
        dispatched = status in DISPATCHED_STATES
        accepted_at = created + timedelta(hours=rng.uniform(0.2, 8)) if accepted else None
        dispatched_at = accepted_at + timedelta(minutes=rng.uniform(1, 30)) if dispatched and accepted_at else None
        due_at = dispatched_at + timedelta(days=rng.choice([1, 2, 3, 5])) if dispatched_at else None
        closed_at = due_at - timedelta(hours=rng.uniform(0, 20)) if status is S.CLOSED and due_at else None
        updated = closed_at or dispatched_at or accepted_at or created
        client_id = str(uuid.uuid4())
        yield {
            "client_id": client_id,
            "payload_hash": hashlib.sha256(client_id.encode()).hexdigest(),
            "reporter_id": rng.choice(reporters),
            "category_code": rng.choice(categories),
            "description": "路面有坑，雨后积水，行人绕行",
            "lat": rng.uniform(37.845, 37.870),
            "lon": rng.uniform(112.505, 112.530),
            "address": f"千峰南路 {rng.randint(1, 400)} 号附近",
            "location_source": LocationSource.GPS,
            "status": status,
            "channel": Channel.WEB,
            "captured_at": created - timedelta(seconds=rng.uniform(0, 600)),
            "created_at": created,
            "updated_at": updated,
            "grid_code": None,
            "severity": severity,
            "department_id": rng.choice(departments) if dispatched or status is S.RETURNED else None,
            "handler_id": None,
            "self_handled": False,
            "accepted_at": accepted_at,
            "dispatched_at": dispatched_at,
            "due_at": due_at,
            "closed_at": closed_at,
            "escalated_at": None,
            "reject_reason": "insufficient_info" if status is S.REJECTED else None,
            "duplicate_of_id": None,
            "emergency": emergency,
            "emergency_acknowledged_at": None,
            "emergency_acknowledged_by_id": None,
            "version": 1,
        }


# --- Measuring --------------------------------------------------------------------------------------------------


def median_ms(call: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``call`` in a fresh session each time (the first, warming call is not counted)."""
    call()
    times = []
    for _ in range(repeat):
        db.session.remove()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    db.session.remove()
    return statistics.median(times)


@contextlib.contextmanager
def captured_sql() -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their driver parameters) sent while the block runs."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)


def explain(statement: str, parameters: Any) -> list[str]:
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
            return [row[0] for row in rows]
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [f"{row[0]:>3} {row[1]:>3}  {row[3]}" for row in rows]


def one_line(statement: str) -> str:
    return " ".join(statement.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use a temporary PostgreSQL database")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on SQLite too")
    args = parser.parse_args()

    with bench_database(args.postgres) as url, tempfile.TemporaryDirectory(prefix="cg_bench_uploads_") as uploads:
        app = make_app(url, uploads)
        try:
            with app.app_context():
                run(args)
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def run(args: argparse.Namespace) -> None:
    backend = db.engine.dialect.name
    version = db.session.scalar(sa.text("SELECT version()" if backend == "postgresql" else "SELECT sqlite_version()"))
    print(f"Backend: {backend} {version}")

    started = time.perf_counter()
    upgrade(directory=str(ROOT / "webapp" / "migrations"))
    count = sync_categories()
    db.session.commit()
    print(f"Schema by migrations and {count} categories in {time.perf_counter() - started:.1f} s")

    now = datetime.now(UTC)
    categories = list(db.session.scalars(sa.select(Category.code).where(Category.active).order_by(Category.code)))
    db.session.remove()
    reporters, departments = people(now)
    print(f"Inserting {args.rows:,} reports in batches of {BATCH:,} (SQLAlchemy Core executemany)")
    seconds = insert_batches(
        Report.__table__, report_rows(args.rows, categories, reporters, departments, now), args.rows, "reports"
    )
    print(f"  {args.rows:,} reports in {seconds:.1f} s")
    if backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))  # what autovacuum does to a table after a load
        print("  VACUUM ANALYZE done")
    elif args.analyze:
        with db.engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))
        print("  ANALYZE done")
    else:
        print("  (no ANALYZE on SQLite: the application never runs it; try --analyze)")

    by_status = Counter(
        dict(db.session.execute(sa.select(Report.status, sa.func.count()).group_by(Report.status)).tuples().all())
    )
    emergencies = db.session.scalar(sa.select(sa.func.count()).where(Report.emergency.is_(True)))
    print("Statuses: " + ", ".join(f"{s.value} {n:,}" for s, n in by_status.most_common()))
    print(f"Emergencies: {emergencies:,}")
    groups = Counter(
        dict(
            db.session.execute(
                sa.select(Category.group_code, sa.func.count())
                .join(Report, Report.category_code == Category.code)
                .where(Report.status == S.PENDING_REVIEW)
                .group_by(Category.group_code)
            )
            .tuples()
            .all()
        )
    )
    big_group, big_n = groups.most_common()[0]
    small_group, small_n = groups.most_common()[-1]
    db.session.remove()

    baseline_sql = sa.text("SELECT * FROM reports ORDER BY id LIMIT 25")
    review_page_50 = 50
    cases: list[tuple[str, Callable[[], object]]] = [
        ("baseline SELECT * ORDER BY id LIMIT 25", lambda: db.session.execute(baseline_sql).all()),
        ('queue("review") page 1', lambda: services.queue("review", page=1)),
        (f'queue("review") page {review_page_50}', lambda: services.queue("review", page=review_page_50)),
        (
            f'queue("review", group="{big_group}") ({big_n:,} pending)',
            lambda: services.queue("review", group=big_group),
        ),
        (
            f'queue("review", group="{small_group}") ({small_n:,} pending)',
            lambda: services.queue("review", group=small_group),
        ),
        ('queue("review", emergency_only=True)', lambda: services.queue("review", emergency_only=True)),
        ('queue("check") page 1', lambda: services.queue("check")),
        ('queue("handling") page 1', lambda: services.queue("handling")),
        ("next case: queue(per_page=2)", lambda: services.queue("review", per_page=2)),
        ("queue_counts()", services.queue_counts),
    ]

    # The two statements queue("review") sends, to time them raw and to explain them.
    with captured_sql() as seen:
        services.queue("review", page=1)
    count_sql, page_sql = seen[-2], seen[-1]
    with captured_sql() as seen:
        services.queue("review", page=review_page_50)
    deep_page_sql = seen[-1]
    with captured_sql() as seen:
        services.queue("review", group=big_group)
    group_page_sql = seen[-1]
    with captured_sql() as seen:
        services.queue_counts()
    counts_sql = seen[-1]
    db.session.remove()

    def raw(captured: tuple[str, Any]) -> Callable[[], object]:
        return lambda: db.session.connection().exec_driver_sql(*captured).all()

    cases += [
        ('  raw SQL: count of queue("review")', raw(count_sql)),
        ('  raw SQL: page of queue("review")', raw(page_sql)),
    ]

    print(f"\nTimings: median of {args.repeat} runs, ms (fresh session each run)")
    results = [(label, median_ms(call, args.repeat)) for label, call in cases]
    baseline = results[0][1]
    width = max(len(label) for label, _ in results)
    for label, ms in results:
        print(f"  {label:<{width}}  {ms:8.2f} ms   {ms / baseline:6.1f}x baseline")

    print('\nQuery plan: the ordered page of queue("review")')
    print("  " + one_line(page_sql[0]))
    for line in explain(*page_sql):
        print("    " + line)
    print(f"\nQuery plan: the same page query at page {review_page_50} (OFFSET {(review_page_50 - 1) * 25})")
    for line in explain(*deep_page_sql):
        print("    " + line)
    print('\nQuery plan: the total count of queue("review")')
    for line in explain(*count_sql):
        print("    " + line)
    print(f'\nQuery plan: the page of queue("review", group="{big_group}")')
    for line in explain(*group_page_sql):
        print("    " + line)
    print("\nQuery plan: queue_counts()")
    for line in explain(*counts_sql):
        print("    " + line)


if __name__ == "__main__":
    main()
