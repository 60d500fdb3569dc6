"""Points at scale: balances and honour rolls over 1,000,000 ledger entries, and redemptions per second.

The script builds a throw-away database (SQLite in a temporary directory by default; with ``--postgres``, or when
BENCH_DATABASE_URL names a PostgreSQL server, a temporary database ``cg_bench_points`` on that server, dropped at
the end; the database named in the URL is never written to), creates the schema with the real Alembic migrations
and loads, with bulk inserts (COPY on PostgreSQL, Core executemany on SQLite) and progress lines:

* ``--residents`` residents with their ledger accounts, a household for every three of them, 200 grids in 20
  communities and one accepted report per ten awards (for the community roll);
* ledger transactions of two entries each over the past two years: 84 % awards (half of them for a report),
  15 % redemptions, 1 % reversals of an earlier award, until there are ``--entries`` entries.

It times (median and 95th percentile in ms, in a fresh session, ORM included) the queries the pages make:
a resident's balance (``ledger.balance``), their history (``ledger.history``), a household board
(``honour.earned_by``), the honour rolls of this month, quarter and year (``honour.rolls``, all three rankings)
and the reconciliation of this month (``fund.reconcile``). Baselines from the same run: the same queries when the
ledger held only ``--baseline`` entries, and the balance and history queries once more without the index
``ix_points_entries_account_created`` (dropped, timed, put back), which shows what that index is worth.

Last, redemptions per second: ``store.redeem`` + commit in worker processes (as gunicorn runs them), each a
resident of its own with its own app and connection, for 1 worker and for ``--threads``, all from one item
(its stock row is the one thing they share, as at a busy store) and then each from an item of its own. On SQLite
only the single worker runs (SQLite admits one writer at a time; concurrent writers there measure its lock, not
the application). The books are checked afterwards (every transaction sums to zero, no negative balance, stock =
its movements).

Run from the repository root:

    .venv/bin/python bench/points.py [--postgres] [--entries 1000000] [--baseline 20000] [--threads 16]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from webapp import create_app, localtime  # noqa: E402
from webapp.accounts.models import Role, User  # noqa: E402
from webapp.db import db, utcnow  # noqa: E402
from webapp.geo.models import Grid  # noqa: E402
from webapp.points import awards, fund, honour, ledger, store  # noqa: E402
from webapp.points.models import (  # noqa: E402
    Account,
    AccountKind,
    Household,
    HouseholdMember,
    LedgerEntry,
    LedgerTransaction,
    StockMovement,
    StoreItem,
    TransactionKind,
)
from webapp.reports.models import Report  # noqa: E402
from webapp.reports.taxonomy import sync_categories  # noqa: E402

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_BENCH_DB = "cg_bench_points"
BATCH = 50_000
DAYS = 730
COMMUNITIES = 20
GRIDS = 200
ENTRY_INDEX = "ix_points_entries_account_created"


# --- The database -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(postgres_url: str | None) -> Iterator[str]:
    """A URL of an empty database that is removed afterwards, whatever happens."""
    if postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="cg_bench_points_") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        return
    server = sa.make_url(postgres_url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"))  # a crashed run
            connection.execute(sa.text(f"CREATE DATABASE {PG_BENCH_DB}"))
        try:
            yield server.set(database=PG_BENCH_DB).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"))
    finally:
        admin.dispose()


def make_app(url: str, upload_dir: str, pool: int = 5) -> Flask:
    options: dict[str, Any] = {"pool_pre_ping": True}
    if not url.startswith("sqlite"):
        options.update(pool_size=pool, max_overflow=5)
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "UPLOAD_DIR": upload_dir,
            "RATELIMIT_ENABLED": False,
        }
    )


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


# --- Loading ----------------------------------------------------------------------------------------------------


def bulk_insert(table: sa.Table, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY on PostgreSQL, executemany on SQLite, in batches; the values are already what the column stores."""
    done = 0
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal done
        with db.engine.begin() as connection:
            if is_postgres():
                raw = connection.connection.driver_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in batch:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                connection.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", batch)
        done += len(batch)
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return done


def naive(moment: datetime) -> datetime | str:
    """How UTCDateTime stores a moment: naive UTC (SQLite gets the text SQLAlchemy would write)."""
    value = moment.astimezone(UTC).replace(tzinfo=None)
    return value if is_postgres() else value.isoformat(sep=" ")


def load_people(residents: int, now: datetime) -> tuple[list[int], list[int], list[int]]:
    """Residents and their accounts, households of three, grids and reports; returns (accounts, users, reports)."""
    started = time.perf_counter()
    with db.engine.begin() as connection:
        connection.execute(
            User.__table__.insert(),
            [
                {
                    "phone": f"137{i:08d}",
                    "password_hash": "!",  # nobody logs in
                    "role": Role.CITIZEN,
                    "display_name": f"居民{i}",
                    "show_name_publicly": i % 3 == 0,
                    "created_at": now - timedelta(days=DAYS + 10),
                }
                for i in range(residents)
            ],
        )
        users = list(connection.scalars(sa.select(User.id).order_by(User.id)))
        connection.execute(
            Account.__table__.insert(), [{"kind": AccountKind.RESIDENT, "user_id": u, "lock_version": 0} for u in users]
        )
        connection.execute(
            Household.__table__.insert(),
            [
                {"name": f"家庭{i}", "invite_code": f"{i:08d}", "show_publicly": i % 2 == 0, "created_at": now}
                for i in range(len(users) // 3)
            ],
        )
        households = list(connection.scalars(sa.select(Household.id).order_by(Household.id)))
        connection.execute(
            HouseholdMember.__table__.insert(),
            [
                {"user_id": u, "household_id": households[i // 3], "joined_at": now}
                for i, u in enumerate(users[: 3 * len(households)])
            ],
        )
        connection.execute(
            Grid.__table__.insert(),
            [
                {
                    "code": f"140109{g // 10:03d}{g % 10:03d}{g:03d}",
                    "district_code": "140109",
                    "street_code": f"140109{g // 10:03d}",
                    "community_code": f"140109{(g % COMMUNITIES):06d}",
                    "community_name": f"社区{g % COMMUNITIES}",
                    "geometry": "{}",
                    "min_lat": 37.84,
                    "max_lat": 37.85,
                    "min_lon": 112.50,
                    "max_lon": 112.51,
                    "imported_at": now,
                }
                for g in range(GRIDS)
            ],
        )
        grids = list(connection.scalars(sa.select(Grid.code)))
    ledger.ensure_system_accounts()
    db.session.commit()
    accounts = list(
        db.session.scalars(sa.select(Account.id).where(Account.kind == AccountKind.RESIDENT).order_by(Account.id))
    )
    print(
        f"  {len(users):,} residents, {len(households):,} households, {len(grids)} grids "
        f"({time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    return accounts, users, grids  # type: ignore[return-value]


def load_reports(count: int, users: list[int], grids: list[str], now: datetime, rng: random.Random) -> list[int]:
    started = time.perf_counter()
    columns = [
        "client_id", "payload_hash", "reporter_id", "category_code", "description", "address", "location_source",
        "status", "channel", "created_at", "updated_at", "grid_code", "severity_rank", "self_handled",
    ]  # fmt: skip

    def rows() -> Iterator[tuple[Any, ...]]:
        for _ in range(count):
            created = naive(now - timedelta(seconds=rng.uniform(0, DAYS * 86_400)))
            yield (
                str(uuid.uuid4()), "0" * 64, rng.choice(users), "06042", "", "", "gps",
                "closed", "web", created, created, rng.choice(grids), 0, False,
            )  # fmt: skip

    bulk_insert(Report.__table__, columns, rows())
    ids = list(db.session.scalars(sa.select(Report.id)))
    print(f"  {len(ids):,} reports ({time.perf_counter() - started:.1f} s)", flush=True)
    return ids


class LedgerLoader:
    """Appends balanced two-entry transactions spread over the past two years, with progress lines."""

    def __init__(self, accounts: list[int], reports: list[int], now: datetime, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.accounts = accounts
        self.reports = reports
        self.now = now
        self.fund = ledger.system_account(AccountKind.FUND).id
        self.store = ledger.system_account(AccountKind.STORE).id
        db.session.commit()
        self.next_id = 1
        self.awards: list[tuple[str, int, int, datetime]] = []  # (key, account, points, when) to reverse some
        self.entries = 0

    def _transactions(self, count: int, sink: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for _ in range(count):
            tid = self.next_id
            self.next_id += 1
            roll = rng.random()
            if roll < 0.01 and self.awards:  # a reversal of an earlier award, some days later
                key, account, points, when = self.awards.pop(rng.randrange(len(self.awards)))
                moment = min(when + timedelta(days=rng.uniform(1, 30)), self.now)
                at = naive(moment)
                yield (tid, f"reversal:{key}", "reversal", "false_report", "", 0, None, at)
                sink.append((tid, account, -points, at, None))
                sink.append((tid, self.fund, points, at, None))
                continue
            moment = self.now - timedelta(seconds=rng.uniform(0, DAYS * 86_400))
            at = naive(moment)
            account = rng.choice(self.accounts)
            if roll < 0.16:  # a redemption
                points = rng.choice((10, 20, 30, 50))
                yield (tid, f"bench:order:{tid}", "redemption", "redemption", "", None, None, at)
                sink.append((tid, account, -points, at, None))
                sink.append((tid, self.store, points, at, None))
                continue
            points = rng.choice((1, 5, 5, 5, 8, 10))
            key = f"bench:award:{tid}"
            report = rng.choice(self.reports) if rng.random() < 0.5 else None
            yield (tid, key, "award", "report_accepted", "", 0, report, at)
            expires = awards.expiry_for(moment)
            sink.append((tid, self.fund, -points, at, None))
            sink.append((tid, account, points, at, expires if is_postgres() else expires.isoformat()))
            if len(self.awards) < 50_000:
                self.awards.append((key, account, points, moment))

    def grow_to(self, target_entries: int) -> None:
        started = time.perf_counter()
        transaction_columns = [
            "id",
            "business_key",
            "kind",
            "reason",
            "memo",
            "rule_version",
            "report_id",
            "created_at",
        ]
        entry_columns = ["transaction_id", "account_id", "amount", "created_at", "expires_on"]
        while self.entries < target_entries:
            chunk = min(BATCH, (target_entries - self.entries) // 2) or 1
            entries: list[tuple[Any, ...]] = []
            bulk_insert(LedgerTransaction.__table__, transaction_columns, self._transactions(chunk, entries))
            self.entries += bulk_insert(LedgerEntry.__table__, entry_columns, iter(entries))
            elapsed = time.perf_counter() - started
            print(f"  ledger entries: {self.entries:>10,} / {target_entries:,}  ({elapsed:.1f} s)", flush=True)
        if is_postgres():
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text("SELECT setval('points_transactions_id_seq', (SELECT max(id) FROM points_transactions))")
                )
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))  # what autovacuum does after a load


# --- Timing -----------------------------------------------------------------------------------------------------


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and 95th percentile in ms, each run in a fresh session."""
    runs = []
    for _ in range(repeat):
        db.session.remove()
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1000)
    db.session.remove()
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(len(runs) * 0.95))]


def query_timings(accounts: list[int], users: list[int], repeat: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(3)
    picks = [rng.randrange(len(accounts)) for _ in range(repeat)]
    cursor = iter(range(10**9))

    def account() -> Account:
        return db.session.get(Account, accounts[picks[next(cursor) % len(picks)]])

    def user() -> User:
        return db.session.get(User, users[picks[next(cursor) % len(picks)]])

    household = db.session.scalar(sa.select(Household.id).order_by(Household.id).limit(1))
    members = list(
        db.session.scalars(sa.select(HouseholdMember.user_id).where(HouseholdMember.household_id == household))
    )
    month = localtime.current_period(localtime.PeriodKind.MONTH)
    quarter = localtime.current_period(localtime.PeriodKind.QUARTER)
    year = localtime.current_period(localtime.PeriodKind.YEAR)
    month_start = month.start
    few = max(3, repeat // 20)
    return {
        "balance of a resident": timed(lambda: ledger.balance(account()), repeat),
        "history of a resident (100 rows)": timed(lambda: ledger.history(user()), repeat),
        "household board (month)": timed(lambda: honour.earned_by(members, month), repeat),
        "honour rolls: this month": timed(lambda: honour.rolls(month), few),
        "honour rolls: this quarter": timed(lambda: honour.rolls(quarter), few),
        "honour rolls: this year": timed(lambda: honour.rolls(year), few),
        "reconciliation: this month": timed(lambda: fund.reconcile(month_start), few),
    }


def print_table(columns: list[str], rows: dict[str, list[tuple[float, float] | None]]) -> None:
    width = max(len(name) for name in rows) + 2
    print(f"{'query':<{width}}" + "".join(f"{c:>24}" for c in columns))
    for name, cells in rows.items():
        line = f"{name:<{width}}"
        for cell in cells:
            line += f"{'—':>24}" if cell is None else f"{f'{cell[0]:.2f} / {cell[1]:.2f}':>24}"
        print(line)


# --- Redemptions per second -------------------------------------------------------------------------------------


RUNS = iter(range(1, 1000))


def redemptions_per_second(url: str, upload_dir: str, threads: int, per_thread: int, *, shared: bool = True) -> float:
    """``threads`` residents redeem ``per_thread`` times each, from one shared item (``shared``) or one item each;
    returns redemptions per second."""
    run = next(RUNS)
    app = make_app(url, upload_dir, pool=threads + 2)
    with app.app_context():
        admin = User(phone=f"136{run:08d}", password_hash="!", role=Role.ADMIN)
        db.session.add(admin)
        items = []
        for _ in range(1 if shared else threads):
            item = StoreItem(name_zh="洗衣液", points_price=10, cost_fen=1290, stock=0)
            db.session.add(item)
            db.session.flush()
            quantity = threads * per_thread if shared else per_thread
            store.purchase(item, admin, quantity=quantity, cost_fen=1290 * quantity, budget_line=None)
            items.append(item.id)
        buyers = []
        for i in range(threads):
            buyer = User(phone=f"135{run:04d}{i:04d}", password_hash="!", role=Role.CITIZEN)
            db.session.add(buyer)
            db.session.flush()
            ledger.post(
                f"bench:rps:{run}:{i}",
                TransactionKind.AWARD,
                "bench",
                [
                    (ledger.system_account(AccountKind.FUND), -10 * per_thread),
                    (ledger.account_for(buyer), 10 * per_thread),
                ],
            )
            buyers.append(buyer.id)
        db.session.commit()
        db.session.remove()
    with app.app_context():
        db.engine.dispose()
    # Processes, as gunicorn runs workers: threads would share one interpreter lock and measure Python, not the
    # database. Each process makes its own app, so its own engine and connections.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(threads + 1)
    failures = context.Queue()
    workers = [
        context.Process(
            target=_redeemer, args=(url, upload_dir, user_id, items[i % len(items)], per_thread, barrier, failures)
        )
        for i, user_id in enumerate(buyers)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    failed = [failures.get() for _ in range(failures.qsize())]
    with app.app_context():
        left = sum(db.session.get(StoreItem, item_id).stock for item_id in items)
        db.session.remove()
        db.engine.dispose()
    if failed:
        print(f"  {len(failed)} redemptions failed, e.g. {failed[0]}")
    assert left == len(failed), f"stock left {left}, failures {len(failed)}"
    return (threads * per_thread - len(failed)) / elapsed


def _redeemer(url: str, upload_dir: str, user_id: int, item_id: int, count: int, barrier: Any, failures: Any) -> None:
    app = make_app(url, upload_dir, pool=1)
    with app.app_context():
        barrier.wait()
        for _ in range(count):
            try:
                user, goods = db.session.get(User, user_id), db.session.get(StoreItem, item_id)
                store.redeem(user, goods, quantity=1, request_key=str(uuid.uuid4()))
                db.session.commit()
            except Exception as error:  # counted and reported by the parent
                db.session.rollback()
                failures.put(repr(error))
            finally:
                db.session.remove()
        db.engine.dispose()


def books_balance() -> bool:
    unbalanced = ledger.unbalanced_transactions()
    negative = db.session.execute(
        sa.select(Account.id)
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(
            Account.kind == AccountKind.RESIDENT, Account.user_id.in_(sa.select(User.id).where(User.phone.like("135%")))
        )
        .group_by(Account.id)
        .having(sa.func.sum(LedgerEntry.amount) < 0)
    ).all()
    shelves = db.session.execute(
        sa.select(StoreItem.id, StoreItem.stock, sa.func.sum(StockMovement.quantity))
        .join(StockMovement, StockMovement.item_id == StoreItem.id)
        .group_by(StoreItem.id, StoreItem.stock)
    ).all()
    return not unbalanced and not negative and all(stock == moved for _id, stock, moved in shelves)


# --- Main -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", action="store_true", help=f"use PostgreSQL ({PG_DEFAULT_URL} or BENCH_DATABASE_URL)"
    )
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=20_000, help="entries of the small baseline ledger")
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=200, help="runs of each per-resident query")
    parser.add_argument("--threads", type=int, default=16, help="concurrent redeeming processes (PostgreSQL)")
    parser.add_argument("--per-thread", type=int, default=40, help="redemptions each redeemer makes")
    args = parser.parse_args()
    env_url = os.environ.get("BENCH_DATABASE_URL", "")
    postgres_url = env_url if env_url.startswith("postgres") else (PG_DEFAULT_URL if args.postgres else None)
    with bench_database(postgres_url) as url, tempfile.TemporaryDirectory() as uploads:
        run(args, url, uploads)


def run(args: argparse.Namespace, url: str, uploads: str) -> None:
    app = make_app(url, uploads)
    now = utcnow()
    with app.test_request_context():
        engine_name = db.engine.dialect.name
        print(f"Points bench on {engine_name} ({sa.make_url(url).render_as_string(hide_password=True)})\n")
        upgrade(directory=app.extensions["migrate"].directory)
        sync_categories()
        db.session.commit()
        print("Loading")
        rng = random.Random(5)
        accounts, users, grids = load_people(args.residents, now)
        reports = load_reports(max(args.entries // 20, 100), users, grids, now, rng)
        loader = LedgerLoader(accounts, reports, now)

        loader.grow_to(args.baseline)
        small = query_timings(accounts, users, args.repeat)
        started = time.perf_counter()
        loader.grow_to(args.entries)
        print(f"  loaded in {time.perf_counter() - started:.1f} s\n")
        large = query_timings(accounts, users, args.repeat)

        with db.engine.begin() as connection:
            connection.execute(sa.text(f"DROP INDEX {ENTRY_INDEX}"))
        few = max(3, args.repeat // 40)
        unindexed = {
            "balance of a resident": query_timings_subset(accounts, "balance", few),
            "history of a resident (100 rows)": query_timings_subset(users, "history", few),
        }
        with db.engine.begin() as connection:
            connection.execute(sa.text(f"CREATE INDEX {ENTRY_INDEX} ON points_entries (account_id, created_at)"))

        print(
            f"Query times in ms, median / 95th percentile (fresh session each; {args.repeat} runs per resident query)"
        )
        columns = [f"{args.baseline:,} entries", f"{args.entries:,} entries", "without the index"]
        print_table(columns, {name: [small[name], large[name], unindexed.get(name)] for name in large})
        print()
        for name in ("balance of a resident", "honour rolls: this month", "honour rolls: this year"):
            ratio = large[name][0] / small[name][0] if small[name][0] else float("nan")
            print(f"  {name}: {ratio:.1f}× the time at {args.entries // args.baseline}× the entries")
        ratio = unindexed["balance of a resident"][0] / large["balance of a resident"][0]
        print(f"  balance without {ENTRY_INDEX}: {ratio:,.0f}× slower\n")
        db.session.remove()

    print(
        "Redemptions per second (store.redeem + commit in worker processes, a resident each; "
        f"{os.cpu_count()} CPUs shared with the database server)"
    )
    single = redemptions_per_second(url, uploads, 1, args.per_thread)
    print(f"  1 worker: {single:8.1f} redemptions/s")
    if engine_name == "postgresql":
        many = redemptions_per_second(url, uploads, args.threads, args.per_thread)
        print(f"  {args.threads} workers, one item: {many:8.1f} redemptions/s ({many / single:.1f}× one worker)")
        spread = redemptions_per_second(url, uploads, args.threads, args.per_thread, shared=False)
        print(
            f"  {args.threads} workers, an item each: {spread:8.1f} redemptions/s ({spread / single:.1f}× one worker)"
        )
    else:
        print("  concurrent redeemers: PostgreSQL only (run with --postgres or BENCH_DATABASE_URL=postgresql://…)")
    with app.app_context():
        print(f"  books balance afterwards: {'yes' if books_balance() else 'NO'}")
        db.session.remove()
        db.engine.dispose()


def query_timings_subset(ids: list[int], which: str, repeat: int) -> tuple[float, float]:
    rng = random.Random(9)
    picks = [ids[rng.randrange(len(ids))] for _ in range(repeat)]
    cursor = iter(range(10**9))
    if which == "balance":
        return timed(lambda: ledger.balance(db.session.get(Account, picks[next(cursor) % repeat])), repeat)
    return timed(lambda: ledger.history(db.session.get(User, picks[next(cursor) % repeat])), repeat)


if __name__ == "__main__":
    main()
