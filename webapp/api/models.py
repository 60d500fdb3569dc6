"""Open311 clients: API keys (only a hash is stored) and what each Open311 request brought besides the report.

An API key belongs to one client (an app, a partner's CRM). Creating it also creates the client's service user,
a resident account named after the client that files the client's reports; it can never log in (no usable
password, inactive), so it gets no notifications and earns no points. The key functions below flush and never
commit, like services.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.reports.models import Report

KEY_PREFIX = "cg311"
NAME_MAX = 80
# cg311_<8 hex: lookup prefix>_<64 hex: secret>
_KEY_FORMAT = re.compile(r"^cg311_([0-9a-f]{8})_([0-9a-f]{64})$")


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)  # finds the row; not secret
    key_hash: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the whole key, which is 256 random bits
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    service_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    last_used_at: Mapped[datetime | None]

    service_user: Mapped[User] = relationship(foreign_keys=[service_user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Open311Request(db.Model):
    """What an Open311 POST sent that the report itself does not keep. Private: none of it is ever shown in
    the public API (the reporter's name, e-mail and phone, the device, the client's media URL)."""

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), unique=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), index=True)
    token: Mapped[str] = mapped_column(sa.String(36), unique=True)  # GET tokens/<token> finds the report
    attributes_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    address_id: Mapped[str] = mapped_column(sa.String(200), default="")
    media_url: Mapped[str] = mapped_column(sa.Text, default="")  # never fetched, never shown publicly
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    device_id: Mapped[str] = mapped_column(sa.String(100), default="")
    account_id: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship()
    api_key: Mapped[ApiKey] = relationship()

    @property
    def attributes(self) -> dict[str, Any]:
        return json.loads(self.attributes_json or "{}")


# --- Keys -------------------------------------------------------------------------------------------------------


class ApiKeyError(DomainError):
    """``reason`` (empty, too_long, duplicate, unknown, revoked) lets a page say it in the user's language; the
    message itself is English, for the command line."""

    status = 400
    code = "api_key"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, field="name")
        self.reason = reason


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _service_phone() -> str:
    """A unique value for the service user's phone column that no mainland mobile number can equal."""
    while True:
        phone = f"k{secrets.randbelow(10**10):010d}"
        if db.session.scalar(sa.select(User.id).where(User.phone == phone)) is None:
            return phone


def create_api_key(name: str, *, created_by: User | None = None) -> tuple[ApiKey, str]:
    """A new key for the client ``name`` and its service user; returns the row and the key, shown only now."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("the client name must not be empty", reason="empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ApiKeyError("the client name must not contain control characters", reason="control")
    if len(name) > NAME_MAX:
        raise ApiKeyError(f"the client name is too long: at most {NAME_MAX} characters", reason="too_long")
    if db.session.scalar(sa.select(ApiKey.id).where(sa.func.lower(ApiKey.name) == name.lower())) is not None:
        raise ApiKeyError(
            f"an API key named {name!r} exists already (revoked keys keep their name)", reason="duplicate"
        )
    while True:
        prefix = secrets.token_hex(4)
        if db.session.scalar(sa.select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_hex(32)}"
    user = User(
        phone=_service_phone(),
        # Not a hash of anything: check_password_hash refuses it for every password.
        password_hash="!unusable-" + secrets.token_hex(16),
        role=Role.CITIZEN,
        display_name=name[:40],
        active=False,
    )
    api_key = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), created_by=created_by, service_user=user)
    db.session.add_all([user, api_key])
    db.session.flush()
    return api_key, key


def revoke_api_key(name: str) -> ApiKey:
    api_key = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == (name or "").strip()))
    if api_key is None:
        raise ApiKeyError(f"no API key named {name!r}", reason="unknown")
    return revoke(api_key)


def revoke(api_key: ApiKey) -> ApiKey:
    """Revoke at once: the next POST with it is a 403. Its reports stay."""
    if api_key.revoked_at is not None:
        raise ApiKeyError(
            f"the API key {api_key.name!r} was already revoked on {api_key.revoked_at:%Y-%m-%d}", reason="revoked"
        )
    api_key.revoked_at = utcnow()
    db.session.flush()
    return api_key


def get_api_key(key_id: int) -> ApiKey | None:
    return db.session.get(ApiKey, key_id)


@dataclass(frozen=True)
class KeyRow:
    api_key: ApiKey
    requests: int


def keys_with_counts() -> list[KeyRow]:
    """Every key, active ones first, newest first, with how many requests each client sent."""
    counts = (
        sa.select(Open311Request.api_key_id, sa.func.count().label("n"))
        .group_by(Open311Request.api_key_id)
        .subquery("counts")
    )
    rows = db.session.execute(
        sa.select(ApiKey, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.api_key_id == ApiKey.id)
        .options(selectinload(ApiKey.created_by))
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()
    return [KeyRow(api_key, int(n)) for api_key, n in rows]


def key_prefix(key: str | None) -> str | None:
    """The lookup prefix of a well-formed key (also the rate-limit bucket), else None."""
    match = _KEY_FORMAT.match((key or "").strip())
    return match.group(1) if match else None


def authenticate(key: str | None) -> ApiKey | None:
    """The active key matching ``key``, or None (unknown, malformed or revoked)."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    api_key = db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_key((key or "").strip())):
        return None
    if api_key.revoked_at is not None:
        return None
    return api_key
