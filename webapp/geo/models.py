from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import Department
from webapp.db import db, utcnow


class Grid(db.Model):
    """A unit grid (单元网格): a polygon of about 10,000 m² with a 15-character code.

    The code is 6-digit county (GB/T 2260) + 3-digit street (GB/T 10114) + 3-digit community + 3-digit sequence;
    the names of the levels are kept for display and filters. ``department`` is the owner on the ground (属地).
    """

    __tablename__ = "grids"
    __table_args__ = (sa.Index("ix_grids_bbox", "min_lat", "max_lat", "min_lon", "max_lon"),)

    code: Mapped[str] = mapped_column(sa.String(15), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    district_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    district_name: Mapped[str] = mapped_column(sa.String(40), default="")
    street_code: Mapped[str] = mapped_column(sa.String(9), index=True)  # district + street: 9 digits
    street_name: Mapped[str] = mapped_column(sa.String(40), default="")
    community_code: Mapped[str] = mapped_column(sa.String(12), index=True)  # district + street + community
    community_name: Mapped[str] = mapped_column(sa.String(40), default="")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    geometry: Mapped[str] = mapped_column(sa.Text)  # GeoJSON Polygon or MultiPolygon, WGS84
    min_lat: Mapped[float] = mapped_column(sa.Double)
    max_lat: Mapped[float] = mapped_column(sa.Double)
    min_lon: Mapped[float] = mapped_column(sa.Double)
    max_lon: Mapped[float] = mapped_column(sa.Double)
    area_m2: Mapped[float] = mapped_column(sa.Double, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department | None] = relationship()

    @property
    def label(self) -> str:
        return Grid.label_of(self.street_name, self.community_name, self.name, self.code)

    @staticmethod
    def label_of(street_name: str, community_name: str, name: str, code: str) -> str:
        """The label of a grid read as plain columns (lists that load no Grid objects)."""
        return " ".join(part for part in (street_name, community_name, name or code) if part)
