"""The store's catalogue: creating and changing items (admins), and reading money typed in yuan.

Stock is not set here: it changes only through purchases, adjustments and orders (``store``), so that every
change of stock is a movement the reconciliation can add up.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import User
from webapp.db import db
from webapp.errors import DomainError, NotFound
from webapp.photos import pipeline, references, rejections
from webapp.points.models import StockMovement, StoreItem
from webapp.points.store import audit
from webapp.reports.services import PhotoError, register_public_files
from webapp.storage import Storage, content_key, put_in_transaction

NAME_ZH_MAX = 60
NAME_EN_MAX = 120
DESCRIPTION_MAX = 2000
PRICE_RANGE = (1, 1_000_000)  # points
COST_MAX_FEN = 100_000_000  # ¥1,000,000 for one item: far above any household good
LIMIT_MAX = 1000
# What a typed amount may be at most: the money columns are 32-bit integers of fen (¥21,474,836.47), so a larger
# amount would fail in the database (PostgreSQL) instead of being refused with a message.
YUAN_MAX_FEN = 2**31 - 1
YUAN_MAX_TEXT = f"{YUAN_MAX_FEN // 100}.{YUAN_MAX_FEN % 100:02d}"
_YUAN = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,2}))?")


class CatalogueError(DomainError):
    code = "invalid_item"


def parse_yuan(text: str | None, *, field: str = "cost") -> int:
    """Money typed in yuan as exact fen: "3.50" → 350, "12" → 1200. Refuses negatives, text and fractions of a fen."""
    value = (text or "").strip().removeprefix("¥").removeprefix("￥").strip()
    match = _YUAN.fullmatch(value)
    if not match:
        raise CatalogueError(
            _("Please enter an amount in yuan, like 3.50 (no more than 2 decimals, not negative)."), field=field
        )
    fen = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if fen > YUAN_MAX_FEN:
        raise CatalogueError(_("This amount is too large: at most ¥%(max)s.", max=YUAN_MAX_TEXT), field=field)
    return fen


@dataclass
class ItemData:
    """What an admin may set on an item (stock is changed by purchases and adjustments only)."""

    name_zh: str
    points_price: int
    cost_fen: int
    name_en: str = ""
    description: str = ""
    per_person_limit: int = 0
    available_from: date | None = None
    available_until: date | None = None
    home_delivery: bool = True
    active: bool = True


def _whole(value: Any, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def _check(data: ItemData) -> ItemData:
    name_zh = (data.name_zh or "").strip()
    name_en = (data.name_en or "").strip()
    description = (data.description or "").strip()
    if not name_zh:
        raise CatalogueError(_("Please give the item's Chinese name."), field="name_zh")
    if len(name_zh) > NAME_ZH_MAX:
        raise CatalogueError(_("The name is too long: at most %(n)d characters.", n=NAME_ZH_MAX), field="name_zh")
    if len(name_en) > NAME_EN_MAX:
        raise CatalogueError(_("The name is too long: at most %(n)d characters.", n=NAME_EN_MAX), field="name_en")
    if len(description) > DESCRIPTION_MAX:
        raise CatalogueError(
            _("The description is too long: at most %(n)d characters.", n=DESCRIPTION_MAX), field="description"
        )
    if not _whole(data.points_price, *PRICE_RANGE):
        raise CatalogueError(
            _(
                "The price must be a whole number of points from %(low)d to %(high)d.",
                low=PRICE_RANGE[0],
                high=PRICE_RANGE[1],
            ),
            field="points_price",
        )
    if not _whole(data.cost_fen, 0, COST_MAX_FEN):
        raise CatalogueError(_("Please enter what one item costs the fund, in yuan."), field="cost")
    if not _whole(data.per_person_limit, 0, LIMIT_MAX):
        raise CatalogueError(
            _("The limit per person must be from 0 (no limit) to %(n)d.", n=LIMIT_MAX), field="per_person_limit"
        )
    if data.available_from and data.available_until and data.available_until < data.available_from:
        raise CatalogueError(_("The last day must be on or after the first day."), field="available_until")
    return ItemData(
        name_zh=name_zh,
        name_en=name_en,
        description=description,
        points_price=data.points_price,
        cost_fen=data.cost_fen,
        per_person_limit=data.per_person_limit,
        available_from=data.available_from,
        available_until=data.available_until,
        home_delivery=bool(data.home_delivery),
        active=bool(data.active),
    )


def _process_photo(photo: bytes, *, max_bytes: int, max_pixels: int) -> pipeline.ProcessedPhoto:
    try:
        return pipeline.process_photo(photo, max_bytes=max_bytes, max_pixels=max_pixels)
    except pipeline.PhotoRejected as rejected:
        message, status, code = rejections.answer(rejected, rejections.Upload.PHOTO, max_bytes=max_bytes)
        raise PhotoError(message, status=status, code=code) from rejected


def _apply(
    item: StoreItem,
    data: ItemData,
    photo: bytes | None,
    storage: Storage | None,
    max_bytes: int,
    max_pixels: int,
) -> tuple[str, bytes] | None:
    """Check everything, then set the item's fields; returns the photo file to write once the row is flushed."""
    clean = _check(data)
    processed = _process_photo(photo, max_bytes=max_bytes, max_pixels=max_pixels) if photo else None
    if processed is not None and storage is None:
        raise ValueError("a storage is needed to keep the photo")
    for name, value in asdict(clean).items():
        setattr(item, name, value)
    if processed is None:
        return None
    key = content_key(processed.display, ".jpg")
    item.photo_key = key
    return key, processed.display


def is_item_photo(key: str) -> bool:
    """Item photos are public (served by /media/<key> like the reports' public photos)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(StoreItem).where(StoreItem.photo_key == key)) > 0


register_public_files(is_item_photo)


def _snapshot(item: StoreItem) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in ItemData.__dataclass_fields__}
    values["photo_key"] = item.photo_key
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


def create_item(
    admin: User,
    data: ItemData,
    *,
    photo: bytes | None = None,
    storage: Storage | None = None,
    max_photo_bytes: int = 12 * 1024 * 1024,
    max_photo_pixels: int = 50_000_000,
) -> StoreItem:
    """A new item with no stock (goods arrive by ``store.purchase``). Nothing is written unless all is good."""
    item = StoreItem(stock=0)
    file = _apply(item, data, photo, storage, max_photo_bytes, max_photo_pixels)
    db.session.add(item)
    db.session.flush()
    if file is not None and storage is not None:
        put_in_transaction(db.session, storage, file[0], file[1], references.is_referenced)
    audit(admin, "item_created", item=item.id, **_snapshot(item))
    db.session.flush()
    return item


def update_item(
    item: StoreItem,
    admin: User,
    data: ItemData,
    *,
    photo: bytes | None = None,
    storage: Storage | None = None,
    max_photo_bytes: int = 12 * 1024 * 1024,
    max_photo_pixels: int = 50_000_000,
) -> StoreItem:
    """Change an item; the audit log keeps each changed value before and after. Orders already placed keep their
    price and cost (they were copied into the order)."""
    before = _snapshot(item)
    file = _apply(item, data, photo, storage, max_photo_bytes, max_photo_pixels)
    db.session.flush()
    if file is not None and storage is not None:
        put_in_transaction(db.session, storage, file[0], file[1], references.is_referenced)
    after = _snapshot(item)
    changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if changes:
        audit(admin, "item_updated", item=item.id, changes=changes)
        db.session.flush()
    return item


def all_items() -> list[StoreItem]:
    return list(db.session.scalars(sa.select(StoreItem).order_by(StoreItem.active.desc(), StoreItem.id)))


def movements(item: StoreItem, limit: int = 50) -> list[StockMovement]:
    """The item's latest stock movements, newest first."""
    return list(
        db.session.scalars(
            sa.select(StockMovement)
            .where(StockMovement.item_id == item.id)
            .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
            .limit(limit)
        )
    )


def get_item(item_id: int) -> StoreItem:
    item = db.session.get(StoreItem, item_id)
    if item is None:
        raise NotFound(_("This item does not exist."))
    return item
