from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import PASSWORD, make_user
from tests.helpers import HX, csrf_token, login, post, text
from webapp.accounts.models import Role, User
from webapp.db import db


def sent_code(app, phone: str) -> str:  # type: ignore[no-untyped-def]
    message = [m for m in app.extensions["sms"].sent if m.phone == phone][-1]
    return re.search(r"\d{6}", message.text).group(0)  # type: ignore[union-attr]


def test_register_page_has_labelled_fields(client):
    response = client.get("/register")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for field in ("phone", "code", "password", "display_name"):
        assert f'for="{field}"' in body and f'id="{field}"' in body


def test_register_with_sms_code_logs_the_resident_in(app, client):
    response = post(client, "/auth/code", {"phone": "138 0013 8000", "purpose": "register"}, headers=HX)
    assert response.status_code == 200
    assert "验证码已发送" in response.get_data(as_text=True)
    code = sent_code(app, "13800138000")

    response = post(
        client,
        "/register",
        {"phone": "13800138000", "code": code, "password": "long-enough-1", "display_name": "小王"},
    )
    assert response.status_code == 303
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.phone == "13800138000"))
        assert user is not None and user.role is Role.CITIZEN
        assert user.password_hash.startswith("scrypt:")
        assert user.phone_verified_at is not None
    assert "我的报告" in client.get("/").get_data(as_text=True)


def test_send_code_without_javascript_returns_to_the_form(app, client):
    response = post(client, "/auth/code", {"phone": "13800138001", "purpose": "register"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/register?phone=13800138001")
    page = client.get(response.headers["Location"])
    assert "验证码已发送" in page.get_data(as_text=True)
    assert 'value="13800138001"' in page.get_data(as_text=True)


def test_wrong_code_is_refused_and_counted(app, client):
    post(client, "/auth/code", {"phone": "13800138002", "purpose": "register"}, headers=HX)
    for _ in range(5):
        response = post(client, "/register", {"phone": "13800138002", "code": "000000", "password": "long-enough-1"})
        assert response.status_code == 422
    assert "验证码错误或已过期" in text(response)
    # After five wrong tries even the right code no longer works.
    response = post(
        client,
        "/register",
        {"phone": "13800138002", "code": sent_code(app, "13800138002"), "password": "long-enough-1"},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.phone == "13800138002")) is None


@pytest.mark.parametrize(
    ("phone", "message"),
    [("12345", "请输入中国大陆手机号"), ("23800138000", "请输入中国大陆手机号"), ("", "请输入您的手机号")],
)
def test_send_code_refuses_bad_numbers(client, phone, message):
    response = post(client, "/auth/code", {"phone": phone, "purpose": "register"}, headers=HX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_registering_a_taken_number_answers_like_any_other_and_says_it_by_sms(app, client):
    with app.app_context():
        make_user(phone="13800138003")
        db.session.commit()
    taken = post(client, "/auth/code", {"phone": "13800138003", "purpose": "register"}, headers=HX)
    free = post(client, "/auth/code", {"phone": "13800138004", "purpose": "register"}, headers=HX)
    assert taken.status_code == free.status_code == 200
    assert "验证码已发送" in taken.get_data(as_text=True) and "已注册" not in taken.get_data(as_text=True)
    [message] = [m for m in app.extensions["sms"].sent if m.phone == "13800138003"]
    assert "已注册" in message.text and not re.search(r"\d{6}", message.text)  # no code: log in or reset instead
    # Registering it anyway fails like a wrong code.
    response = post(client, "/register", {"phone": "13800138003", "code": "123456", "password": "long-enough-1"})
    assert response.status_code == 422 and "已注册" not in response.get_data(as_text=True)


def test_without_sms_residents_are_sent_to_a_service_desk(app, client, monkeypatch):
    from webapp.accounts.sms import NoSmsSender

    monkeypatch.setitem(app.extensions, "sms", NoSmsSender())
    for url in ("/register", "/password/reset"):
        page = client.get(url)
        assert page.status_code == 200 and 'id="service-desk"' in page.get_data(as_text=True)
        assert 'name="code"' not in page.get_data(as_text=True)
        assert post(client, url, {"phone": "13800138005"}).status_code == 403
    answer = post(client, "/auth/code", {"phone": "13800138005", "purpose": "register"}, headers=HX)
    assert answer.status_code == 403 and "服务" in answer.get_data(as_text=True)


def test_login_and_logout(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    login(client, user)
    assert client.get("/me/profile").status_code == 200
    assert client.get("/logout").status_code == 405  # logout is a POST
    response = post(client, "/logout")
    assert response.status_code == 303
    assert client.get("/me/profile").status_code == 302


def test_wrong_password_gets_a_clear_message(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = post(client, "/login", {"phone": user.phone, "password": "wrong-password"})
    assert response.status_code == 422
    assert "手机号或密码不正确" in text(response)


def test_login_only_follows_local_next_urls(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = post(client, "/login?next=https://evil.example/x", {"phone": user.phone, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_login_is_rate_limited(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN", "3 per minute")
    for _ in range(3):
        assert post(client, "/login", {"phone": "13900000000", "password": "x"}).status_code == 422
    response = post(client, "/login", {"phone": "13900000000", "password": "x"})
    assert response.status_code == 429
    assert "尝试次数过多" in text(response)


def test_registration_is_rate_limited(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_REGISTER", "2 per hour")
    for _ in range(2):
        post(client, "/register", {"phone": "13800138009", "code": "1", "password": "long-enough-1"})
    response = post(client, "/register", {"phone": "13800138009", "code": "1", "password": "long-enough-1"})
    assert response.status_code == 429


def test_sms_codes_are_rate_limited_per_phone(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_SMS", "1 per minute")
    assert post(client, "/auth/code", {"phone": "13800138010"}, headers=HX).status_code == 200
    response = post(client, "/auth/code", {"phone": "13800138010"}, headers=HX)
    assert response.status_code == 429
    assert response.headers["HX-Retarget"] == "#flash"


def test_missing_csrf_token_is_refused_with_a_message(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = client.post("/login", data={"phone": user.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in text(response)


def test_stale_csrf_token_from_another_session_is_refused(app, client):
    token = csrf_token(app.test_client())  # belongs to a different session
    response = client.post("/login", data={"phone": "13800138000", "password": "x", "csrf_token": token})
    assert response.status_code == 400


def test_profile_saves_name_visibility_text_size_and_language(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    login(client, user)
    response = post(
        client,
        "/me/profile",
        {"display_name": "王阿姨", "show_name_publicly": "y", "large_text": "y", "locale": "en", "notify_by_sms": "y"},
    )
    assert response.status_code == 303
    page = client.get("/me/profile").get_data(as_text=True)
    assert 'lang="en"' in page
    assert 'class="large-text"' in page
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert (saved.display_name, saved.show_name_publicly, saved.large_text, saved.locale) == (
            "王阿姨",
            True,
            True,
            "en",
        )
        assert saved.notify_by_sms is True


def test_profile_shows_the_phone_masked(app, client):
    with app.app_context():
        user = make_user(phone="13812345678")
        db.session.commit()
    login(client, user)
    body = client.get("/me/profile").get_data(as_text=True)
    assert "138****5678" in body and "13812345678" not in body


def test_change_password(app, client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    login(client, user)
    response = post(client, "/me/password", {"pw-current_password": "wrong", "pw-new_password": "another-pass-2"})
    assert response.status_code == 422
    assert "当前密码不正确" in text(response)
    response = post(client, "/me/password", {"pw-current_password": PASSWORD, "pw-new_password": "another-pass-2"})
    assert response.status_code == 303
    post(client, "/logout")
    login(client, user, password="another-pass-2")


def test_reset_password_with_sms_code(app, client):
    with app.app_context():
        user = make_user(phone="13800138020")
        db.session.commit()
    post(client, "/auth/code", {"phone": "13800138020", "purpose": "reset"}, headers=HX)
    code = sent_code(app, "13800138020")
    response = post(client, "/password/reset", {"phone": "13800138020", "code": code, "password": "brand-new-pass"})
    assert response.status_code == 303
    login(client, user, password="brand-new-pass")


def test_reset_password_does_not_reveal_unknown_numbers(app, client):
    response = post(client, "/auth/code", {"phone": "13800138021", "purpose": "reset"}, headers=HX)
    assert response.status_code == 200
    assert "验证码已发送" in response.get_data(as_text=True)
    assert not [m for m in app.extensions["sms"].sent if m.phone == "13800138021"]


def test_language_switch_is_remembered_in_a_cookie(client):
    assert 'lang="zh-Hans"' in client.get("/").get_data(as_text=True)
    response = post(client, "/prefs", {"lang": "en", "next": "/reports"})
    assert response.status_code == 303 and response.headers["Location"] == "/reports"
    body = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in body and "Report a problem" in body


def test_large_text_for_anonymous_visitors(client):
    post(client, "/prefs", {"large_text": "on"})
    assert 'class="large-text"' in client.get("/").get_data(as_text=True)


def test_preference_redirect_stays_on_this_site(client):
    response = post(client, "/prefs", {"lang": "en", "next": "//evil.example"})
    assert response.headers["Location"] == "/"
