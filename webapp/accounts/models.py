from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.db import db, utcnow


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
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)
    phone_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

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
