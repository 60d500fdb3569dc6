"""Activities, their sign-ups and check-ins, the audit trail of organisers' changes, and participation
certificates."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.extensions import lazy_gettext as _l


def _enum(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class ActivityKind(enum.StrEnum):
    GARBAGE_SORTING = "garbage_sorting"  # 垃圾分类指导
    LEGAL_AWARENESS = "legal_awareness"  # 普法宣传
    VOLUNTEER_DAY = "volunteer_day"  # 志愿服务日
    TRAFFIC_DUTY = "traffic_duty"  # 文明交通劝导
    LAUNCH_CEREMONY = "launch_ceremony"  # 启动仪式
    OTHER = "other"

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self])


KIND_LABELS = {
    ActivityKind.GARBAGE_SORTING: _l("Garbage-sorting guidance"),
    ActivityKind.LEGAL_AWARENESS: _l("Legal awareness"),
    ActivityKind.VOLUNTEER_DAY: _l("Volunteer service day"),
    ActivityKind.TRAFFIC_DUTY: _l("Civilised-traffic duty"),
    ActivityKind.LAUNCH_CEREMONY: _l("Launch ceremony"),
    ActivityKind.OTHER: _l("Other activity"),
}


class Activity(db.Model):
    __tablename__ = "activities"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.Index("ix_activities_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ActivityKind] = mapped_column(_enum(ActivityKind, 30))
    title: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    address: Mapped[str] = mapped_column(sa.String(200))
    lat: Mapped[float | None] = mapped_column(sa.Double)
    lon: Mapped[float | None] = mapped_column(sa.Double)
    grid_code: Mapped[str | None] = mapped_column(sa.String(15))
    street_code: Mapped[str | None] = mapped_column(sa.String(9), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    signup_opens_at: Mapped[datetime | None]
    signup_closes_at: Mapped[datetime | None]
    min_stay_minutes: Mapped[int | None]  # set: check-out needed, hours count as volunteer hours (志愿时长)
    checkin_radius_m: Mapped[int | None]  # set: the phone must be this close to the pin to check in
    cancelled_at: Mapped[datetime | None]
    organiser_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    organiser: Mapped[User] = relationship()

    @property
    def has_pin(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def length_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class SignupStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITING = "waiting"  # on the waiting list, in order of ``created_at``
    CANCELLED = "cancelled"


class Signup(db.Model):
    __tablename__ = "activity_signups"
    __table_args__ = (sa.UniqueConstraint("activity_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[SignupStatus] = mapped_column(_enum(SignupStatus))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # the place in the waiting list
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminded_at: Mapped[datetime | None]

    activity: Mapped[Activity] = relationship()
    user: Mapped[User] = relationship()


class CheckinMethod(enum.StrEnum):
    QR = "qr"  # the resident scanned the rotating code online
    OFFLINE = "offline"  # the same, stored in the phone's outbox and sent later
    ORGANISER = "organiser"  # the organiser scanned the resident's personal code or typed the phone number


class Checkin(db.Model):
    """One resident at one activity. ``client_id`` is the outbox item's id of an offline scan (a replay finds it)."""

    __tablename__ = "activity_checkins"
    __table_args__ = (sa.UniqueConstraint("activity_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    method: Mapped[CheckinMethod] = mapped_column(_enum(CheckinMethod))
    client_id: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    checked_in_at: Mapped[datetime]
    checked_out_at: Mapped[datetime | None]
    minutes: Mapped[int | None]  # volunteer time, set at check-out
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    activity: Mapped[Activity] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class ActivityEvent(db.Model):
    """Append-only audit of what organisers did to an activity (created, edited with the changed fields,
    cancelled, a resident checked in by the organiser)."""

    __tablename__ = "activity_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(30))
    details_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    actor: Mapped[User | None] = relationship()

    @property
    def details(self) -> dict[str, Any]:
        return json.loads(self.details_json or "{}")


class Certificate(db.Model):
    """A participation certificate (参与证明): the figures are frozen when it is issued; ``/verify/<code>`` shows
    them as stored, so the paper cannot be altered."""

    __tablename__ = "participation_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40), default="")  # as the resident chose it (may be empty)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]  # exclusive
    figures_json: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    verify_count: Mapped[int] = mapped_column(default=0)

    user: Mapped[User] = relationship()

    @property
    def figures(self) -> dict[str, Any]:
        return json.loads(self.figures_json)

    @property
    def valid(self) -> bool:
        return self.revoked_at is None


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _audit_is_append_only(session: sa.orm.Session, flush_context: object, instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, ActivityEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the activity audit trail is append-only")
