"""A real S3-compatible server on a loopback port for the tests: moto's standalone server (``moto[server]``, a dev
dependency), started once per test session in a process of its own, so boto3 talks HTTP to it exactly as it
talks to MinIO or a cloud object store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

ACCESS_KEY = "citizen-grid-test"
SECRET_KEY = "citizen-grid-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHONWARNINGS")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wait_for_port(self.port, process=self.process)

    def settings(self, bucket: str | None = None) -> dict[str, str]:
        """The app's settings for this server (a new bucket name unless one is given)."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket or f"cg-test-{uuid.uuid4().hex[:12]}",
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "S3_ADDRESSING_STYLE": "path",
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
