"""Admin pages for Open311 API keys: issue (shown once), list, revoke; only admins."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import login, post, text
from webapp.accounts.models import Role
from webapp.api.models import ApiKey, create_api_key, hash_key
from webapp.db import db

KEY = re.compile(r"cg311_[0-9a-f]{8}_[0-9a-f]{64}")
PAGE = "/admin/api-keys"


def as_role(app, client, role: Role):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(role, name="管理员甲")
        db.session.commit()
    login(client, user)
    client.set_cookie("lang", "en")  # assertions below read the English texts
    return user


@pytest.fixture
def admin(app, client):  # type: ignore[no-untyped-def]
    return as_role(app, client, Role.ADMIN)


def key_count(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey))


def existing_key(app, name: str = "旧App") -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        row, _key = create_api_key(name)
        db.session.commit()
        return row.id


def test_anonymous_visitors_are_sent_to_log_in(app, client):
    key_id = existing_key(app)
    for response in (
        client.get(PAGE),
        post(client, PAGE, {"name": "X"}),
        post(client, f"{PAGE}/{key_id}/revoke"),
    ):
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert key_count(app) == 1


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.VOLUNTEER, Role.REVIEWER, Role.DEPARTMENT])
def test_other_roles_get_403(app, client, role):
    key_id = existing_key(app)
    as_role(app, client, role)
    assert client.get(PAGE).status_code == 403
    assert post(client, PAGE, {"name": "Sneaky"}).status_code == 403
    assert post(client, f"{PAGE}/{key_id}/revoke").status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1
        assert db.session.get(ApiKey, key_id).revoked_at is None


def test_admin_issues_a_key_shown_once(app, client, admin):
    page = client.get(PAGE)
    assert page.status_code == 200 and "No keys yet" in text(page)
    assert page.headers["Cache-Control"] == "no-store"
    response = post(client, PAGE, {"name": "12345热线"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    keys = KEY.findall(body)
    assert len(keys) == 1
    key = keys[0]
    assert "shown only once" in body
    with app.app_context():
        row = db.session.scalar(sa.select(ApiKey))
        assert row.name == "12345热线" and row.created_by_id == admin.id
        assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.prefix)
    # Never again: the list shows only the prefix.
    listed = client.get(PAGE).get_data(as_text=True)
    assert key not in listed and f"cg311_{key.split('_')[1]}_…" in listed and "12345热线" in listed
    # The key works at once.
    created = client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "06042", "address_string": "千峰南路", "description": "满了"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    row_html = re.search(r'<tr data-key="[0-9a-f]{8}">.*?</tr>', client.get(PAGE).get_data(as_text=True), re.S)
    assert '<td class="requests">1</td>' in row_html.group(0)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Please name the client the key is for."),
        ("   ", "Please name the client the key is for."),
        ("x" * 81, "The name is too long: at most 80 characters."),
        ("旧app", "A key with this name exists already"),
    ],
)
def test_bad_names_are_refused_with_422(app, client, admin, name, message):
    existing_key(app, "旧App")
    response = post(client, PAGE, {"name": name})
    assert response.status_code == 422
    assert message in text(response)
    assert not KEY.search(response.get_data(as_text=True))
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert key_count(app) == 1


def test_missing_csrf_token_is_refused(app, client, admin):
    response = client.post(PAGE, data={"name": "No token"})
    assert response.status_code == 400
    assert key_count(app) == 0


def test_admin_revokes_a_key(app, client, admin):
    with app.app_context():
        row, key = create_api_key("旧App")
        db.session.commit()
        key_id = row.id
    response = post(client, f"{PAGE}/{key_id}/revoke")
    assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
    page = client.get(PAGE)
    assert "is revoked" in text(page) and "Revoked on" in text(page)
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is not None
    refused = client.post(
        "/open311/v2/requests.json", data={"api_key": key, "service_code": "06042", "address_string": "x"}
    )
    assert refused.status_code == 403
    again = post(client, f"{PAGE}/{key_id}/revoke")
    assert again.status_code == 303
    assert "revoked already" in text(client.get(PAGE))
    assert post(client, f"{PAGE}/999999/revoke").status_code == 404
    assert post(client, f"{PAGE}/99999999999999999999/revoke").status_code == 404


def test_page_is_chinese_by_default(app):
    client = app.test_client()
    with app.app_context():
        user = make_user(Role.ADMIN)
        db.session.commit()
    login(client, user)
    body = client.get(PAGE).get_data(as_text=True)
    assert '<html lang="zh-Hans"' in body


def test_control_characters_in_a_name_are_refused(app, client, admin):
    response = post(client, PAGE, {"name": "a\x07b"})
    assert response.status_code == 422 and "control characters" in text(response)
    assert key_count(app) == 0
