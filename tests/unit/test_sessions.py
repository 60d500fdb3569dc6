"""webapp.accounts.sessions: a session lives while its row does."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.factories import make_user
from webapp.accounts import sessions
from webapp.accounts.models import AccountEvent, Role, UserSession
from webapp.db import db, utcnow


def test_a_session_loads_until_it_is_ended(ctx):
    user = make_user()
    token = sessions.start(user, user_agent="x" * 500)
    assert user.get_id() == f"{user.id}:{token}"
    row = db.session.scalar(sa.select(UserSession))
    assert row.token_hash != token and len(row.user_agent) == 200  # only a hash is kept
    assert sessions.load(f"{user.id}:{token}") is user
    assert sessions.load(f"{user.id}:{token}x") is None
    assert sessions.load(f"{user.id + 1}:{token}") is None
    assert sessions.load(str(user.id)) is None and sessions.load("") is None and sessions.load("a:b") is None
    sessions.end(user)
    assert sessions.load(f"{user.id}:{token}") is None


def test_ending_all_sessions_is_audited_and_leaves_others_alone(ctx):
    user, other, admin = make_user(Role.REVIEWER), make_user(), make_user(Role.ADMIN)
    first, second = sessions.start(user), sessions.start(user)
    kept = sessions.start(other)
    assert sessions.live_count(user) == 2
    assert dict((u.id, n) for u, n in sessions.staff_with_sessions())[user.id] == 2
    assert sessions.end_all(user, action="sessions_ended_by_admin", actor=admin) == 2
    assert sessions.load(f"{user.id}:{first}") is None and sessions.load(f"{user.id}:{second}") is None
    assert sessions.load(f"{other.id}:{kept}") is other
    [event] = db.session.scalars(sa.select(AccountEvent)).all()
    assert (event.user_id, event.actor_id, event.detail) == (user.id, admin.id, "2 session(s) ended")
    assert sessions.event_label("sessions_ended_by_admin") != "sessions_ended_by_admin"


def test_sessions_older_than_the_remember_cookie_are_forgotten(app, ctx):
    user = make_user()
    old = sessions.start(user)
    db.session.execute(sa.update(UserSession).values(created_at=utcnow() - timedelta(days=365)))
    sessions.start(user)
    assert sessions.load(f"{user.id}:{old}") is None and sessions.live_count(user) == 1


def test_a_user_without_a_session_has_no_login_id(ctx):
    import pytest

    user = make_user()
    with pytest.raises(RuntimeError):
        user.get_id()
