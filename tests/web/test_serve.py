"""`make serve`'s gunicorn (gunicorn.conf.py on webapp.wsgi) refuses the demo settings and serves with real ones.

These start real gunicorn processes on loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
UNSAFE_VARIABLES = ("SECRET_KEY", "SMS_BACKEND", "SMS_SHOW_DEV_CODE", "RATELIMIT_STORAGE_URI", "HUEY_IMMEDIATE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(tmp_path: Path, port: int) -> dict[str, str]:
    demo = ("SECRET_KEY", "SMS_", "RATELIMIT_", "FLASK_", "HUEY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(demo)}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        UPLOAD_DIR=str(tmp_path / "uploads"),
        WEB_CONCURRENCY="2",
    )
    return env


def test_refuses_the_demo_defaults_naming_each_variable(tmp_path):
    env = base_env(tmp_path, free_port())
    result = subprocess.run(
        [str(GUNICORN), "--config", "gunicorn.conf.py"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    for variable in UNSAFE_VARIABLES:
        assert f"  - {variable}:" in result.stderr
    assert "Booting worker" not in result.stderr  # refused in the master, before any worker


def test_serves_healthz_with_production_settings(tmp_path):
    port = free_port()
    env = base_env(tmp_path, port)
    env.update(SECRET_KEY="9" * 64, SMS_BACKEND="none", SMS_SHOW_DEV_CODE="0", WEB_CONCURRENCY="1")
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        body = None
        for _ in range(300):  # up to ~60 s on a busy machine
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    body = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "ok", "db": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/offline", timeout=5) as response:
            assert "demo-band" not in response.read().decode()  # production shows no demo band
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_says_so_on_every_page(client):
    for path in ("/", "/reports", "/login", "/open-data"):
        body = client.get(path).get_data(as_text=True)
        assert 'class="demo-band"' in body and "演示环境" in body, path
