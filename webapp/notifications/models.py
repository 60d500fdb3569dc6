from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.reports.models import Report


class Notification(db.Model):
    """One message to one person. The text is made when it is shown, in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    report_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    params_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    urgent: Mapped[bool] = mapped_column(default=False)  # emergencies: a red banner until acknowledged
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    read_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
    report: Mapped[Report | None] = relationship()

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json or "{}")
