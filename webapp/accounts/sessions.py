"""Logged-in sessions that end when they should.

Flask's session cookie is signed, not stored, so a copy of it would work for as long as the key does. Each login
therefore starts a ``UserSession`` row with a random token; the token travels in the session cookie and in the
remember cookie as part of Flask-Login's user id (``User.get_id`` → ``"<user id>:<token>"``), and the user loader
accepts a cookie only while its row exists. So:

* logging out (``POST /logout``, ``DELETE /api/v1/session``) deletes that session's row: every saved copy of that
  session's cookies stops working, other devices stay logged in;
* a password change or reset deletes all the account's rows (the browser that changed it gets a new session);
* an admin can end all sessions of a staff account (``/admin/staff``), recorded in ``account_events``.

``log_in`` also gives the browser a new CSRF token, so a token seen before the login is worthless after it.
The functions here flush and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request, session
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm import joinedload

from webapp.accounts.models import AccountEvent, Role, User, UserSession
from webapp.db import db, utcnow
from webapp.extensions import lazy_gettext as _l


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, *, user_agent: str = "") -> str:
    """A new session for ``user``; sets ``user.session_token`` and returns the token."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(token), user_agent=(user_agent or "")[:200]))
    # Sessions nobody ended outlive even the remember cookie: forget them now and then.
    lifetime = current_app.config.get("REMEMBER_COOKIE_DURATION", 90 * 86400)
    seconds = lifetime.total_seconds() if isinstance(lifetime, timedelta) else float(lifetime)
    db.session.execute(
        sa.delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.created_at < utcnow() - timedelta(seconds=seconds)
        )
    )
    db.session.flush()
    user.session_token = token
    return token


# Figures every page's layout shows a logged-in user (the unread badge, ...), registered by the packages that own
# them (``load_with_user``): a correlated subquery each, read in the same statement as the user, so a logged-in
# page pays one round trip for all of them.
_WITH_USER: dict[str, Callable[[], sa.ColumnElement[Any]]] = {}


def load_with_user(name: str, column: Callable[[], sa.ColumnElement[Any]]) -> None:
    """Read ``column()`` (an expression correlated to ``User``) with the user of each request; ``loaded_with``
    returns it during that request."""
    _WITH_USER[name] = column


def loaded_with(user: User, name: str) -> Any | None:
    """The figure ``name`` read with ``user`` in this request, or None (not read, or forgotten since)."""
    if not has_request_context():
        return None
    loaded: dict[tuple[int, str], Any] = g.get("_loaded_with_user") or {}
    return loaded.get((user.id, name))


def forget_loaded_with(name: str) -> None:
    """What changes a figure read with the user calls this, so the rest of the request reads it afresh."""
    if has_request_context() and g.get("_loaded_with_user"):
        g._loaded_with_user = {key: value for key, value in g._loaded_with_user.items() if key[1] != name}


@functools.cache
def _load_statement(names: tuple[str, ...]) -> sa.Select[Any]:
    # Built once: building a statement and its cache key on every request cost more CPU than running it.
    return (
        sa.select(User, *(_WITH_USER[name]().label(name) for name in names))
        .join(UserSession, UserSession.user_id == User.id)
        .where(User.id == sa.bindparam("user_id"), UserSession.token_hash == sa.bindparam("token_hash"))
        .options(joinedload(User.department))
    )


def load(session_id: str) -> User | None:
    """The user of a live session from Flask-Login's id ``"<user id>:<token>"``; None for an ended or forged one.

    One statement: the user, their department and the figures registered with ``load_with_user``."""
    user_id, _, token = (session_id or "").partition(":")
    if not user_id.isdigit() or not token or len(token) > 100:
        return None
    names = tuple(_WITH_USER)
    row = db.session.execute(_load_statement(names), {"user_id": int(user_id), "token_hash": _hash(token)}).first()
    if row is None:
        return None
    user = row[0]
    user.session_token = token
    if has_request_context():
        g._loaded_with_user = {(user.id, name): value for name, value in zip(names, row[1:], strict=True)}
    return user


def end(user: User) -> None:
    """End the session ``user`` was loaded for (logout)."""
    if user.session_token:
        db.session.execute(sa.delete(UserSession).where(UserSession.token_hash == _hash(user.session_token)))
        db.session.flush()


def end_all(user: User, *, action: str, actor: User | None = None) -> int:
    """End every session of ``user`` (password changed or reset, or an admin's decision); audited. Returns how
    many sessions were live."""
    ended = db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id)).rowcount or 0
    db.session.add(AccountEvent(user_id=user.id, actor_id=actor.id if actor else None, action=action,
                                detail=f"{ended} session(s) ended"))  # fmt: skip
    db.session.flush()
    return ended


def live_count(user: User) -> int:
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(UserSession).where(UserSession.user_id == user.id))
        or 0
    )


def staff_with_sessions() -> list[tuple[User, int]]:
    """Every staff account with its number of live sessions, for the admin's page."""
    counts = sa.select(UserSession.user_id, sa.func.count().label("live")).group_by(UserSession.user_id).subquery()
    rows = db.session.execute(
        sa.select(User, sa.func.coalesce(counts.c.live, 0))
        .outerjoin(counts, counts.c.user_id == User.id)
        .where(User.role.in_([role for role in Role if role.is_staff]))
        .order_by(User.role, User.id)
    ).all()
    return [(user, int(live)) for user, live in rows]


ACCOUNT_EVENT_LABELS = {
    "password_changed": _l("Password changed; all sessions ended"),
    "password_reset": _l("Password reset by SMS; all sessions ended"),
    "sessions_ended_by_admin": _l("Sessions ended by an admin"),
}


def event_label(action: str) -> str:
    return str(ACCOUNT_EVENT_LABELS.get(action, action))


def recent_events(limit: int = 50) -> list[AccountEvent]:
    return list(db.session.scalars(sa.select(AccountEvent).order_by(AccountEvent.id.desc()).limit(limit)))


# --- In a request: the cookies -----------------------------------------------------------------------------------


def log_in(user: User, *, remember: bool) -> None:
    """Start a session for ``user`` in this browser (the caller commits), with a fresh CSRF token."""
    start(user, user_agent=request.headers.get("User-Agent", ""))
    login_user(user, remember=remember)
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)
    # Make the new token now, so the login response's cookie carries it: the pages a browser then loads at once
    # (the service worker's precache, the next page) share it instead of each making one and overwriting the others'.
    generate_csrf()


SIGNED_CSRF_TOKENS_MAX = 10_000  # per process; then forgotten all at once (each costs one signing again)


def csrf_token() -> str:
    """The CSRF token for a page's forms and htmx requests: Flask-WTF's ``generate_csrf``, with the signed form of
    each session's token kept in the process (the templates' ``csrf_token()``).

    Signing it (a serializer, a key derivation and an HMAC) was about 3 % of a logged-in page. Tokens have no
    time limit here (``WTF_CSRF_TIME_LIMIT = None``), so a token signed earlier is as valid as a new one; it
    changes with the session's token, which a login replaces. With a time limit, every page signs anew."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    raw = session.get(field)
    if raw is None or field in g or current_app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return str(generate_csrf())
    signed_tokens: dict[str, str] = current_app.extensions.setdefault("signed_csrf_tokens", {})
    signed = signed_tokens.get(raw)
    if signed is None:
        signed = str(generate_csrf())
        if len(signed_tokens) >= SIGNED_CSRF_TOKENS_MAX:
            signed_tokens.clear()
        signed_tokens[raw] = signed
    else:
        setattr(g, field, signed)  # what Flask-WTF's forms and generate_csrf use for the rest of the request
    return signed


def log_out(user: User | None) -> None:
    """End this browser's session (the caller commits) and clear its cookies."""
    if user is not None and getattr(user, "is_authenticated", False):
        end(user)
    logout_user()
