"""Speed of the supervisor dashboard's panels at 100,000 and 1,000,000 reports, on SQLite and PostgreSQL.

The script builds a throw-away database (SQLite in a temporary directory; or PostgreSQL when
``BENCH_DATABASE_URL=postgresql://user@host/NAME`` is set — NAME must contain "bench"; the database is dropped and
created again, and dropped at the end), migrates it, loads the demo departments, routing and the 616 demo grids,
then bulk-inserts realistic reports (SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL):

* categories and grids drawn with a Zipf-like skew (a few hotspots), ~40,000 residents (some very active);
* times over the last two years with a daily rhythm (morning and evening peaks), fewer reports at weekends and
  a slow growth;
* statuses as they stand in a working system: older reports mostly closed (5 % rejected), recent ones still open;
  review, dispatch, handling and verification times drawn from log-normal distributions, deadlines of 1–5 days;
* events for every step (submit, accept, dispatch, result, close, with returns and rework), 15 % of reports
  synced from offline, 3 % handled by volunteers, ratings for a fifth of the closed reports.

For each size it rebuilds the daily roll-up (``rollup.refresh_all``, timed), then times every panel as the
dashboard renders it (queries + SVG), median of ``--repeat`` runs, for four filter sets: the default (last 90
days), the whole two years, one street over two years and one grid over two years. It prints each figure and,
when two sizes ran, the growth from the first to the last. Sizes grow by appending, so 1M reuses the first 100k.

    .venv/bin/python bench/analytics.py [--sizes 100000,1000000] [--repeat 3]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cg_analytics_bench .venv/bin/python bench/analytics.py

``make bench`` runs it with ``BENCH_ANALYTICS_SIZES`` (default 100000) so it stays a few minutes long.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from webapp import create_app, localtime  # noqa: E402
from webapp.accounts.models import Department, Role, User  # noqa: E402
from webapp.analytics import queries, rollup  # noqa: E402
from webapp.analytics.models import analytics_daily  # noqa: E402
from webapp.db import db  # noqa: E402
from webapp.feedback.models import Rating  # noqa: E402
from webapp.geo.models import Grid  # noqa: E402
from webapp.reports.models import Category, Report, ReportEvent  # noqa: E402
from webapp.reports.taxonomy import sync_categories  # noqa: E402

DAYS = 730
RESIDENTS = 40_000
HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.5, 2, 5, 9, 10, 8, 7, 6, 5, 6, 7, 8, 10, 9, 7, 5, 4, 3, 2]
WEEKDAY_WEIGHTS = [1.0, 1.0, 0.95, 0.95, 0.9, 0.75, 0.7]
BATCH = 20_000


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  {label:<22} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    url = os.environ.get("BENCH_DATABASE_URL")
    keep = os.environ.get("BENCH_SQLITE_FILE")  # keep the SQLite database there (to look at query plans after)
    if not url and keep:
        Path(keep).unlink(missing_ok=True)
        yield f"sqlite:///{Path(keep).resolve()}"
        return
    if not url:
        with tempfile.TemporaryDirectory(prefix="cg_analytics_") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        return
    target = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if "bench" not in (target.database or ""):
        raise SystemExit("BENCH_DATABASE_URL: the database name must contain 'bench' (it is dropped and re-created)")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
        try:
            yield target.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def make_app(url: str, uploads: str) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_DIR": uploads,
            "SECRET_KEY": "bench",
            "TESTING": True,
            "SERVER_NAME": "bench.local",
        }
    )


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (rank**s) for rank in range(1, n + 1)]


class Generator:
    """Deterministic realistic reports; ``rows(count)`` continues where the last call stopped."""

    def __init__(self, now: datetime) -> None:
        self.rng = random.Random(20261129)
        self.now = now
        self.next_id = 1
        self.next_event = 1
        self.next_rating = 1
        departments = {d.code: d.id for d in db.session.scalars(sa.select(Department))}
        from webapp.demo import DEMO_DEPARTMENTS

        group_department = {g: departments[code] for code, _, _, groups, _ in DEMO_DEPARTMENTS for g in groups}
        categories = list(db.session.scalars(sa.select(Category).where(Category.active).order_by(Category.code)))
        self.rng.shuffle(categories)
        self.categories = [(c.code, group_department.get(c.group_code), c.volunteer_ok) for c in categories]
        self.category_weights = list(itertools.accumulate(zipf_weights(len(categories))))
        grids = list(db.session.execute(sa.select(Grid.code, Grid.min_lat, Grid.min_lon).order_by(Grid.code)))
        self.rng.shuffle(grids)
        self.grids = grids
        self.grid_weights = list(itertools.accumulate(zipf_weights(len(grids), 0.6)))
        self.resident_ids = list(db.session.scalars(sa.select(User.id).where(User.role == Role.CITIZEN)))
        self.resident_weights = list(itertools.accumulate(zipf_weights(len(self.resident_ids), 0.6)))
        self.day_weights = list(
            itertools.accumulate(
                (0.6 + 0.4 * d / DAYS) * WEEKDAY_WEIGHTS[(self.now - timedelta(days=DAYS - d)).weekday()]
                for d in range(DAYS)
            )
        )
        self.hour_weights = list(itertools.accumulate(HOUR_WEIGHTS))

    def _lognormal_hours(self, median: float, spread: float = 0.9) -> timedelta:
        return timedelta(hours=median * math.exp(self.rng.gauss(0, spread)))

    def rows(self, count: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]]:
        rng = self.rng
        for _ in range(count):
            report_id = self.next_id
            self.next_id += 1
            day = rng.choices(range(DAYS), cum_weights=self.day_weights)[0]
            hour = rng.choices(range(24), cum_weights=self.hour_weights)[0]
            local = (self.now - timedelta(days=DAYS - day)).replace(hour=hour, minute=rng.randrange(60))
            created = (local - timedelta(hours=8)).replace(tzinfo=UTC)  # local time is UTC+8
            if created > self.now:
                created = self.now - timedelta(minutes=rng.randrange(1, 600))
            category, department, volunteer_ok = rng.choices(self.categories, cum_weights=self.category_weights)[0]
            grid = rng.choices(self.grids, cum_weights=self.grid_weights)[0]
            reporter = rng.choices(self.resident_ids, cum_weights=self.resident_weights)[0]
            events = [("submit", None, "pending_review", created)]
            row: dict[str, Any] = {
                "id": report_id,
                "client_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "payload_hash": "0" * 64,
                "reporter_id": reporter,
                "category_code": category,
                "description": "",
                "lat": grid.min_lat + 0.0004,
                "lon": grid.min_lon + 0.0004,
                "address": "",
                "location_source": "gps",
                "status": "pending_review",
                "channel": "app" if rng.random() < 0.6 else "web",
                "captured_at": created - timedelta(minutes=rng.randrange(10, 2880)) if rng.random() < 0.15 else None,
                "created_at": created,
                "updated_at": created,
                "grid_code": grid.code,
                "severity": None,
                "severity_rank": 0,
                "department_id": None,
                "handler_id": None,
                "self_handled": False,
                "accepted_at": None,
                "dispatched_at": None,
                "due_at": None,
                "closed_at": None,
                "escalated_at": None,
                "reject_reason": None,
                "emergency": rng.random() < 0.01,
                "version": 1,
            }
            rating = None
            reviewed = created + self._lognormal_hours(2.0)
            if reviewed < self.now:
                if rng.random() < 0.05:
                    row["status"], row["reject_reason"] = "rejected", "not_in_scope"
                    events.append(("reject", "pending_review", "rejected", reviewed))
                else:
                    row.update(status="accepted", accepted_at=reviewed, severity="general")
                    events.append(("accept", "pending_review", "accepted", reviewed))
                    volunteer = volunteer_ok and rng.random() < 0.1
                    if volunteer:
                        row.update(handler_id=reporter, self_handled=rng.random() < 0.5, status="in_progress")
                        start = reviewed
                    else:
                        start = reviewed + self._lognormal_hours(0.5)
                        if start < self.now:
                            row.update(
                                status="dispatched",
                                dispatched_at=start,
                                department_id=department,
                                due_at=start + timedelta(days=rng.choice((1, 2, 3, 5))),
                            )
                            events.append(("dispatch", "accepted", "dispatched", start))
                            if rng.random() < 0.04:  # returned as not ours, re-dispatched
                                back = start + self._lognormal_hours(3)
                                events.append(("return", "dispatched", "returned", back))
                                events.append(("dispatch", "returned", "dispatched", back + timedelta(hours=1)))
                    if start < self.now:
                        result = start + self._lognormal_hours(22, 1.0)
                        if result < self.now:
                            action = "volunteer_result" if volunteer else "report_result"
                            events.append((action, row["status"], "awaiting_check", result))
                            row["status"] = "awaiting_check"
                            checked = result + self._lognormal_hours(4)
                            if rng.random() < 0.05 and checked < self.now:
                                events.append(("rework", "awaiting_check", "rework", checked))
                                result = checked + self._lognormal_hours(12)
                                events.append((action, "rework", "awaiting_check", result))
                                checked = result + self._lognormal_hours(3)
                            if checked < self.now:
                                row.update(status="closed", closed_at=checked)
                                events.append(("close", "awaiting_check", "closed", checked))
                                if rng.random() < 0.2:
                                    rating = {
                                        "id": self.next_rating,
                                        "report_id": report_id,
                                        "user_id": reporter,
                                        "stars": rng.choices((1, 2, 3, 4, 5), (3, 4, 10, 33, 50))[0],
                                        "comment": "",
                                        "reopened": False,
                                        "created_at": checked + timedelta(hours=rng.randrange(1, 72)),
                                    }
                                    self.next_rating += 1
            event_rows = []
            for action, source, target, at in events:
                event_rows.append(
                    {
                        "id": self.next_event,
                        "report_id": report_id,
                        "at": min(at, self.now),
                        "actor_id": None,
                        "actor_role": "system",
                        "action": action,
                        "from_status": source,
                        "to_status": target,
                        "note": "",
                    }
                )
                self.next_event += 1
            row["updated_at"] = max(e["at"] for e in event_rows)
            yield row, event_rows, rating


def _naive(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([_naive(row[c]) for c in columns])
        return
    # Core executemany straight on the table: naive UTC strings, as UTCDateTime stores them.
    connection.execute(sa.insert(table), rows)


def load(generator: Generator, count: int) -> float:
    started = time.perf_counter()
    reports, events, ratings = [], [], []
    plain = {
        name: sa.Table(name, sa.MetaData(), autoload_with=db.engine) for name in ("reports", "report_events", "ratings")
    }
    done = 0
    for row, event_rows, rating in generator.rows(count):
        reports.append({k: _naive(v) for k, v in row.items()})
        events.extend({k: _naive(v) for k, v in e.items()} for e in event_rows)
        if rating:
            ratings.append({k: _naive(v) for k, v in rating.items()})
        if len(reports) >= BATCH:
            insert(plain["reports"], reports)
            insert(plain["report_events"], events)
            insert(plain["ratings"], ratings)
            done += len(reports)
            reports, events, ratings = [], [], []
            progress("reports + events", done, count)
    insert(plain["reports"], reports)
    insert(plain["report_events"], events)
    insert(plain["ratings"], ratings)
    done += len(reports)
    progress("reports + events", done, count)
    if db.engine.dialect.name == "postgresql":
        for name in ("reports", "report_events", "ratings"):
            db.session.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
            )
    db.session.commit()
    return time.perf_counter() - started


def setup_reference_data() -> None:
    from webapp.demo import GRIDS_FILE, _departments
    from webapp.geo.services import import_grids

    sync_categories()
    _departments()
    import_grids(GRIDS_FILE.read_bytes())
    users = sa.Table("users", sa.MetaData(), autoload_with=db.engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "phone": f"139{index:08d}",
            "password_hash": "x",
            "role": "citizen",
            "display_name": "",
            "show_name_publicly": False,
            "large_text": False,
            "notify_by_sms": False,
            "active": True,
            "created_at": now - timedelta(days=random.Random(index).randrange(DAYS)),
            "is_department_head": False,
            "on_duty": False,
        }
        for index in range(RESIDENTS)
    ]
    db.session.connection().execute(sa.insert(users), rows)
    db.session.commit()


def filter_sets(today: Any) -> dict[str, queries.Filters]:
    street = db.session.scalar(sa.select(Grid.street_code).order_by(Grid.street_code).limit(1))
    top_grid = db.session.scalar(
        sa.select(Report.grid_code).group_by(Report.grid_code).order_by(sa.func.count().desc()).limit(1)
    )
    start = today - timedelta(days=DAYS)
    return {
        "default 90 days": queries.Filters(today - timedelta(days=89), today),
        "all 2 years": queries.Filters(start, today),
        "one street, 2 years": queries.Filters(start, today, street=street),
        "one grid, 2 years": queries.Filters(start, today, grid=top_grid),
    }


def time_panels(app: Flask, repeat: int) -> dict[tuple[str, str], float]:
    from webapp.analytics.views import PANELS, _panel_context

    results = {}
    with app.test_request_context("/dashboard/"):
        sets = filter_sets(localtime.today())
    for set_name, filters in sets.items():
        for panel in PANELS:
            timings = []
            for _ in range(repeat):
                db.session.remove()
                with app.test_request_context("/dashboard/"):  # a fresh request each time: nothing cached
                    started = time.perf_counter()
                    _panel_context(panel, filters)
                    timings.append(time.perf_counter() - started)
            results[(set_name, panel)] = statistics.median(timings) * 1000
            print(f"    {set_name:<22} {panel:<14} {results[(set_name, panel)]:9.1f} ms", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_ANALYTICS_SIZES", "100000,1000000"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(",") if size.strip())
    with bench_database() as url, tempfile.TemporaryDirectory(prefix="cg_analytics_uploads_") as uploads:
        app = make_app(url, uploads)
        with app.app_context():
            backend = db.engine.dialect.name
            version = db.session.scalar(
                sa.text("SELECT version()" if backend == "postgresql" else "SELECT sqlite_version()")
            )
            print(f"Dashboard panels on {backend} ({str(version).split(',')[0]}), sizes {sizes}", flush=True)
            upgrade(directory=app.extensions["migrate"].directory)
            setup_reference_data()
            generator = Generator(datetime.now(UTC).replace(second=0, microsecond=0))
            all_results: dict[int, dict[tuple[str, str], float]] = {}
            loaded = 0
            for size in sizes:
                seconds = load(generator, size - loaded)
                loaded = size
                if backend == "postgresql":
                    db.session.commit()
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                        connection.execute(sa.text("VACUUM ANALYZE"))
                started = time.perf_counter()
                rows = rollup.refresh_all()
                db.session.commit()
                rollup_seconds = time.perf_counter() - started
                if backend == "postgresql":
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                        connection.execute(sa.text("VACUUM ANALYZE analytics_daily"))
                events = db.session.scalar(sa.select(sa.func.count()).select_from(ReportEvent))
                ratings = db.session.scalar(sa.select(sa.func.count()).select_from(Rating))
                print(
                    f"\n{size:,} reports ({events:,} events, {ratings:,} ratings) loaded in {seconds:.0f} s; "
                    f"roll-up rebuilt in {rollup_seconds:.1f} s: {rows:,} rows",
                    flush=True,
                )
                one_day = _time_one_day_refresh()
                print(f"  refreshing one day of the roll-up (what a write costs): {one_day:.1f} ms", flush=True)
                all_results[size] = time_panels(app, args.repeat)
            if len(sizes) > 1:
                first, last = sizes[0], sizes[-1]
                print(f"\nGrowth {first:,} → {last:,} reports (ms, ratio):")
                for key, value in all_results[last].items():
                    before = all_results[first][key]
                    print(
                        f"    {key[0]:<22} {key[1]:<14} {before:9.1f} → {value:9.1f}  ×{value / max(before, 0.01):.1f}"
                    )
            slowest = max(all_results[sizes[-1]].items(), key=lambda item: item[1])
            print(
                f"\nSlowest panel at {sizes[-1]:,}: {slowest[0][1]} ({slowest[0][0]}) {slowest[1]:.0f} ms"
                " (target < 1000 ms)"
            )
            db.session.remove()
            db.engine.dispose()


def _time_one_day_refresh() -> float:
    day = db.session.scalar(sa.select(sa.func.max(analytics_daily.c.day)))
    started = time.perf_counter()
    rollup.refresh_days([day])
    db.session.commit()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
