"""Report POSTs per second on PostgreSQL with a ~1 MP photo and 20 concurrent clients, before and after moving the
dashboard's roll-up refresh out of the writing transaction.

The script builds a throw-away PostgreSQL database (``BENCH_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/cg_report_posts_bench``; the name must contain "bench": it is dropped and
created again, and dropped at the end), loads ``--reports`` realistic reports with bench/analytics.py's generator
(so refreshing a day of the roll-up costs what it costs in a city's database), and 20 resident accounts.

Then, for each mode, it starts the production server as ``make serve`` does (gunicorn, ``gunicorn.conf.py`` on
``webapp.wsgi:app``, ``WEB_CONCURRENCY`` workers, production settings, rate limits and the job queue in Redis:
``BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``), logs 20 clients in through the API and lets each send
``--posts`` reports (``POST /api/v1/reports``, one ~1 MP JPEG each) as fast as the server answers:

* **before** — ``ANALYTICS_ROLLUP_INLINE=1``: the roll-up's day is recomputed inside every report's transaction;
* **after** — the default: the writer notes the report, and a ``flask worker`` (running beside the server, on the
  same machine) recomputes the day after the commit, once per burst.

The worker runs beside the server in both modes (in "before" it only has the periodic sweep to do), so the two
deployments differ by the one setting.

It prints, per mode, reports per second, the median and the 95th percentile of the POST's latency, and for "after"
how long the worker needed to catch up once the last report was in; then the CPU time per report of each part
(the server's workers, the job worker, the PostgreSQL backends of the bench database, the clients in this process),
read from /proc (Linux) before and after the run. CPU time is robust to other work on the machine, which wall-clock
figures are not: the clients, the server, the worker and PostgreSQL share its cores. Photos go to local disk (the
same in both modes).

``--in-process`` skips gunicorn: it sends the reports through the production app (``create_production_app``, the
same settings) with Flask's test client in this process, and prints per report the CPU time and the round trips to
PostgreSQL (statements, savepoints and commits); ``--profile`` adds a cProfile listing of the "after" mode.

    .venv/bin/python bench/report_posts.py [--reports 100000] [--clients 20] [--posts 15] [--workers 5]
    .venv/bin/python bench/report_posts.py --in-process [--profile] [--reports 20000] [--posts 100]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import analytics as dataset  # noqa: E402  (bench/analytics.py: the realistic report generator)
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from webapp.accounts import services as accounts  # noqa: E402
from webapp.accounts.models import Role  # noqa: E402
from webapp.analytics import rollup  # noqa: E402
from webapp.analytics.models import analytics_pending  # noqa: E402
from webapp.db import db, utcnow  # noqa: E402
from webapp.production import create_production_app  # noqa: E402

PASSWORD = "bench-password-1"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/cg_report_posts_bench"


def photo(seed: int) -> bytes:
    """A ~1 MP photo-like JPEG: a gradient with shapes and a little sensor noise (a phone photo's size, ~250 KB)."""
    width, height = 1200, 900
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, grain, 0.25)
    draw = ImageDraw.Draw(image)
    rng = __import__("random").Random(seed)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 200)), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(url: str, reports: int, clients: int, uploads: str) -> list[str]:
    """Migrate, load the reports and make the clients' accounts; returns their phone numbers."""
    app = dataset.make_app(url, uploads)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        dataset.setup_reference_data()
        generator = dataset.Generator(datetime.now(UTC).replace(second=0, microsecond=0))
        seconds = dataset.load(generator, reports)
        rows = rollup.refresh_all()
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
        phones = [f"1370000{index:04d}" for index in range(clients)]
        for phone in phones:
            accounts.create_user(phone, PASSWORD, role=Role.CITIZEN, verified_at=utcnow())
        db.session.commit()
        print(f"{reports:,} reports loaded in {seconds:.0f} s, roll-up {rows:,} rows; {clients} resident accounts")
        db.session.remove()
        db.engine.dispose()
    return phones


def report_form(phone: str, number: int) -> dict[str, str]:
    """The fields of one report (all but the photo); each is new, so none is a replay."""
    return {
        "client_id": str(uuid.uuid4()),
        "category": "06042",
        "lat": f"{37.855 + (number % 10) * 0.001:.4f}",
        "lon": "112.5180",
        "address": "千峰南路与长风西大街路口",
        "description": f"垃圾箱满了 {phone[-4:]}-{number}",
    }


# --- CPU time of the parts (Linux /proc) --------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, *, ended_children: bool = False) -> float | None:
    """User + system CPU time a process has used so far; with ``ended_children`` also that of its children that
    have ended and been waited for (a gunicorn worker replaced during the run). None for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if ended_children else 0)
    return ticks / TICKS


def process_tree(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` (with its ended children) and of each of its living children (gunicorn's workers)."""
    found: dict[int, float] = {}
    own = cpu_seconds(pid, ended_children=True)
    if own is not None:
        found[pid] = own
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            if (seconds := cpu_seconds(int(child))) is not None:
                found[int(child)] = seconds
    return found


def database_backends(engine: sa.Engine) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench database (the server runs on this machine)."""
    with engine.connect() as connection:
        pids = connection.scalars(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        ).all()
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (a process that started meanwhile counts from its start)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class Deployment:
    """The production server as ``make serve`` starts it, and a job worker beside it as ``make worker`` does."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = []
        server_env = {**env, "PORT": str(self.port)}
        self.server = self._start([str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py"],
                                  server_env, log_dir / f"{name}-server.log")  # fmt: skip
        self.worker = self._start([sys.executable, "-m", "flask", "--app", "webapp", "worker", "--threads", "2"], env,
                                  log_dir / f"{name}-worker.log")  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.server.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"the server did not start; see {log_dir / f'{name}-server.log'}")

    def _start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        self.logs.append(handle)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def cpu(self, engine: sa.Engine) -> dict[str, dict[int, float]]:
        return {
            "server": process_tree(self.server.pid),
            "worker": process_tree(self.worker.pid),
            "database": database_backends(engine),
        }

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=60)
        for handle in self.logs:
            handle.close()


def multipart_body(form: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    """The request body of a report and its Content-Type, put together by hand: the clients share the machine's
    CPU with the server, and ``requests`` spends more on encoding each body than the bytes need."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in form.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
    )
    body = b"".join([*parts, photo, f"\r\n--{boundary}--\r\n".encode()])
    return body, f"multipart/form-data; boundary={boundary}"


def client_run(url: str, phone: str, posts: int, image: bytes, start: threading.Barrier, out: list[float]) -> None:
    session = requests.Session()
    token = session.get(url + "/api/v1/csrf", timeout=30).json()["csrf_token"]
    answer = session.post(url + "/api/v1/session", json={"phone": phone, "password": PASSWORD},
                          headers={"X-CSRFToken": token}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    token = answer.json()["csrf_token"]
    cookies = {cookie.name: cookie.value for cookie in session.cookies}
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=300)
    start.wait(timeout=120)
    for number in range(posts):
        body, content_type = multipart_body(report_form(phone, number), image)
        headers = {
            "Content-Type": content_type,
            "X-CSRFToken": token,
            "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        }
        began = time.perf_counter()
        connection.request("POST", "/api/v1/reports", body=body, headers=headers)
        answer = connection.getresponse()
        content = answer.read()
        elapsed = time.perf_counter() - began
        if answer.will_close:
            connection.close()  # gunicorn's sync workers close each connection; the next request opens one
        if answer.status != 201:
            raise SystemExit(f"POST answered {answer.status}: {content[:300]!r}")
        for header in answer.headers.get_all("Set-Cookie") or []:
            cookies.update({name: morsel.value for name, morsel in SimpleCookie(header).items()})
        out.append(elapsed)


def measure(
    deployment: Deployment, phones: list[str], posts: int, images: list[bytes], engine: sa.Engine
) -> tuple[int, float, list[float], dict[str, float]]:
    """Reports sent, seconds, each POST's latency, and the CPU seconds each part used meanwhile."""
    latencies: list[float] = []
    start = threading.Barrier(len(phones) + 1)
    threads = [
        threading.Thread(
            target=client_run, args=(deployment.url, phone, posts, images[i % len(images)], start, latencies)
        )
        for i, phone in enumerate(phones)
    ]
    for thread in threads:
        thread.start()
    start.wait(timeout=120)
    cpu_before, clients_before = deployment.cpu(engine), time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    cpu_after, clients = deployment.cpu(engine), time.process_time() - clients_before
    cpu = {part: used(cpu_before[part], cpu_after[part]) for part in cpu_after}
    cpu["clients"] = clients
    cpu["worker_at_end"] = sum(cpu_after["worker"].values())
    return len(latencies), seconds, latencies, cpu


def pending(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.select(sa.func.count()).select_from(analytics_pending)) or 0)
    finally:
        engine.dispose()


# --- In process ---------------------------------------------------------------------------------------------------


def in_process(phone: str, posts: int, images: list[bytes], profile: bool) -> None:
    """Runs in a child process whose environment is the server's: POSTs through the production app, in process."""
    app = create_production_app()
    client = app.test_client()
    token = client.get("/api/v1/csrf").get_json()["csrf_token"]
    answer = client.post("/api/v1/session", json={"phone": phone, "password": PASSWORD},
                         headers={"X-CSRFToken": token})  # fmt: skip
    token = answer.get_json()["csrf_token"]
    with app.app_context():
        engine = db.engine
    round_trips: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: round_trips.append(args[2]))
    sa.event.listen(engine, "commit", lambda *args: round_trips.append("COMMIT"))

    def post(number: int) -> None:
        form: dict[str, Any] = report_form(phone, number)
        form["photos"] = (io.BytesIO(images[number % len(images)]), "p.jpg", "image/jpeg")
        answer = client.post("/api/v1/reports", data=form, headers={"X-CSRFToken": token})
        if answer.status_code != 201:
            raise SystemExit(f"POST answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")

    for number in range(10):  # warm: imports, caches, the connection pool
        post(number)
    round_trips.clear()
    post(10)
    trips = list(round_trips)
    timings = []
    profiler = cProfile.Profile() if profile else None
    for number in range(posts):
        began = time.process_time()
        if profiler:
            profiler.enable()
        post(number)
        if profiler:
            profiler.disable()
        timings.append((time.process_time() - began) * 1000)
    savepoints = sum(1 for statement in trips if "SAVEPOINT" in statement)
    commits = trips.count("COMMIT")
    print(f"    CPU per report: median {statistics.median(timings):.1f} ms (mean {statistics.mean(timings):.1f} ms, "
          f"{posts} reports); round trips to PostgreSQL: {len(trips)} ({len(trips) - savepoints - commits} "
          f"statements, {savepoints} savepoint, {commits} commit)", flush=True)  # fmt: skip
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


# --- The run ------------------------------------------------------------------------------------------------------


def server_environment(url: str, redis_url: str, directory: str, workers: int) -> dict[str, str]:
    """The environment of the production server (and of the worker): the same in both modes but for the roll-up."""
    keep = ("SECRET_KEY", "SMS_", "RATELIMIT_", "HUEY_", "FLASK_", "LOG_", "STORAGE_", "S3_", "ANALYTICS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env.update(
        DATABASE_URL=url,
        SECRET_KEY="b" * 64,
        SMS_BACKEND="none",
        SMS_SHOW_DEV_CODE="0",
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_LOGIN="10000 per minute",
        RATELIMIT_SUBMIT="100000 per minute",
        FLASK_RATELIMIT_KEY_PREFIX=f"cg-bench-{uuid.uuid4().hex[:8]}",
        HUEY_URL=redis_url,
        UPLOAD_DIR=str(Path(directory) / "uploads"),
        WEB_CONCURRENCY=str(workers),
        HOST="127.0.0.1",
    )
    return env


MODES = (("before (roll-up inside the commit)", "1"), ("after (roll-up by the worker)", "0"))


def run_servers(args: argparse.Namespace, url: str, base: dict[str, str], phones: list[str], images: list[bytes],
                directory: str) -> None:  # fmt: skip
    results = {}
    cpu_lines = []
    engine = sa.create_engine(url)
    for name, inline in MODES:
        env = {**base, "ANALYTICS_ROLLUP_INLINE": inline}
        label = "inline" if inline == "1" else "job"
        deployment = Deployment(env, log_dir=Path(directory), name=label)
        try:
            count, seconds, latencies, cpu = measure(deployment, phones, args.posts, images, engine)
            catch_up = None
            if inline == "0":
                waited = time.perf_counter()
                while pending(url) and time.perf_counter() - waited < 300:
                    time.sleep(0.2)
                catch_up = time.perf_counter() - waited
            # The worker's refresh runs up to REFRESH_DELAY_SECONDS after the writes: count it too.
            cpu["worker"] += sum(process_tree(deployment.worker.pid).values()) - cpu.pop("worker_at_end")
        finally:
            deployment.stop()
        cuts = statistics.quantiles(latencies, n=20)
        results[name] = count / seconds
        line = (f"  {name:<36} {count} reports in {seconds:5.1f} s: {count / seconds:6.1f} reports/s, "
                f"median {statistics.median(latencies) * 1000:5.0f} ms, p95 {cuts[18] * 1000:5.0f} ms")  # fmt: skip
        if catch_up is not None:
            line += f"; the dashboard caught up {catch_up:.1f} s after the last report"
        print(line, flush=True)
        cpu.pop("worker_at_end", None)
        per_post = {part: seconds * 1000 / count for part, seconds in cpu.items()}
        cpu_lines.append(
            f"  {name:<36} {sum(per_post.values()):5.1f} ms: server {per_post['server']:.1f}, worker "
            f"{per_post['worker']:.1f}, PostgreSQL {per_post['database']:.1f}, clients {per_post['clients']:.1f}"
        )
    engine.dispose()
    before, after = results.values()
    print(f"  speed-up: ×{after / before:.1f} (target ≥ ×3)")
    print("CPU time per report (each part's CPU time during the run over the reports sent; the worker's until it "
          "caught up):")  # fmt: skip
    print("\n".join(cpu_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000, help="reports in the database before the run")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--posts", type=int, default=15, help="reports each client sends per mode")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--in-process", action="store_true", help="CPU time and round trips of a POST, in process")
    parser.add_argument("--profile", action="store_true", help="with --in-process: a cProfile listing of 'after'")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the in-process measurement, in the server's environment
    args = parser.parse_args()
    images = [photo(seed) for seed in range(4)]
    if args.child:
        in_process(args.child, args.posts, images, args.profile)
        return
    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    if args.in_process:
        print(f"Report POSTs in process (production app, Flask's test client): one {len(images[0]) // 1024} KB "
              f"1200×900 JPEG each")  # fmt: skip
    else:
        print(f"Report POSTs on PostgreSQL: {args.clients} clients × {args.posts} reports, one "
              f"{len(images[0]) // 1024} KB 1200×900 JPEG each, {args.workers} gunicorn workers")  # fmt: skip
    with dataset.bench_database() as url, tempfile.TemporaryDirectory(prefix="cg_posts_") as directory:
        phones = prepare(url, args.reports, args.clients, str(Path(directory) / "uploads"))
        base = server_environment(url, redis_url, directory, args.workers)
        if not args.in_process:
            run_servers(args, url, base, phones, images, directory)
            return
        for name, inline in MODES:
            print(f"  {name}:", flush=True)
            command = [sys.executable, __file__, "--child", phones[0], "--posts", str(args.posts)]
            if args.profile and inline == "0":
                command.append("--profile")
            subprocess.run(command, cwd=ROOT, env={**base, "ANALYTICS_ROLLUP_INLINE": inline}, check=True)


if __name__ == "__main__":
    main()
