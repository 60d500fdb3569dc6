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

It prints, per mode, reports per second, the median and the 95th percentile of the POST's latency, and for "after"
how long the worker needed to catch up once the last report was in. Photos go to local disk (the same in both
modes). Keep the machine otherwise idle: the clients, the server and the worker share its cores.

    .venv/bin/python bench/report_posts.py [--reports 100000] [--clients 20] [--posts 15] [--workers 5]
"""

from __future__ import annotations

import argparse
import io
import os
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
from pathlib import Path

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


class Deployment:
    def __init__(self, env: dict[str, str], with_worker: bool, log_dir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = []
        server_env = {**env, "PORT": str(self.port)}
        self._start([str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py"], server_env,
                    log_dir / f"{name}-server.log")  # fmt: skip
        if with_worker:
            self._start([sys.executable, "-m", "flask", "--app", "webapp", "worker", "--threads", "2"], env,
                        log_dir / f"{name}-worker.log")  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.processes[0].poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"the server did not start; see {log_dir / f'{name}-server.log'}")

    def _start(self, command: list[str], env: dict[str, str], log: Path) -> None:
        handle = log.open("wb")
        self.logs.append(handle)
        self.processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=60)
        for handle in self.logs:
            handle.close()


def client_run(url: str, phone: str, posts: int, image: bytes, start: threading.Barrier, out: list[float]) -> None:
    session = requests.Session()
    token = session.get(url + "/api/v1/csrf", timeout=30).json()["csrf_token"]
    answer = session.post(url + "/api/v1/session", json={"phone": phone, "password": PASSWORD},
                          headers={"X-CSRFToken": token}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    token = answer.json()["csrf_token"]
    start.wait(timeout=120)
    for number in range(posts):
        form = {
            "client_id": str(uuid.uuid4()),
            "category": "06042",
            "lat": f"{37.855 + (number % 10) * 0.001:.4f}",
            "lon": "112.5180",
            "address": "千峰南路与长风西大街路口",
            "description": f"垃圾箱满了 {phone[-4:]}-{number}",
        }
        began = time.perf_counter()
        answer = session.post(url + "/api/v1/reports", data=form, files={"photos": ("p.jpg", image, "image/jpeg")},
                              headers={"X-CSRFToken": token}, timeout=300)  # fmt: skip
        elapsed = time.perf_counter() - began
        if answer.status_code != 201:
            raise SystemExit(f"POST answered {answer.status_code}: {answer.text[:300]}")
        out.append(elapsed)


def measure(
    deployment: Deployment, phones: list[str], posts: int, images: list[bytes]
) -> tuple[int, float, list[float]]:
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
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return len(latencies), time.perf_counter() - began, latencies


def pending(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.select(sa.func.count()).select_from(analytics_pending)) or 0)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000, help="reports in the database before the run")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--posts", type=int, default=15, help="reports each client sends per mode")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers (WEB_CONCURRENCY)")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    images = [photo(seed) for seed in range(4)]
    print(f"Report POSTs on PostgreSQL: {args.clients} clients × {args.posts} reports, one "
          f"{len(images[0]) // 1024} KB 1200×900 JPEG each, {args.workers} gunicorn workers")  # fmt: skip
    with dataset.bench_database() as url, tempfile.TemporaryDirectory(prefix="cg_posts_") as directory:
        phones = prepare(url, args.reports, args.clients, str(Path(directory) / "uploads"))
        keep = ("SECRET_KEY", "SMS_", "RATELIMIT_", "HUEY_", "FLASK_", "LOG_", "STORAGE_", "S3_", "ANALYTICS_")
        base = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
        base.update(
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
            WEB_CONCURRENCY=str(args.workers),
            HOST="127.0.0.1",
        )
        results = {}
        for name, inline in (("before (roll-up inside the commit)", True), ("after (roll-up by the worker)", False)):
            env = {**base, "ANALYTICS_ROLLUP_INLINE": "1" if inline else "0"}
            label = "inline" if inline else "job"
            deployment = Deployment(env, with_worker=not inline, log_dir=Path(directory), name=label)
            try:
                count, seconds, latencies = measure(deployment, phones, args.posts, images)
                catch_up = None
                if not inline:
                    waited = time.perf_counter()
                    while pending(url) and time.perf_counter() - waited < 300:
                        time.sleep(0.2)
                    catch_up = time.perf_counter() - waited
            finally:
                deployment.stop()
            cuts = statistics.quantiles(latencies, n=20)
            results[name] = count / seconds
            line = (f"  {name:<36} {count} reports in {seconds:5.1f} s: {count / seconds:6.1f} reports/s, "
                    f"median {statistics.median(latencies) * 1000:5.0f} ms, p95 {cuts[18] * 1000:5.0f} ms")  # fmt: skip
            if catch_up is not None:
                line += f"; the dashboard caught up {catch_up:.1f} s after the last report"
            print(line, flush=True)
        before, after = results.values()
        print(f"  speed-up: ×{after / before:.1f} (target ≥ ×3)")


if __name__ == "__main__":
    main()
