"""Invisible bidirectional and zero-width control characters are removed from every input (webapp/textinput.py)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import api_headers, login, post
from webapp.db import db
from webapp.feedback.models import PlatformFeedback
from webapp.textinput import CleanMultiDict, clean

SPOOF = "\u202e\u2066兴华街\u200b12\u200d号\u2069\u202c\ufeff"


def test_clean_removes_each_listed_character():
    controls = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010)]]
    assert clean("a" + "".join(controls) + "b") == "ab"
    assert clean("普通文字 ok 🚧") == "普通文字 ok 🚧"


def test_parameter_storage_cleans_every_shape():
    assert CleanMultiDict([("a\u200b", "x\u202ey")]).getlist("a") == ["xy"]
    assert CleanMultiDict({"k": ["1\u200b", "2"]}).getlist("k") == ["1", "2"]
    assert CleanMultiDict(None) == CleanMultiDict()


def test_a_form_field_is_stored_without_them(app, client):
    data = {"kind": "suggestion", "text": f"路灯 {SPOOF}", "reply_via": "none", "client_id": str(uuid.uuid4())}
    response = post(client, "/feedback", data, content_type="multipart/form-data")
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]
    with app.app_context():
        stored = db.session.scalar(sa.select(PlatformFeedback.text))
    assert stored == "路灯 兴华街12号"


def test_query_and_json_are_cleaned(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    assert client.get("/reports?status=closed\u200b").status_code == 200
    answer = client.post("/api/v1/session", json={"phone": user.phone + "\u200b", "password": "wrong\u202e"},
                         headers=api_headers(client))  # fmt: skip
    assert answer.status_code == 401  # the phone matched after cleaning; the password is wrong
    login(client, user)
    profile = post(client, "/me/profile", {"display_name": "\u202e王阿姨\u200f", "locale": "zh_Hans_CN"})
    assert profile.status_code == 303
    with app.app_context():
        assert db.session.get(type(user), user.id).display_name == "王阿姨"
