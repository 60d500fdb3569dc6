"""Requests per second of the main pages under gunicorn, against a Flask hello-world in the same run.

For each database (SQLite, and PostgreSQL with ``--postgres``) the script builds a throw-away database with the
real Alembic migrations, the demo data (departments, grids, one account per role, the store, a campaign) and a
generated history of 10,000 reports (``--large``: 10,000 and then 100,000, to show how pages grow with the data;
``--sizes`` for other sizes). The reports come from ``bench/analytics.py``'s generator (realistic categories,
grids, statuses, events and ratings over two years) and each carries a photo row. The daily roll-up is rebuilt
after loading, as the nightly job does.

It then starts two servers on loopback, both ``gunicorn --workers 2 --worker-class sync`` with the access log off
and no configuration file: the app (``webapp:create_app()``) on that database, and ``bench/hello_world.py``. For
every number of concurrent clients (``--clients``, default 10 and 50) it first drives the hello-world, then each
page for ``--seconds`` (default 15) with ``wrk`` when it is installed (else a small asyncio client), and prints
req/s, p50/p95/p99 latency, errors (connection errors, timeouts and non-2xx answers) and each page's share of
the hello-world's req/s. Logged-in pages (``/points`` as the demo resident, ``/review/``, ``/department/`` and
``/dashboard/`` as staff) are driven with a session cookie obtained through ``POST /api/v1/session``.

Before the load, each page is also rendered in this process through Flask's test client on the same database:
the number of SQL statements it sends and its median server time (no network, no gunicorn), so a regression
shows up as a query count before it shows up as req/s. Pages keep public figures and (for anonymous visitors)
rendered pieces for a few seconds (``webapp.cache``): the time is a repeated request's, and "cold" the time of a
request after everything kept was forgotten, as after a write in the same process.

Targets: resident pages >= 10 % of hello-world at 10 clients (SQLite and PostgreSQL) and p95 < 150 ms at 50
clients; staff pages >= 5 %; from 10,000 to 100,000 reports no page slower by more than 20 %.

The PostgreSQL database is ``BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/cg_http_bench``;
its name must contain "bench": it is dropped and created again, and dropped at the end). Everything listens on
127.0.0.1 only and every server is stopped at the end, also on Ctrl-C.

    .venv/bin/python bench/http_load.py [--postgres] [--large] [--seconds 15] [--clients 10,50]
                                        [--pages / /reports] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from tests.helpers import count_queries  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.db import db  # noqa: E402

PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/cg_http_bench"
RESIDENTS = 2_000
DEMO_PASSWORD = "demo12345"
# (path, who is logged in (a demo phone number) or None, kind)
PAGES: list[tuple[str, str | None, str]] = [
    ("/", None, "resident"),
    ("/reports", None, "resident"),
    ("/reports/{report_id}", None, "resident"),
    ("/reports/new", None, "resident"),
    ("/open-data", None, "resident"),
    ("/store", None, "resident"),
    ("/honour", None, "resident"),
    ("/campaigns", None, "resident"),
    ("/points", "13800000001", "resident"),
    ("/review/", "13800000003", "staff"),
    ("/department/", "13800000004", "staff"),
    ("/dashboard/", "13800000005", "staff"),
]
TARGET_RESIDENT_SHARE = 10.0
TARGET_STAFF_SHARE = 5.0
TARGET_P95_MS = 150.0
TARGET_GROWTH = 20.0
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, \\"non2xx\\": %d,"
    .. " \\"p50\\": %d, \\"p95\\": %d, \\"p99\\": %d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class Result:
    backend: str
    size: int
    clients: int
    page: str
    kind: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    queries: int | None = None
    server_ms: float | None = None
    share: float | None = None
    cold_ms: float | None = None
    database_ms: float | None = None


# --- Databases and data -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bench.sqlite3'}"
        return
    url = os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT_URL)
    target = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if "bench" not in (target.database or ""):
        raise SystemExit("BENCH_DATABASE_URL: the database name must contain 'bench' (it is dropped and re-created)")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    try:
        with admin.connect() as connection:
            connection.execute(drop)
            connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
        try:
            yield target.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(drop)
    finally:
        admin.dispose()


def _analytics_bench():  # type: ignore[no-untyped-def]
    """bench/analytics.py's report generator (loaded from its file: bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("citizen_grid_bench_analytics", ROOT / "bench" / "analytics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def app_settings(url: str, uploads: Path) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "UPLOAD_DIR": str(uploads),
        "SECRET_KEY": "bench-http-load",
        "RATELIMIT_ENABLED": False,
    }


def prepare(app: Flask) -> Any:
    """Schema, demo data and residents; returns the report generator."""
    from webapp.demo import seed_demo
    from webapp.reports.taxonomy import sync_categories

    analytics = _analytics_bench()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        sync_categories()
        seed_demo(app.extensions["storage"])
        db.session.commit()
        users = sa.Table("users", sa.MetaData(), autoload_with=db.engine)
        now = datetime.now(UTC).replace(tzinfo=None)
        db.session.connection().execute(
            sa.insert(users),
            [
                {
                    "phone": f"139{index:08d}",
                    "password_hash": "x",
                    "role": "citizen",
                    "display_name": f"居民{index}",
                    "show_name_publicly": index % 3 == 0,
                    "large_text": False,
                    "notify_by_sms": False,
                    "active": True,
                    "created_at": now - timedelta(days=index % 700),
                    "is_department_head": False,
                    "on_duty": False,
                }
                for index in range(RESIDENTS)
            ],
        )
        db.session.commit()
        generator = analytics.Generator(datetime.now(UTC).replace(second=0, microsecond=0))
        for attribute, table in (("next_id", "reports"), ("next_event", "report_events"), ("next_rating", "ratings")):
            highest = db.session.scalar(sa.text(f"SELECT max(id) FROM {table}")) or 0
            setattr(generator, attribute, highest + 1)
    return analytics, generator


def grow(app: Flask, analytics: Any, generator: Any, count: int) -> None:
    """Append ``count`` generated reports (with a photo row each) and rebuild the roll-up."""
    from webapp.analytics import rollup

    with app.app_context():
        first = generator.next_id
        analytics.load(generator, count)
        photo = db.session.execute(sa.text("SELECT display_key, thumb_key FROM report_photos LIMIT 1")).one()
        photos = sa.Table("report_photos", sa.MetaData(), autoload_with=db.engine)
        now = datetime.now(UTC).replace(tzinfo=None)
        batch = []
        for report_id in range(first, generator.next_id):
            batch.append(
                {
                    "report_id": report_id,
                    "kind": "before",
                    "position": 0,
                    "display_key": photo.display_key,
                    "thumb_key": photo.thumb_key,
                    "width": 1600,
                    "height": 1200,
                    "thumb_width": 160,
                    "thumb_height": 120,
                    "phash": "0" * 16,
                    "created_at": now,
                }
            )
            if len(batch) >= 20_000:
                db.session.connection().execute(sa.insert(photos), batch)
                batch = []
        if batch:
            db.session.connection().execute(sa.insert(photos), batch)
        db.session.commit()
        rollup.refresh_all()
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))


def sample_report_id(app: Flask) -> int:
    """A public report from the middle of the generated history (one with a photo and a few events)."""
    with app.app_context():
        ids = db.session.scalars(sa.text("SELECT id FROM reports WHERE status = 'closed' ORDER BY id")).all()
        return int(ids[len(ids) // 2])


# --- In-process: query counts and server time -------------------------------------------------------------------


def login_test_client(app: Flask, phone: str | None):  # type: ignore[no-untyped-def]
    client = app.test_client()
    if phone:
        token = client.get("/api/v1/csrf").get_json()["csrf_token"]
        response = client.post(
            "/api/v1/session", json={"phone": phone, "password": DEMO_PASSWORD}, headers={"X-CSRFToken": token}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
    return client


def in_process(
    app: Flask, pages: list[tuple[str, str | None, str]], repeat: int = 15, database_repeat: int = 300
) -> dict[str, tuple[int, float, float, float | None]]:
    """Per page: SQL statements of one request, and the median CPU time of a request in this process (CPU time,
    not wall time, so other work on the machine does not count), repeated and cold (every figure and piece of
    page kept by webapp.cache forgotten first); on PostgreSQL also the mean CPU time the database's backends
    spent per repeated request (over ``database_repeat`` requests: the kernel counts in 10 ms ticks)."""
    from report_posts import cpu_seconds, used  # the same /proc reading as the report POST bench

    from webapp import cache

    figures = {}
    for path, phone, _kind in pages:
        client = login_test_client(app, phone)
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        with app.app_context():
            engine = db.engine
        with count_queries(engine) as statements:
            client.get(path)
        timings, cold = [], []
        for _ in range(repeat):
            started = time.process_time()
            client.get(path)
            timings.append((time.process_time() - started) * 1000)
        for _ in range(repeat):
            with app.app_context():
                cache.forget_figures()
            started = time.process_time()
            client.get(path)
            cold.append((time.process_time() - started) * 1000)
        database_ms = None
        if engine.dialect.name == "postgresql":
            before = client_backends(engine, cpu_seconds)
            for _ in range(database_repeat):
                client.get(path)
            database_ms = used(before, client_backends(engine, cpu_seconds)) * 1000 / database_repeat
        figures[path] = (len(statements), statistics.median(timings), statistics.median(cold), database_ms)
    return figures


def client_backends(engine: sa.Engine, cpu_seconds: Any) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving the app's connections to the bench database (not autovacuum,
    which may still be analysing the generated rows). Asked on a connection of its own: one of the app's pool
    would leave itself out."""
    separate = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with separate.connect() as connection:
        pids = connection.scalars(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        ).all()
    separate.dispose()
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


# --- Servers ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with 2 sync workers on loopback; the same settings for the app and the hello-world."""

    def __init__(self, target: str, pythonpath: Path, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [
            str(gunicorn),
            "--workers=2",
            "--worker-class=sync",
            f"--bind=127.0.0.1:{self.port}",
            f"--pythonpath={pythonpath}",
            "--log-level=warning",
            "--timeout=120",
            target,
        ]
        environment = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
        environment.update(env)
        # Run from an empty directory so no gunicorn.conf.py changes the settings of one of the two servers.
        self.log = open(workdir / f"gunicorn-{self.port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self, path: str = "/", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn stopped: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer on {self.url}{path}: see {self.log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# The browser every request of the run presents. Flask-Login ties a session to its browser (User-Agent and address,
# session protection "basic"): a request from another browser marks the session not fresh and sends a new cookie. A
# real browser keeps that cookie; the load generator replays the login's cookie, so with a User-Agent of its own
# (urllib's at the login, wrk's or none under load) every request would pay for re-signing a cookie no browser pays for.
USER_AGENT = "citizen-grid-bench/1 (load generator)"


def session_cookie(base_url: str, phone: str) -> str:
    """Log in through the API as the outbox does; return the Cookie header for the load generator."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base_url + "/api/v1/csrf", timeout=30) as response:
        token = json.load(response)["csrf_token"]
    request = urllib.request.Request(
        base_url + "/api/v1/session",
        data=json.dumps({"phone": phone, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
        method="POST",
    )
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


# --- Load generators --------------------------------------------------------------------------------------------


def run_wrk(url: str, clients: int, seconds: float, cookie: str | None, script: Path) -> dict[str, float]:
    command = [
        "wrk",
        f"--threads={min(2, clients)}",
        f"--connections={clients}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={script}",
        "--header",
        f"User-Agent: {USER_AGENT}",
    ]
    if cookie:
        command += ["--header", f"Cookie: {cookie}"]
    completed = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    line = next(line for line in completed.stdout.splitlines() if line.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50"] / 1000,
        "p95_ms": data["p95"] / 1000,
        "p99_ms": data["p99"] / 1000,
        "errors": data["errors"] + data["non2xx"],
    }


async def _asyncio_load(host: str, port: int, path: str, clients: int, seconds: float, cookie: str | None):  # type: ignore[no-untyped-def]
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n"
    if cookie:
        request += f"Cookie: {cookie}\r\n"
    payload = (request + "\r\n").encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                writer.write(payload)
                await writer.drain()
                data = await asyncio.wait_for(reader.read(), 10)  # Connection: close: read to the end
                writer.close()
                status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
                if 200 <= status < 300:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
            except (OSError, TimeoutError, ValueError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else float("nan")

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "errors": errors,
    }


def drive(url: str, clients: int, seconds: float, cookie: str | None, script: Path | None) -> dict[str, float]:
    if script is not None:
        return run_wrk(url, clients, seconds, cookie, script)
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    return asyncio.run(_asyncio_load(host, int(port), "/" + path, clients, seconds, cookie))


# --- The run ----------------------------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, hello: Gunicorn | None, script: Path | None) -> list[Result]:
    results: list[Result] = []
    pages = [p for p in PAGES if not args.pages or p[0] in args.pages or p[0].split("{")[0] in args.pages]
    with (
        tempfile.TemporaryDirectory(prefix="cg_http_") as tmp,
        bench_database(backend, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        uploads = workdir / "uploads"
        app = create_app(app_settings(url, uploads))
        print(f"\n== {backend}: building the database", flush=True)
        analytics, generator = prepare(app)
        loaded = 0
        for size in args.sizes:
            grow(app, analytics, generator, size - loaded)
            loaded = size
            report_id = sample_report_id(app)
            concrete = [(p.format(report_id=report_id), phone, kind) for p, phone, kind in pages]
            figures = in_process(app, concrete)
            if args.in_process_only:
                for (path, _phone, kind), (template_path, _, _) in zip(concrete, pages, strict=True):
                    queries, server_ms, cold_ms, database_ms = figures[path]
                    page = template_path.replace("{report_id}", "<id>")
                    results.append(
                        Result(
                            backend, size, 0, page, kind, 0, 0, 0, 0, 0, queries, server_ms,
                            cold_ms=cold_ms, database_ms=database_ms,
                        )
                    )
                continue
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            server = Gunicorn(
                "webapp:create_app()",
                ROOT,
                {
                    "DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://", 1),
                    "UPLOAD_DIR": str(uploads),
                    "SECRET_KEY": "bench-http-load",
                    "RATELIMIT_ENABLED": "false",
                    "SMS_BACKEND": "log",
                },
                workdir,
            )
            try:
                server.wait("/healthz")
                cookies = {phone: session_cookie(server.url, phone) for _, phone, _ in concrete if phone}
                assert hello is not None
                for clients in args.clients:
                    base = drive(hello.url + "/", clients, args.seconds, None, script)
                    results.append(Result(backend, size, clients, "hello-world", "baseline", **base))
                    print(
                        f"   {backend} {size:,} reports, {clients} clients: hello-world {base['rps']:,.0f} req/s",
                        flush=True,
                    )
                    for (path, phone, kind), (template_path, _, _) in zip(concrete, pages, strict=True):
                        row = drive(server.url + path, clients, args.seconds, cookies.get(phone or ""), script)
                        queries, server_ms, cold_ms, database_ms = figures[path]
                        results.append(
                            Result(
                                backend,
                                size,
                                clients,
                                template_path.replace("{report_id}", "<id>"),
                                kind,
                                **row,
                                queries=queries,
                                server_ms=server_ms,
                                share=100 * row["rps"] / base["rps"],
                                cold_ms=cold_ms,
                                database_ms=database_ms,
                            )
                        )
                        print(f"     {path:<16} {row['rps']:8,.0f} req/s", flush=True)
            finally:
                server.stop()
    return results


def print_table(results: list[Result]) -> None:
    header = (
        f"{'db':<10} {'reports':>8} {'clients':>7}  {'page':<16} {'req/s':>8} {'share':>7} {'p50 ms':>8}"
        f" {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'queries':>7} {'CPU ms':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        share = f"{r.share:6.1f}%" if r.share is not None else "      -"
        queries = f"{r.queries:>7}" if r.queries is not None else "      -"
        server_ms = f"{r.server_ms:9.1f}" if r.server_ms is not None else "        -"
        print(
            f"{r.backend:<10} {r.size:>8,} {r.clients:>7}  {r.page:<16} {r.rps:8,.0f} {share} {r.p50_ms:8.1f}"
            f" {r.p95_ms:8.1f} {r.p99_ms:8.1f} {r.errors:>6} {queries} {server_ms}"
        )


def print_in_process(results: list[Result]) -> None:
    sizes = sorted({r.size for r in results})
    print()
    print(
        f"{'db':<10} {'page':<16}"
        + "".join(f" {f'{n:,} q':>9} {f'{n:,} CPU ms':>14} {'cold ms':>8} {'DB ms':>6}" for n in sizes)
    )
    keys = dict.fromkeys((r.backend, r.page) for r in results)
    by_key = {(r.backend, r.page, r.size): r for r in results}
    for backend, page in keys:
        cells = ""
        for n in sizes:
            r = by_key[(backend, page, n)]
            database = f"{r.database_ms:6.2f}" if r.database_ms is not None else "     -"
            cells += f" {r.queries:>9} {r.server_ms:>14.2f} {r.cold_ms:>8.2f} {database}"
        if len(sizes) > 1:
            first, last = by_key[(backend, page, sizes[0])], by_key[(backend, page, sizes[-1])]
            growth = 100 * (last.server_ms / first.server_ms - 1)  # type: ignore[operator]
            cells += f"   {growth:+6.1f} %  {'PASS' if growth <= TARGET_GROWTH else 'MISS'}"
        print(f"{backend:<10} {page:<16}{cells}")


def print_verdicts(results: list[Result], clients: list[int]) -> None:
    print()
    low, high = min(clients), max(clients)
    misses = []
    for r in results:
        if r.kind == "baseline":
            continue
        target = TARGET_RESIDENT_SHARE if r.kind == "resident" else TARGET_STAFF_SHARE
        if r.clients == low and r.share is not None and r.share < target:
            misses.append(f"{r.backend} {r.size:,}: {r.page} {r.share:.1f} % of hello-world (target >= {target:.0f} %)")
        if r.kind == "resident" and r.clients == high and r.p95_ms >= TARGET_P95_MS:
            misses.append(f"{r.backend} {r.size:,}: {r.page} p95 {r.p95_ms:.0f} ms at {high} clients (target < 150)")
        if r.errors:
            misses.append(f"{r.backend} {r.size:,}: {r.page} {r.errors} errors at {r.clients} clients")
    sizes = sorted({r.size for r in results})
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        print(f"growth from {first:,} to {last:,} reports (p50 at {low} clients; test-client server time):")
        by_key = {(r.backend, r.size, r.clients, r.page): r for r in results}
        for r in results:
            if r.size != first or r.clients != low or r.kind == "baseline":
                continue
            later = by_key.get((r.backend, last, low, r.page))
            if later is None:
                continue
            growth = 100 * (later.p50_ms / r.p50_ms - 1)
            server = 100 * (later.server_ms / r.server_ms - 1) if later.server_ms and r.server_ms else float("nan")
            verdict = "PASS" if growth <= TARGET_GROWTH else "MISS"
            print(f"  {r.backend:<10} {r.page:<16} p50 {growth:+6.1f} %   server {server:+6.1f} %   {verdict}")
            if growth > TARGET_GROWTH:
                misses.append(f"{r.backend}: {r.page} grows {growth:.0f} % from {first:,} to {last:,} reports")
    print()
    if misses:
        print("targets missed:")
        for miss in misses:
            print(f"  - {miss}")
    else:
        print(
            "all targets met: resident pages >= 10 % and staff pages >= 5 % of hello-world at"
            f" {low} clients, resident p95 < 150 ms at {high} clients, no errors"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL (BENCH_DATABASE_URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite (with --postgres)")
    parser.add_argument("--large", action="store_true", help="10,000 and then 100,000 reports")
    parser.add_argument("--sizes", help="comma-separated numbers of generated reports (default 10000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="load per page and client count (default 15)")
    parser.add_argument("--clients", default="10,50", help="concurrent clients, comma-separated (default 10,50)")
    parser.add_argument("--pages", nargs="*", help="only these paths (e.g. / /reports /reports/<id>)")
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto", help="load generator")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the query counts and CPU time per page (no gunicorn)"
    )
    args = parser.parse_args()
    if args.sizes:
        args.sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    else:
        args.sizes = [10_000, 100_000] if args.large else [10_000]
    args.clients = sorted(int(c) for c in args.clients.split(",") if c.strip())
    if args.pages:
        args.pages = [p.replace("<id>", "{report_id}") for p in args.pages]
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    if not backends:
        raise SystemExit("nothing to run: --no-sqlite needs --postgres")

    wrk = shutil.which("wrk") if args.client in ("auto", "wrk") else None
    if args.client == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), use --client asyncio")
    print(
        f"gunicorn 2 sync workers; load generator: {'wrk' if wrk else 'asyncio client'}; {args.seconds:g} s per page"
        f" and client count; clients {args.clients}; reports {args.sizes}; {os.cpu_count()} CPUs;"
        f" load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: list[Result] = []
    if args.in_process_only:
        for backend in backends:
            results += bench_backend(backend, args, None, None)
        print_in_process(results)
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
        return
    with tempfile.TemporaryDirectory(prefix="cg_http_hello_") as hello_dir:
        script = None
        if wrk:
            script = Path(hello_dir) / "report.lua"
            script.write_text(WRK_SCRIPT)
        hello = Gunicorn("hello_world:app", ROOT / "bench", {}, Path(hello_dir))
        try:
            hello.wait("/")
            for backend in backends:
                results += bench_backend(backend, args, hello, script)
        finally:
            hello.stop()
    print_table(results)
    print_verdicts(results, args.clients)
    print(f"(load average at the end: {os.getloadavg()[0]:.1f}; other work on the machine lowers every figure)")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
