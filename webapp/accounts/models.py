from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.db import db, utcnow
from webapp.extensions import is_english
from webapp.extensions import lazy_gettext as _l


class Role(enum.StrEnum):
    CITIZEN = "citizen"
    VOLUNTEER = "volunteer"
    REVIEWER = "reviewer"
    DEPARTMENT = "department"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])

    @property
    def is_staff(self) -> bool:
        return self in {Role.REVIEWER, Role.DEPARTMENT, Role.ADMIN}


ROLE_LABELS = {
    Role.CITIZEN: _l("Resident"),
    Role.VOLUNTEER: _l("Volunteer"),
    Role.REVIEWER: _l("Reviewer"),
    Role.DEPARTMENT: _l("Department staff"),
    Role.ADMIN: _l("Supervisor"),
}


class Department(db.Model):
    """A unit that handles cases: a specialised department (环卫所, 路灯所 …) or a street office (属地).

    ``fallback_for_district`` marks the district's catch-all owner (兜底) for places outside every grid and
    categories with no routing rule.
    """

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    district_code: Mapped[str] = mapped_column(sa.String(6), default="")
    fallback_for_district: Mapped[bool] = mapped_column(default=False)
    service_point: Mapped[bool] = mapped_column(default=False)  # a place where store orders are handed over
    organiser: Mapped[bool] = mapped_column(default=False)  # its staff may organise community activities
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def name(self) -> str:
        return (self.name_en or self.name_zh) if is_english() else self.name_zh

    def __repr__(self) -> str:
        return f"<Department {self.code}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(11), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[Role] = mapped_column(
        sa.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Role.CITIZEN,
    )
    display_name: Mapped[str] = mapped_column(sa.String(40), default="")
    show_name_publicly: Mapped[bool] = mapped_column(default=False)
    large_text: Mapped[bool] = mapped_column(default=False)
    notify_by_sms: Mapped[bool] = mapped_column(default=False)  # also send my report updates as text messages
    # Residents: news of my reports only when one is fixed (closed) or refused/merged, not every step.
    notify_only_important: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    phone_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Staff: the department a department user works for, whether they head it, and reviewers on duty (值班).
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    is_department_head: Mapped[bool] = mapped_column(default=False)
    on_duty: Mapped[bool] = mapped_column(default=False)

    department: Mapped[Department | None] = relationship()

    # The token of the session this object was loaded for or logged in with (webapp.accounts.sessions); not stored.
    session_token = None

    def get_id(self) -> str:
        """Flask-Login's id in the session and remember cookies: the user and the session's token, so ending the
        session (a deleted ``UserSession`` row) makes every saved copy of either cookie worthless."""
        if not self.session_token:
            raise RuntimeError("log users in through webapp.accounts.sessions.log_in, which starts a session")
        return f"{self.id}:{self.session_token}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def public_name(self) -> str | None:
        """The name shown on public pages, or None to stay anonymous."""
        return self.display_name if self.show_name_publicly and self.display_name else None

    @property
    def masked_phone(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]}"

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class SmsPurpose(enum.StrEnum):
    REGISTER = "register"
    RESET_PASSWORD = "reset_password"


class PhoneVerification(db.Model):
    """A one-time code sent by SMS; only its hash is stored."""

    __tablename__ = "phone_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(11), index=True)
    purpose: Mapped[SmsPurpose] = mapped_column(
        sa.Enum(SmsPurpose, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    code_hash: Mapped[str] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    consumed_at: Mapped[datetime | None]


class UserSession(db.Model):
    """One logged-in browser or app. Its random token travels in the session (and remember) cookie through
    ``User.get_id``; only a hash is stored. Deleting the row ends the session, whatever cookie anyone kept."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")


class AccountEvent(db.Model):
    """Append-only audit trail of security events on an account: password changed or reset, sessions ended."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
