"""Feedback: ratings of handled cases (回访) and feedback on the platform (意见反馈), in separate tables."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.reports.models import Report


class Rating(db.Model):
    """A resident's rating of how their report was handled (1–5 stars), given after it was closed."""

    __tablename__ = "ratings"
    __table_args__ = (
        sa.UniqueConstraint("report_id", "user_id"),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    stars: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    reopened: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship()
    user: Mapped[User] = relationship()


# --- Feedback on the platform (意见反馈) ---------------------------------------------------------------------
# Kept apart from the ratings above: a rating is about one case, this is about the app and its rules.


def _enum(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class FeedbackKind(enum.StrEnum):
    SUGGESTION = "suggestion"
    APP_PROBLEM = "app_problem"
    RULES = "rules"
    OTHER = "other"


class FeedbackStatus(enum.StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ADOPTED = "adopted"
    DECLINED = "declined"
    REPLIED = "replied"


class ReplyChannel(enum.StrEnum):
    APP = "app"  # a notification in the app (logged-in residents)
    SMS = "sms"  # a text message to the number given
    NONE = "none"  # no reply wanted


class PlatformFeedback(db.Model):
    """One piece of feedback on the platform, from a resident with or without an account."""

    __tablename__ = "platform_feedback"
    __table_args__ = (sa.Index("ix_platform_feedback_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Made when the form is shown: a second tap on "Send" (or a retried request) finds the first item.
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    # The private status link of someone without an account. Kept readable (not hashed) because a replayed
    # submission must show the same link again; it is random (secrets.token_urlsafe), not derived from the id.
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[FeedbackKind] = mapped_column(_enum(FeedbackKind))
    text: Mapped[str] = mapped_column(sa.Text)
    # An optional screenshot: EXIF-free copies made by the photo pipeline, under content-hash storage keys.
    screenshot_key: Mapped[str | None] = mapped_column(sa.String(100))
    screenshot_thumb_key: Mapped[str | None] = mapped_column(sa.String(100))
    reply_via: Mapped[ReplyChannel] = mapped_column(_enum(ReplyChannel))
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # only when the reply goes by SMS
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[FeedbackStatus] = mapped_column(_enum(FeedbackStatus), default=FeedbackStatus.NEW)
    reply: Mapped[str] = mapped_column(sa.Text, default="")  # the latest reply, as the resident sees it
    replied_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()
    events: Mapped[list[PlatformFeedbackEvent]] = relationship(
        back_populates="feedback", order_by="PlatformFeedbackEvent.id", cascade="all, delete-orphan"
    )

    @property
    def reference(self) -> str:
        """The number a resident can quote (e.g. on the phone); it opens nothing by itself."""
        return f"YJ{self.id:06d}"


class PlatformFeedbackEvent(db.Model):
    """Append-only audit of the triage: who moved the feedback from which status to which, and what they wrote."""

    __tablename__ = "platform_feedback_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(sa.ForeignKey("platform_feedback.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(20))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    feedback: Mapped[PlatformFeedback] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
