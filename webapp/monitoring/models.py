from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import db, utcnow


class ErrorEvent(db.Model):
    """One server error (a 5xx response or an unhandled exception) or a failed SMS send.

    Kept in the database rather than only in memory so that every worker process of a deployment (gunicorn
    workers, several machines) counts into the same place; see ``webapp.monitoring.recorder``.
    """

    __tablename__ = "error_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # http_5xx / exception / sms_failed
    status: Mapped[int | None]
    path: Mapped[str] = mapped_column(sa.String(200), default="")
    detail: Mapped[str] = mapped_column(sa.String(200), default="")  # exception class, SMS recipient masked, ...
