"""Request ids, JSON access logs, the optional Sentry hook, and /readyz next to the cheap /healthz."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli

from webapp import jobs
from webapp.observability import JsonFormatter
from webapp.storage import make_storage

ROOT = Path(__file__).resolve().parents[2]


def test_a_request_id_is_passed_through_or_made(client):
    given = client.get("/healthz", headers={"X-Request-ID": "nginx-4f2a.9_b"})
    assert given.headers["X-Request-ID"] == "nginx-4f2a.9_b"
    made = client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    # Not an id: a header injection attempt or a novel is replaced.
    for bad in ("a b", "x" * 129, "id\u2028evil", ""):
        assert client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"] != bad


def test_json_formatter_keeps_one_line_per_record():
    import logging

    record = logging.LogRecord("webapp", logging.WARNING, __file__, 1, "two\nlines %s", ("ok",), None)
    record.request_id, record.status = "abc", 201
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) | {"time": None} == {
        "time": None, "level": "warning", "logger": "webapp", "message": "two\nlines ok", "request_id": "abc",
        "status": 201,
    }  # fmt: skip


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "SENTRY_", "FLASK_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_logs_have_one_line_per_request(tmp_path):
    result = _run(
        """
        import os
        from webapp import create_app
        from webapp.config import TestConfig
        settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
        settings.update(LOG_FORMAT="json", SQLALCHEMY_DATABASE_URI=os.environ["T_DB"], UPLOAD_DIR=os.environ["T_UP"])
        app = create_app(settings)
        client = app.test_client()
        client.get("/healthz", headers={"X-Request-ID": "req-123"})
        client.get("/sw.js")
        client.get("/no/such/page")
        """,
        {"T_DB": f"sqlite:///{tmp_path / 'db.sqlite3'}", "T_UP": str(tmp_path / "uploads")},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "webapp.access"]
    assert len(access) == 3
    health, worker, missing = access
    assert health["request_id"] == "req-123" and health["route"] == "/healthz" and health["status"] == 200
    assert health["user_id"] is None and isinstance(health["duration_ms"], float) and health["method"] == "GET"
    assert worker["route"] == "/sw.js" and worker["status"] == 200 and len(worker["request_id"]) == 32
    assert missing["route"] is None and missing["path"] == "/no/such/page" and missing["status"] == 404


class _Capture(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            body = brotli.decompress(body)
        _Capture.bodies.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_sentry_receives_an_unhandled_exception_with_the_request_id(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Capture.bodies = []
    try:
        result = _run(
            """
            import os
            import sentry_sdk
            from webapp import create_app
            from webapp.config import TestConfig
            settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
            settings.update(SQLALCHEMY_DATABASE_URI=os.environ["T_DB"], UPLOAD_DIR=os.environ["T_UP"], TESTING=False,
                            SENTRY_DSN=os.environ["T_DSN"], SENTRY_ENVIRONMENT="ci")
            app = create_app(settings)
            app.add_url_rule("/boom", "boom", lambda: 1 / 0)
            answer = app.test_client().get("/boom", headers={"X-Request-ID": "req-boom"})
            assert answer.status_code == 500, answer.status_code
            sentry_sdk.flush(timeout=10)
            """,
            {
                "T_DB": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "T_UP": str(tmp_path / "uploads"),
                "T_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1",
            },
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert result.returncode == 0, result.stderr
    sent = b"".join(_Capture.bodies)
    assert b"ZeroDivisionError" in sent and b'"request_id":"req-boom"' in sent.replace(b" ", b"")
    assert b'"environment":"ci"' in sent.replace(b" ", b"")


def test_without_a_dsn_nothing_is_reported(app):
    assert "sentry" not in app.extensions


def test_readyz_checks_database_storage_and_jobs(app, client, monkeypatch):
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "db": "ok", "storage": "ok", "jobs": "ok"}
    assert ready.headers["Cache-Control"] == "no-store"

    unreachable = make_storage(
        "s3",
        "",
        {"S3_BUCKET": "cg-nowhere", "S3_ENDPOINT_URL": "http://127.0.0.1:9", "S3_REGION": "us-east-1",
         "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )  # fmt: skip
    unreachable.client.meta.config.retries = {"max_attempts": 1}
    monkeypatch.setitem(app.extensions, "storage", unreachable)
    monkeypatch.setattr(jobs.huey, "storage", jobs.make_storage("redis://127.0.0.1:9/0"))
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json() == {"status": "error", "db": "ok", "storage": "unavailable", "jobs": "unavailable"}
    assert client.get("/healthz").status_code == 200  # liveness does not depend on them


def test_readyz_on_the_s3_backend(s3_app, client):
    assert client.get("/readyz").get_json()["storage"] == "ok"
