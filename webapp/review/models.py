from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import Department, User
from webapp.db import db, utcnow
from webapp.reports.models import Report, Severity, TimeUnit


def _enum(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class RoutingRule(db.Model):
    """Who handles a category (or a whole category group) in a place (a grid, a street, a district, or anywhere).
    The most specific rule wins (review/routing.py); without one, the grid's own owner (属地), then the district's
    fallback department (兜底)."""

    __tablename__ = "routing_rules"
    __table_args__ = (sa.UniqueConstraint("category_code", "group_code", "grid_code", "street_code", "district_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str | None] = mapped_column(sa.ForeignKey("categories.code"))
    group_code: Mapped[str | None] = mapped_column(sa.ForeignKey("category_groups.code"))
    grid_code: Mapped[str | None] = mapped_column(sa.ForeignKey("grids.code"))
    street_code: Mapped[str | None] = mapped_column(sa.String(9))
    district_code: Mapped[str | None] = mapped_column(sa.String(6))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))

    department: Mapped[Department] = relationship()


class TimeLimit(db.Model):
    """A handling time limit for a category at a severity, overriding the category's default."""

    __tablename__ = "time_limits"

    category_code: Mapped[str] = mapped_column(sa.ForeignKey("categories.code"), primary_key=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity), primary_key=True)
    value: Mapped[int]
    unit: Mapped[TimeUnit] = mapped_column(_enum(TimeUnit))


class CalendarDay(db.Model):
    """An exception to the Monday–Friday working week: a public holiday, or a weekend working day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(40), default="")


class ExtensionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class ExtensionRequest(db.Model):
    """延期: a department asks for more time; a reviewer approves or refuses."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    extra_value: Mapped[int]
    extra_unit: Mapped[TimeUnit] = mapped_column(_enum(TimeUnit))
    reason: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[ExtensionStatus] = mapped_column(_enum(ExtensionStatus), default=ExtensionStatus.PENDING)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
