"""Two app servers behind one address: gunicorn on ``webapp.wsgi:app`` exactly as ``make serve`` runs it, twice, on
two loopback ports, sharing PostgreSQL (the test database), Redis (rate limits and the job queue) and an S3 bucket
(moto's server), with a job worker beside them.

What one server did, the other knows: a report with a photo posted to one is complete on the other (page, photo,
API), a login made on one is valid on the other, a rate limit spent on one holds on the other; killing one in the
middle of uploads loses nothing it acknowledged, and the phone's retry on the other makes each report exactly once.

Marked ``multi_server``; runs on PostgreSQL (CI's second pass), skipped on SQLite, which is one machine's file.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from PIL import Image

from tests.factories import PASSWORD, make_user
from tests.s3server import free_port, wait_for_port
from webapp.analytics.models import analytics_pending
from webapp.db import db
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus
from webapp.storage import make_storage

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGINS_PER_MINUTE = 4

pytestmark = [pytest.mark.multi_server, pytest.mark.commits, pytest.mark.timeout(420)]


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def shared(app, s3_server, tmp_path):  # type: ignore[no-untyped-def]
    """The environment every process of the deployment gets (as systemd would give it)."""
    database = os.environ.get("TEST_DATABASE_URL", "")
    if not database.startswith(("postgres://", "postgresql")):
        pytest.skip("two app servers share one PostgreSQL database: set TEST_DATABASE_URL (SQLite is one file)")
    if not _redis_answers():
        pytest.skip(f"no Redis at {REDIS_URL} (TEST_REDIS_URL): rate limits and jobs are shared through it")
    settings = s3_server.settings()
    make_storage("s3", "", settings).ensure_bucket()
    ours = ("SECRET_KEY", "SMS_", "RATELIMIT_", "HUEY_", "FLASK_", "LOG_", "SENTRY_", "STORAGE_", "S3_")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {
        **keep,
        **settings,
        "DATABASE_URL": database,
        "SECRET_KEY": "two-servers-" + "7" * 52,
        "SMS_BACKEND": "none",
        "SMS_SHOW_DEV_CODE": "0",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_LOGIN": f"{LOGINS_PER_MINUTE} per minute",
        "FLASK_RATELIMIT_KEY_PREFIX": f"cg-two-servers-{uuid.uuid4().hex[:8]}",
        "HUEY_URL": REDIS_URL,
        "LOG_FORMAT": "json",
        "UPLOAD_DIR": str(tmp_path / "not-used"),
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
    }


class Process:
    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("w") as handle:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=60)


class Server(Process):
    def __init__(self, name: str, env: dict[str, str], tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(name, [str(GUNICORN), "--config", "gunicorn.conf.py"], {**env, "PORT": str(self.port)},
                         tmp_path / f"{name}.log")  # fmt: skip

    def wait_ready(self) -> None:
        try:
            wait_for_port(self.port, timeout=120, process=self.process)
        except RuntimeError:
            pytest.fail(f"{self.name} did not start: {self.log.read_text()[-3000:]}")
        answer = requests.get(self.url + "/readyz", timeout=30)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "db": "ok", "storage": "ok", "jobs": "ok"}


@pytest.fixture
def deployment(shared, tmp_path):  # type: ignore[no-untyped-def]
    a, b = Server("server-a", shared, tmp_path), Server("server-b", shared, tmp_path)
    worker = Process(
        "worker",
        [sys.executable, "-m", "flask", "--app", "webapp", "worker", "--threads", "2"],  # with the schedule
        shared,
        tmp_path / "worker.log",
    )
    try:
        a.wait_ready()
        b.wait_ready()
        yield a, b, worker
    finally:
        for process in (a, b, worker):
            process.kill(signal.SIGTERM)


def photo(seed: int) -> bytes:
    """A ~1 MP phone-like JPEG (noise, so every photo and its content key differ)."""
    image = Image.effect_noise((1200, 900), 40 + seed).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def report_form(client_id: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "category": "06042",  # 垃圾站（箱）满溢: not sensitive
        "lat": "37.8601",
        "lon": "112.5180",
        "address": "千峰南路与长风西大街路口",
        "description": f"两台服务器 {client_id[:8]}",
    }


def csrf(session: requests.Session, server: Server) -> str:
    return session.get(server.url + "/api/v1/csrf", timeout=30).json()["csrf_token"]


def login(session: requests.Session, server: Server, phone: str, password: str) -> requests.Response:
    return session.post(
        server.url + "/api/v1/session",
        json={"phone": phone, "password": password},
        headers={"X-CSRFToken": csrf(session, server)},
        timeout=30,
    )


def post_report(session: requests.Session, server: Server, token: str, client_id: str, seed: int) -> requests.Response:
    return session.post(
        server.url + "/api/v1/reports",
        data=report_form(client_id),
        files={"photos": (f"{seed}.jpg", photo(seed), "image/jpeg")},
        headers={"X-CSRFToken": token},
        timeout=120,
    )


def assert_complete_on(session: requests.Session, server: Server, report_id: int, client_id: str) -> None:
    """The report's page, its API answer and its photo, all from ``server``."""
    page = session.get(f"{server.url}/reports/{report_id}", timeout=30)
    assert page.status_code == 200 and client_id[:8] in page.text
    api = session.get(f"{server.url}/api/v1/reports/{report_id}", timeout=30).json()
    assert api["client_id"] == client_id and len(api["photos"]) == 1
    picture = session.get(api["photos"][0], timeout=30)
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(picture.content)).size == (1200, 900)


@pytest.fixture
def sessions():  # type: ignore[no-untyped-def]
    """HTTP clients (a phone, an intruder), closed after the test."""
    opened: list[requests.Session] = []

    def new() -> requests.Session:
        opened.append(requests.Session())
        return opened[-1]

    yield new
    for session in opened:
        session.close()


def test_two_servers_share_reports_photos_logins_limits_and_survive_a_kill(app, deployment, shared, sessions):
    a, b, worker = deployment
    with app.app_context():
        resident = make_user()
        db.session.commit()
        phone = resident.phone
    phone_session = sessions()

    # A login made on A is valid on B (same signed session, same database).
    assert login(phone_session, a, phone, PASSWORD).status_code == 200
    assert phone_session.get(b.url + "/api/v1/me/reports", timeout=30).json() == []

    # A report with a photo posted to A (with a token B handed out) is complete on B.
    client_id = str(uuid.uuid4())
    created = post_report(phone_session, a, csrf(phone_session, b), client_id, seed=1)
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]
    assert_complete_on(phone_session, b, report_id, client_id)
    assert [r["client_id"] for r in phone_session.get(b.url + "/api/v1/me/reports", timeout=30).json()] == [client_id]

    # Once accepted, its photo is public: each server redirects to the bucket, which serves the same bytes.
    private_copy = phone_session.get(phone_session.get(f"{b.url}/api/v1/reports/{report_id}").json()["photos"][0])
    with app.app_context():
        db.session.get(Report, report_id).status = ReportStatus.ACCEPTED
        db.session.commit()
    photo_path = private_copy.url.removeprefix(b.url)
    for server in (a, b):
        redirect = requests.get(server.url + photo_path, allow_redirects=False, timeout=30)
        assert redirect.status_code == 302 and redirect.headers["Location"].startswith(shared["S3_ENDPOINT_URL"])
        assert requests.get(redirect.headers["Location"], timeout=30).content == private_copy.content

    # The login limit is counted in Redis: spent across A and B, it holds on both.
    intruder = sessions()
    attempts = [login(intruder, server, phone, "wrong-password").status_code for server in (b, a, b)]
    assert attempts == [401, 401, 401]  # with the successful login above: the 4 a minute allowed
    assert login(intruder, a, phone, PASSWORD).status_code == 429
    assert login(intruder, b, phone, PASSWORD).status_code == 429

    # Requests carry an id through the JSON logs of whichever server answered.
    traced = requests.get(b.url + "/healthz", headers={"X-Request-ID": "trace-two-servers"}, timeout=30)
    assert traced.headers["X-Request-ID"] == "trace-two-servers"

    # Killing A in the middle of uploads loses nothing it acknowledged.
    token = csrf(phone_session, a)
    half = _start_half_an_upload(a, phone_session, token)
    client_ids = [str(uuid.uuid4()) for _ in range(6)]
    answers: dict[str, object] = {}
    first_acknowledged = threading.Event()

    def upload(number: int, cid: str) -> None:
        try:
            answer = post_report(phone_session, a, token, cid, seed=10 + number)
            answers[cid] = answer.status_code
            if answer.status_code == 201:
                first_acknowledged.set()
        except requests.RequestException as error:  # the server died under this request
            answers[cid] = type(error).__name__

    threads = [threading.Thread(target=upload, args=(n, cid)) for n, cid in enumerate(client_ids)]
    for thread in threads:
        thread.start()
    assert first_acknowledged.wait(timeout=180), answers
    a.kill(signal.SIGKILL)  # master and workers, no goodbye
    for thread in threads:
        thread.join(timeout=180)
    half.close()
    acknowledged = [cid for cid in client_ids if answers.get(cid) == 201]
    assert acknowledged, answers

    with app.app_context():
        rows = db.session.execute(sa.select(Report.client_id, Report.id).where(Report.client_id.in_(client_ids)))
        stored = dict(rows.all())
        assert db.session.scalar(sa.select(Report.id).where(Report.client_id == half.client_id)) is None  # no half rows
    for cid in acknowledged:
        assert cid in stored
        assert_complete_on(phone_session, b, stored[cid], cid)
    # The phone's outbox retries the rest on B: each report exists exactly once, with its photo.
    for number, cid in enumerate(client_ids):
        if cid in acknowledged:
            continue
        retry = post_report(phone_session, b, csrf(phone_session, b), cid, seed=10 + number)
        assert retry.status_code in (200, 201), retry.text  # 200: A had stored it but died before answering
    mine = phone_session.get(b.url + "/api/v1/me/reports", timeout=30).json()
    assert sorted(r["client_id"] for r in mine) == sorted([client_id, *client_ids])
    with app.app_context():
        for cid in client_ids:
            report = db.session.scalar(sa.select(Report).where(Report.client_id == cid))
            assert len(report.photos) == 1
            assert_complete_on(phone_session, b, report.id, cid)

    # The job worker counted every report into the dashboard's roll-up, after their commits; what the killed server
    # could not queue any more is swept up within a minute by the schedule.
    with app.app_context():
        for _ in range(900):
            db.session.rollback()
            if db.session.scalar(sa.select(sa.func.count()).select_from(analytics_pending)) == 0:
                break
            time.sleep(0.2)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(analytics_pending)) == 0, worker.log.read_text()
    log_lines = [json.loads(line) for line in b.log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "trace-two-servers" and line.get("route") == "/healthz" for line in log_lines)


class _HalfUpload:
    def __init__(self, sock: socket.socket, client_id: str) -> None:
        self.sock, self.client_id = sock, client_id

    def close(self) -> None:
        self.sock.close()


def _start_half_an_upload(server: Server, session: requests.Session, token: str) -> _HalfUpload:
    """Send the headers and half the body of a report upload, and leave it hanging."""
    client_id = str(uuid.uuid4())
    prepared = requests.Request(
        "POST",
        server.url + "/api/v1/reports",
        data=report_form(client_id),
        files={"photos": ("half.jpg", photo(99), "image/jpeg")},
        headers={"X-CSRFToken": token},
        cookies=session.cookies,
    ).prepare()
    head = f"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in prepared.headers.items()) + "\r\n"
    body = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head.encode("latin-1") + body[: len(body) // 2])
    return _HalfUpload(sock, client_id)
