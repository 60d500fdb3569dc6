"""The /api/v1 contract the offline outbox relies on (ARCHITECTURE.md)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import PASSWORD, jpeg_bytes, make_report, make_user
from tests.helpers import api_headers, csrf_token
from webapp.db import db
from webapp.reports.models import Report, ReportPhoto

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


@pytest.fixture
def resident(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = client.post(
        "/api/v1/session", json={"phone": user.phone, "password": PASSWORD}, headers=api_headers(client)
    )
    assert response.status_code == 200, response.get_json()
    return user


def payload(client_id: str | None = None, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "client_id": client_id or str(uuid.uuid4()),
        "category": "06042",
        "lat": "37.8601",
        "lon": "112.5180",
        "address": "千峰南路",
        "description": "满了",
        "captured_at": "2026-11-28T08:30:00Z",
        "photos": [(io.BytesIO(jpeg_bytes()), "a.jpg", "image/jpeg")],
    }
    data.update(overrides)
    return data


def send(client, data, headers=None):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/reports",
        data=data,
        headers=headers or api_headers(client),
        content_type="multipart/form-data",
    )


def count_reports(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Report))


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": "ok"}


def test_csrf_endpoint_gives_a_token_that_is_not_cached(client):
    response = client.get("/api/v1/csrf")
    assert response.get_json()["csrf_token"]
    assert response.headers["Cache-Control"] == "no-store"


def test_session_login_returns_a_csrf_token(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = client.post(
        "/api/v1/session", json={"phone": user.phone, "password": PASSWORD}, headers=api_headers(client)
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["csrf_token"] and body["user"]["role"] == "citizen"
    assert client.get("/api/v1/me/reports").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "bad_request"),
        ({"phone": 13800138000, "password": "x"}, 400, "bad_request"),
        ({"phone": "13800138000", "password": "wrong"}, 401, "invalid_credentials"),
    ],
)
def test_session_login_errors(client, body, status, code):
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body, "content_type": "application/json"}
    response = client.post("/api/v1/session", headers=api_headers(client), **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_session_login_needs_csrf(client):
    response = client.post("/api/v1/session", json={"phone": "13800138000", "password": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"


def test_create_report_then_replay_returns_the_same_body(app, client, resident):
    client_id = str(uuid.uuid4())
    first = send(client, payload(client_id))
    assert first.status_code == 201
    body = first.get_json()
    assert set(body) == {"id", "client_id", "url", "status"}
    assert body["client_id"] == client_id and body["status"] == "pending_review"
    assert body["url"].endswith(f"/reports/{body['id']}")

    again = send(client, payload(client_id))
    assert again.status_code == 200
    assert again.get_json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_reports(app) == 1


def test_same_client_id_with_different_content_is_422(app, client, resident):
    client_id = str(uuid.uuid4())
    assert send(client, payload(client_id)).status_code == 201
    response = send(client, payload(client_id, description="另一个问题"))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "idempotency_conflict"
    assert count_reports(app) == 1


def test_another_residents_client_id_is_refused_without_revealing_it(app, client, resident):
    with app.app_context():
        other = make_report(make_user())
        db.session.commit()
        client_id = other.client_id
    response = send(client, payload(client_id))
    assert response.status_code == 422
    assert "id" not in response.get_json()


def test_get_report_contract(app, client, resident):
    created = send(client, payload()).get_json()
    response = client.get(f"/api/v1/reports/{created['id']}")
    assert response.status_code == 200
    body = response.get_json()
    for key in (
        "id",
        "client_id",
        "status",
        "category",
        "lat",
        "lon",
        "address",
        "description",
        "photos",
        "events",
    ):
        assert key in body
    assert body["category"] == "06042" and body["lat"] == pytest.approx(37.8601)
    assert len(body["photos"]) == 1
    photo = client.get(body["photos"][0].replace("http://localhost", ""))
    assert photo.status_code == 200
    assert body["events"] == [
        {
            "at": body["events"][0]["at"],
            "from": None,
            "to": "pending_review",
            "by_role": "citizen",
            "note": "",
        }
    ]


def test_my_reports_newest_first(app, client, resident):
    ids = [send(client, payload()).get_json()["id"] for _ in range(3)]
    listed = client.get("/api/v1/me/reports").get_json()
    assert [r["id"] for r in listed] == list(reversed(ids))
    assert set(listed[0]) == {"id", "client_id", "status", "created_at"}


def test_my_reports_needs_login(client):
    response = client.get("/api/v1/me/reports")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_create_report_needs_login(app, client):
    response = send(client, payload())
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_create_report_needs_csrf(app, client, resident):
    response = send(client, payload(), headers={"X-CSRFToken": "stale-token"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert count_reports(app) == 0


def test_create_report_must_be_multipart(client, resident):
    response = client.post("/api/v1/reports", json={"category": "06042"}, headers=api_headers(client))
    assert response.status_code == 415


def test_missing_client_id_is_400(client, resident):
    data = payload()
    del data["client_id"]
    response = send(client, data)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_client_id"


API_BAD_INPUT = [
    ("latitude 200", {"lat": "200"}, 422, "invalid", "lat"),
    ("unknown category", {"category": "12345"}, 422, "invalid", "category"),
    (
        "five photos",
        {"photos": [(io.BytesIO(jpeg_bytes()), f"{i}.jpg") for i in range(5)]},
        422,
        "invalid",
        "photos",
    ),
    (
        "svg",
        {"photos": [(io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"), "a.svg")]},
        415,
        "photo_unsupported",
        "photos",
    ),
    ("text as jpg", {"photos": [(io.BytesIO(b"just text"), "a.jpg")]}, 415, "photo_unsupported", "photos"),
    ("long description", {"description": "x" * 10_000}, 422, "invalid", "description"),
    ("bad captured_at", {"captured_at": "yesterday"}, 422, "invalid", "captured_at"),
    (
        "bomb",
        {"photos": [(io.BytesIO((IMAGES / "decompression_bomb.gif").read_bytes()), "b.gif")]},
        413,
        "photo_too_many_pixels",
        "photos",
    ),
]


@pytest.mark.parametrize(
    ("case", "overrides", "status", "code", "field"), API_BAD_INPUT, ids=[c[0] for c in API_BAD_INPUT]
)
def test_api_bad_input(app, client, resident, case, overrides, status, code, field):
    response = send(client, payload(**overrides))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert field in error["fields"]
    assert count_reports(app) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportPhoto)) == 0


def test_30_mb_upload_is_413_json(client, resident):
    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (30 * 1024 * 1024))
    response = send(client, payload(photos=[(big, "big.jpg")]))
    response.request.input_stream.close()  # the test client spools a body this big to a temporary file
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "photo_too_large"


def test_api_messages_follow_the_language(app, client, resident):
    client.set_cookie("lang", "en")
    response = send(client, payload(lat="200"))
    assert "position is not valid" in response.get_json()["error"]["message"]
    client.set_cookie("lang", "zh_Hans_CN")
    response = send(client, payload(lat="200"))
    assert "位置无效" in response.get_json()["error"]["message"]


def test_categories_for_the_offline_form(client):
    groups = client.get("/api/v1/categories").get_json()
    assert len(groups) == 12
    assert groups[0]["code"] == "A" and groups[0]["categories"][0]["code"].isdigit()


def test_logout_through_the_api(client, resident):
    token = csrf_token(client)
    assert client.delete("/api/v1/session", headers={"X-CSRFToken": token}).status_code == 200
    assert client.get("/api/v1/me/reports").status_code == 401
