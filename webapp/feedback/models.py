from __future__ import annotations

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
