"""Is a content-hash key still used? One check that knows every column holding a photo key.

Files are content-addressed (``storage.content_key``), so one file can be shared by a report photo, a store item
and a feedback screenshot. Before a file is removed (after a rolled-back upload) this check asks every table,
on a fresh connection, because another transaction may have committed a row using the same file meanwhile.
A new table that stores photo keys adds its columns to ``KEY_COLUMNS``.
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.db import db
from webapp.feedback.models import PlatformFeedback
from webapp.points.models import StoreItem
from webapp.reports.models import ReportPhoto

KEY_COLUMNS: tuple[sa.orm.InstrumentedAttribute[str] | sa.orm.InstrumentedAttribute[str | None], ...] = (
    ReportPhoto.display_key,
    ReportPhoto.thumb_key,
    StoreItem.photo_key,
    PlatformFeedback.screenshot_key,
    PlatformFeedback.screenshot_thumb_key,
)


def is_referenced(key: str) -> bool:
    """Whether any row (committed, seen on a fresh connection) still uses the file under ``key``."""
    uses = sa.union_all(*(sa.select(sa.literal(1)).where(column == key) for column in KEY_COLUMNS)).subquery()
    with db.engine.connect() as connection:
        return connection.scalar(sa.select(sa.exists().select_from(uses))) is True
