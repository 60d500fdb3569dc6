"""Sessions end when they should: saved cookies are replayed after logout, a password change or reset, and an
admin ending a staff member's sessions (webapp/accounts/sessions.py)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.factories import PASSWORD, make_user
from tests.helpers import csrf_token, login, post
from webapp.accounts.models import AccountEvent, Role, UserSession
from webapp.db import db

ME = "/api/v1/me/reports"
NEW_PASSWORD = "another-password-7"


def person(app, role=Role.CITIZEN):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(role)
        db.session.commit()
        return user


def saved(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The cookies a thief (or a backup) could have copied."""
    return {name: client.get_cookie(name).value for name in ("session", "remember_token") if client.get_cookie(name)}


def replay(app, cookies: dict[str, str]):  # type: ignore[no-untyped-def]
    fresh = app.test_client()
    for name, value in cookies.items():
        fresh.set_cookie(name, value)
    return fresh


def test_logout_ends_that_session_and_its_remember_cookie(app, client):
    user = person(app)
    post(client, "/login", {"phone": user.phone, "password": PASSWORD, "remember": "y"})
    assert client.get(ME).status_code == 200
    copy = saved(client)
    assert set(copy) == {"session", "remember_token"}
    assert replay(app, copy).get(ME).status_code == 200  # a copy works while the session lives
    assert post(client, "/logout").status_code == 303
    assert client.get(ME).status_code == 401
    assert replay(app, copy).get(ME).status_code == 401
    assert replay(app, {"remember_token": copy["remember_token"]}).get(ME).status_code == 401
    assert replay(app, {"session": copy["session"]}).get("/me/profile").status_code == 302  # to the login page


def test_logout_on_one_phone_keeps_the_others(app, client):
    user = person(app)
    other = app.test_client()
    login(client, user)
    login(other, user)
    post(client, "/logout")
    assert client.get(ME).status_code == 401 and other.get(ME).status_code == 200


def test_api_logout_ends_the_session(app, client):
    user = person(app)
    answer = client.post(
        "/api/v1/session", json={"phone": user.phone, "password": PASSWORD}, headers={"X-CSRFToken": csrf_token(client)}
    )
    assert answer.status_code == 200
    token = answer.get_json()["csrf_token"]
    copy = saved(client)
    assert client.get(ME).status_code == 200
    assert client.delete("/api/v1/session", headers={"X-CSRFToken": token}).status_code == 200
    assert replay(app, copy).get(ME).status_code == 401
    assert replay(app, {"remember_token": copy["remember_token"]}).get(ME).status_code == 401


def test_a_password_change_ends_every_session_but_the_one_that_changed_it(app, client):
    user = person(app)
    phone, laptop = app.test_client(), app.test_client()
    login(client, user)
    post(phone, "/login", {"phone": user.phone, "password": PASSWORD, "remember": "y"})
    login(laptop, user)
    copies = [saved(phone), saved(laptop)]
    response = post(
        client, "/me/password", {"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status_code == 303
    assert client.get(ME).status_code == 200  # this browser continues, in a new session
    for copy in copies:
        assert replay(app, copy).get(ME).status_code == 401
    assert replay(app, {"remember_token": copies[0]["remember_token"]}).get(ME).status_code == 401
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 1
        [event] = db.session.scalars(sa.select(AccountEvent)).all()
        assert (event.action, event.user_id, event.actor_id) == ("password_changed", user.id, user.id)


def test_a_password_reset_ends_every_session(app, client):
    user = person(app)
    phone = app.test_client()
    post(phone, "/login", {"phone": user.phone, "password": PASSWORD, "remember": "y"})
    copy = saved(phone)
    assert post(client, "/auth/code", {"phone": user.phone, "purpose": "reset"}).status_code == 303
    message = [m for m in app.extensions["sms"].sent if m.phone == user.phone][-1]
    code = re.search(r"\d{6}", message.text).group(0)  # type: ignore[union-attr]
    response = post(client, "/password/reset", {"phone": user.phone, "code": code, "password": NEW_PASSWORD})
    assert response.status_code == 303
    assert phone.get(ME).status_code == 401
    assert replay(app, copy).get(ME).status_code == 401
    assert replay(app, {"remember_token": copy["remember_token"]}).get(ME).status_code == 401
    login(client, user, NEW_PASSWORD)
    assert client.get(ME).status_code == 200


def test_an_admin_ends_a_staff_members_sessions(app, client):
    admin, reviewer = person(app, Role.ADMIN), person(app, Role.REVIEWER)
    reviewers_phone = app.test_client()
    post(reviewers_phone, "/login", {"phone": reviewer.phone, "password": PASSWORD, "remember": "y"})
    copy = saved(reviewers_phone)
    login(client, admin)
    page = client.get("/admin/staff")
    assert page.status_code == 200 and f'id="staff-{reviewer.id}"' in page.get_data(as_text=True)
    url = f"/admin/staff/{reviewer.id}/end-sessions"
    assert client.post(url).status_code == 400  # no CSRF token
    assert reviewers_phone.get(ME).status_code == 200
    assert post(client, url).status_code == 303
    assert reviewers_phone.get(ME).status_code == 401
    assert replay(app, copy).get(ME).status_code == 401
    assert client.get(ME).status_code == 200  # the admin's own session is untouched
    with app.app_context():
        [event] = db.session.scalars(sa.select(AccountEvent)).all()
        assert (event.action, event.user_id, event.actor_id) == ("sessions_ended_by_admin", reviewer.id, admin.id)
    assert "管理员结束了全部会话" in client.get("/admin/staff").get_data(as_text=True)


def test_only_admins_end_sessions_and_only_of_staff(app, client):
    resident, reviewer, admin = person(app), person(app, Role.REVIEWER), person(app, Role.ADMIN)
    assert client.get("/admin/staff").status_code == 302  # to log in
    login(client, reviewer)
    assert client.get("/admin/staff").status_code == 403
    assert post(client, f"/admin/staff/{admin.id}/end-sessions").status_code == 403
    post(client, "/logout")
    login(client, admin)
    assert post(client, f"/admin/staff/{resident.id}/end-sessions").status_code == 404
    assert post(client, "/admin/staff/999999/end-sessions").status_code == 404


def test_login_gives_a_new_csrf_token(app, client):
    user = person(app)
    before = csrf_token(client)
    answer = client.post("/login", data={"csrf_token": before, "phone": user.phone, "password": PASSWORD})
    assert answer.status_code == 303
    after = csrf_token(client)
    assert after != before
    assert client.post("/prefs", data={"csrf_token": before, "lang": "en"}).status_code == 400  # the old one is dead
    assert client.post("/prefs", data={"csrf_token": after, "lang": "en"}).status_code == 303


def test_pages_loaded_at_once_after_login_share_one_csrf_token(app, client):
    """After login a browser loads several pages at once (the next page, the service worker's precache): each
    starts from the login response's cookie, and a form from any of them must still post."""
    user = person(app)
    answer = client.post("/login", data={"csrf_token": csrf_token(client), "phone": user.phone, "password": PASSWORD})
    assert answer.status_code == 303
    after_login = client.get_cookie("session").value
    first = csrf_token(client)  # one page's form
    client.set_cookie("session", after_login)  # a page requested at the same moment, with the same cookie
    second = csrf_token(client)
    assert client.post("/prefs", data={"csrf_token": first, "lang": "en"}).status_code == 303
    assert client.post("/prefs", data={"csrf_token": second, "lang": "zh_Hans_CN"}).status_code == 303


def test_cookies_from_before_the_change_of_scheme_do_not_log_anyone_in(app):
    user = person(app)
    old_style = app.test_client()
    with old_style.session_transaction() as session:
        session["_user_id"] = str(user.id)  # what Flask-Login stored before sessions had tokens
        session["_fresh"] = True
    assert old_style.get(ME).status_code == 401


def test_each_user_sees_their_own_badge(app):
    """The unread badge is read with the session's user: two users logged in at once each see their own."""
    from webapp.notifications.services import notify

    alice, bob = person(app), person(app)
    with app.app_context():
        notify([db.session.get(type(alice), alice.id)], "feedback_reply", ref="F1")
        notify([db.session.get(type(alice), alice.id)], "feedback_reply", ref="F2")
        db.session.commit()
    alice_client, bob_client = app.test_client(), app.test_client()
    login(alice_client, alice)
    login(bob_client, bob)
    for _ in range(2):
        assert re.search(r'id="notification-count"[^>]*>2<', alice_client.get("/points").get_data(as_text=True))
        assert 'id="notification-count"' not in bob_client.get("/points").get_data(as_text=True)


def _page_token(client) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/store").get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_a_sessions_signed_csrf_token_is_kept_and_still_checked(app, client):
    """``sessions.csrf_token`` signs a session's token once per process: every page of the session shows the same
    signed token, which posts; another session, or the same browser after a login, gets its own."""
    user = person(app)
    first = _page_token(client)
    assert _page_token(client) == first == csrf_token(client)  # the API's token is the pages' (g)
    assert first in app.extensions["signed_csrf_tokens"].values()
    assert client.post("/prefs", data={"csrf_token": first, "lang": "en"}).status_code == 303
    other = app.test_client()
    assert _page_token(other) != first
    assert other.post("/prefs", data={"csrf_token": first, "lang": "en"}).status_code == 400  # not its session's
    client.post("/login", data={"csrf_token": first, "phone": user.phone, "password": PASSWORD})
    after_login = _page_token(client)
    assert after_login != first
    assert client.post("/prefs", data={"csrf_token": first, "lang": "en"}).status_code == 400
    assert client.post("/prefs", data={"csrf_token": after_login, "lang": "en"}).status_code == 303


def test_with_a_time_limit_csrf_tokens_are_signed_per_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_TIME_LIMIT", 3600)
    app.extensions.pop("signed_csrf_tokens", None)
    token = _page_token(client)
    assert client.post("/prefs", data={"csrf_token": token, "lang": "en"}).status_code == 303
    assert "signed_csrf_tokens" not in app.extensions
