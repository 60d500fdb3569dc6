from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import db
from webapp.points.models import Campaign


class CampaignPage(db.Model):
    """Whether a campaign has a public page. No row, or ``published`` false: the public sees nothing of it."""

    __tablename__ = "campaign_pages"

    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    published: Mapped[bool] = mapped_column(default=False, index=True)
    published_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship()
