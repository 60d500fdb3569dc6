"""Shared fixtures: one app and one real database per test session; every test starts from an empty database.

The database is SQLite in a temporary file, or PostgreSQL when TEST_DATABASE_URL is set (CI runs both).
The schema is built by the real Alembic migrations.

Most tests run inside one database transaction that is rolled back at the end (``_one_transaction``): the app's
``commit()`` then only releases a savepoint, so the code under test behaves as in production while nothing
reaches the database. Tests that need real commits (a browser talking to the live server, several connections
or threads, a fresh connection that must see committed rows) are marked ``commits`` (browser tests and users of
``live_server`` are so automatically); after them every table is emptied.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from werkzeug.serving import make_server

from tests import browser
from tests.s3server import MotoServer
from webapp import cache, create_app
from webapp.config import TestConfig, normalise_database_url
from webapp.db import db
from webapp.extensions import limiter
from webapp.geo.services import invalidate_grid_index
from webapp.reports.taxonomy import sync_categories
from webapp.storage import S3Storage, make_storage

# Reference data loaded once per session and kept between tests.
REFERENCE_TABLES = {"category_groups", "categories"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def _reset_schema() -> None:
    """Start from an empty database (the test database only)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        assert "test" in (engine.url.database or ""), "refusing to wipe a database not named test"
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    settings = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    settings.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")),
    )
    app = create_app(settings)
    with app.app_context():
        _reset_schema()
        upgrade(directory=app.extensions["migrate"].directory)
        sync_categories()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _empty_tables() -> None:
    tables = [t for t in db.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(table.delete())
    db.session.commit()


class _JoinedSession(FlaskSession):
    """The app's session, bound to the test's connection (Flask-SQLAlchemy would pick the engine)."""

    def get_bind(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.bind


@contextmanager
def _one_transaction(app: Flask) -> Iterator[None]:
    """Run the test inside one transaction on one connection and roll it back afterwards.

    Sessions join it with savepoints (``join_transaction_mode="create_savepoint"``): a ``commit()`` releases a
    savepoint, a ``rollback()`` returns to it. SQLite's Python driver would start its own transactions and let a
    savepoint commit, so on SQLite the transaction is begun by hand with the driver in autocommit mode.
    """
    with app.app_context():
        engine = db.engine
    connection = engine.connect()
    sqlite = engine.dialect.name == "sqlite"
    raw = connection.connection.driver_connection
    if sqlite:
        raw.isolation_level = None  # type: ignore[union-attr]
    outer = connection.begin()
    if sqlite:
        connection.exec_driver_sql("BEGIN")
    app_session = db.session
    db.session = db._make_scoped_session(
        {
            "class_": _JoinedSession,
            "bind": connection,
            "join_transaction_mode": "create_savepoint",
            "expire_on_commit": False,  # as webapp/db.py configures the app's sessions
        }
    )
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        db.session = app_session
        outer.rollback()
        if sqlite:
            raw.isolation_level = ""  # type: ignore[union-attr]
        connection.close()


def _needs_commits(request: pytest.FixtureRequest) -> bool:
    return (
        request.node.get_closest_marker("commits") is not None
        or request.node.get_closest_marker("e2e") is not None
        or "live_server" in request.fixturenames
    )


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test that uses the app starts empty: its transaction is rolled back (or, for tests marked
    ``commits``, every table is emptied); the uploads, the rate-limit counters and the queues are cleared."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    if _needs_commits(request):
        yield
        with app.app_context():
            db.session.rollback()
            _empty_tables()
            db.session.remove()
    else:
        with _one_transaction(app):
            yield
    with app.app_context():
        cache.clear()  # the version counters went with the rows
    limiter.reset()
    app.extensions["huey"].flush()  # queued retries and marks of sent messages
    invalidate_grid_index()
    app.extensions["sms"].sent.clear()
    upload_dir = Path(app.config["UPLOAD_DIR"])
    shutil.rmtree(upload_dir, ignore_errors=True)
    upload_dir.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app and request context, for calling services directly."""
    with app.test_request_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def storage(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["storage"]


# --- Object storage: a real S3-compatible server on loopback (tests/s3server.py) -----------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def s3_storage(s3_server: MotoServer) -> S3Storage:
    """An S3Storage on a fresh bucket of the test server."""
    storage = make_storage("s3", "", s3_server.settings())
    storage.ensure_bucket()
    return storage


@pytest.fixture
def s3_app(app: Flask, s3_storage: S3Storage) -> Iterator[Flask]:
    """The test app with its photos in the S3 bucket instead of on disk, for this test."""
    local = app.extensions["storage"]
    app.extensions["storage"] = s3_storage
    yield app
    app.extensions["storage"] = local


@pytest.fixture(params=["local", "s3"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Each storage backend in turn (tests of the Storage interface)."""
    if request.param == "local":
        return make_storage("local", str(tmp_path / "uploads"))
    return request.getfixturevalue("s3_storage")


# --- Browser tests -------------------------------------------------------------------------------------------


class FaultInjector:
    """WSGI middleware that makes the test server misbehave on purpose for matching requests.

    ``plan`` is a list of faults used up one per matching request:
    "500" answers 500 without touching the app; "lost" lets the app commit, then answers 500 (the phone never
    learns the report arrived); "drop" lets the app commit, then cuts the connection; ("slow", seconds) waits
    before passing the request on.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.plan: list[object] = []
        self.path = "/api/v1/reports"
        self.seen: list[str] = []

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        matches = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == self.path
        if matches:
            self.seen.append(environ["PATH_INFO"])
        if not (matches and self.plan):
            return self.app(environ, start_response)
        fault = self.plan.pop(0)
        if fault == "500":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"injected failure"]
        if isinstance(fault, tuple) and fault[0] == "slow":
            time.sleep(float(fault[1]))  # type: ignore[arg-type]
            return self.app(environ, start_response)
        body = b"".join(self.app(environ, lambda *args, **kwargs: None))  # the app commits the report
        del body
        if fault == "drop":
            connection = environ["werkzeug.socket"]
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()
            return []
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"injected: the response was lost"]


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.faults = FaultInjector(app)
        self.server = make_server("127.0.0.1", 0, self.faults, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def _live_server(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_server(_live_server: LiveServer) -> Iterator[LiveServer]:
    """The app served on a real port for the browser; faults planned by a test end with it."""
    yield _live_server
    _live_server.faults.plan.clear()
    _live_server.faults.seen.clear()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:  # type: ignore[type-arg]
    args = {**browser_type_launch_args, "args": browser.LAUNCH_ARGS}
    path = browser.chromium_path()
    if path:
        args["executable_path"] = path
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:  # type: ignore[type-arg]
    return {
        **browser_context_args,
        "viewport": {"width": 360, "height": 740},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "service_workers": "allow",
    }


@pytest.fixture(scope="session")
def base_url() -> None:
    """Tests build full URLs from live_server.url (this replaces the plugin's fixture, deprecated in pytest 9)."""
    return None
