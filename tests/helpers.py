"""Small helpers for web tests: CSRF tokens and logging in through the real endpoints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.factories import ANONYMOUS, PASSWORD
from webapp.accounts.models import User
from webapp.db import db

HX = {"HX-Request": "true"}


def csrf_token(client: FlaskClient) -> str:
    return client.get("/api/v1/csrf").get_json()["csrf_token"]


def post(client: FlaskClient, url: str, data: dict | None = None, *, headers: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
    """POST a form with a valid CSRF token, as a browser would."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(url, data=data, headers=headers or {}, **kwargs)


def login(client: FlaskClient, user: User, password: str = PASSWORD) -> None:
    response = post(client, "/login", {"phone": user.phone, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def as_user(app, world: dict, role: str) -> FlaskClient:  # type: ignore[no-untyped-def, type-arg]
    """A new client, logged in as ``world["users"][role]`` (not at all for ``ANONYMOUS``)."""
    client = app.test_client()
    if role != ANONYMOUS:
        login(client, world["users"][role])
    return client


def api_headers(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": csrf_token(client)}


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The visible text of an HTML response, tags removed, for 'the page says …' assertions."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


_SAVEPOINT_STATEMENTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextmanager
def _statements(engine: sa.Engine | None, event: str, keep) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The statements sent inside the block for which ``keep(statement, cursor)`` holds."""
    engine = engine or db.engine
    kept: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if keep(statement, cursor):
            kept.append(statement)

    sa.event.listen(engine, event, listener)
    try:
        yield kept
    finally:
        sa.event.remove(engine, event, listener)


def count_queries(engine: sa.Engine | None = None) -> AbstractContextManager[list[str]]:
    """Collect every SQL statement sent to the database inside the block (one entry per execution).

    Savepoints are left out: the tests run each test inside one transaction and every session joins it with a
    savepoint (tests/conftest.py), which production does not do."""
    return _statements(
        engine,
        "before_cursor_execute",
        lambda statement, _: not statement.lstrip().upper().startswith(_SAVEPOINT_STATEMENTS),
    )


def statements_in_transactions(engine: sa.Engine | None = None) -> AbstractContextManager[list[str]]:
    """Collect the statements that ran inside a transaction the server held open (PostgreSQL; nothing on SQLite).

    A page that only reads runs outside a transaction (webapp.db.read_outside_transactions): none of its
    statements shows here, which means it paid no BEGIN and no ROLLBACK round trip."""
    if (engine or db.engine).dialect.name != "postgresql":
        return _statements(engine, "after_cursor_execute", lambda statement, cursor: False)
    from psycopg.pq import TransactionStatus

    return _statements(
        engine,
        "after_cursor_execute",
        lambda statement, cursor: cursor.connection.info.transaction_status != TransactionStatus.IDLE,
    )


def scanners(body: str) -> list[tuple[str, str]]:
    """The camera scanners of a page (templates/_macros/qr_scanner.html): each one's id prefix and the label of its
    camera picture, asserting the rest of the macro's markup (panel, start and stop buttons) is there too."""
    found = []
    for prefix, label in re.findall(
        r'<video id="([a-z-]*)scan-video" class="pa-scan-video" playsinline muted hidden aria-label="([^"]+)">', body
    ):
        for element in ("scanner", "scan-start", "scan-stop"):
            assert f'id="{prefix}{element}"' in body, f"{prefix}{element} missing"
        found.append((prefix, label))
    return found
