"""The store's catalogue: money typed in yuan read exactly, items checked, photos stored, every change audited."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa

from tests.factories import jpeg_bytes, make_user
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import NotFound
from webapp.points import catalogue, store
from webapp.points.catalogue import CatalogueError, ItemData, parse_yuan
from webapp.points.models import FundAudit, StockMovementKind, StoreItem
from webapp.reports.services import PhotoError


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("3.50", 350),
        ("3.5", 350),
        ("3", 300),
        ("0", 0),
        ("0.01", 1),
        (" 12.30 ", 1230),
        ("¥8", 800),
        ("￥ 8.05", 805),
        ("0003.07", 307),
        ("1000000.99", 100000099),
        ("21474836.47", 2**31 - 1),  # the most a 32-bit money column holds
        ("0.10", 10),  # exact: no float rounding anywhere
        ("19.99", 1999),
    ],
)
def test_parse_yuan_is_exact(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        None,
        "3.505",
        "3.",
        ".5",
        "-1",
        "-0.01",
        "+3",
        "three",
        "3,50",
        "1e3",
        "3.5元",
        "١٢",
        "3 .5",
        "nan",
        "99999999999999",
        "21474836.48",
    ],
)
def test_parse_yuan_refuses_what_is_not_an_amount(text):
    with pytest.raises(CatalogueError) as refused:
        parse_yuan(text, field="amount")
    assert refused.value.field == "amount" and refused.value.status == 422


@pytest.fixture
def admin(ctx):  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


def data(**overrides):  # type: ignore[no-untyped-def]
    values = {
        "name_zh": " 扫帚 ",
        "name_en": "Broom",
        "description": "竹扫帚",
        "points_price": 18,
        "cost_fen": 350,
        "per_person_limit": 2,
        "available_from": date(2026, 6, 1),
        "available_until": date(2026, 6, 30),
        "home_delivery": False,
        "active": True,
    }
    values.update(overrides)
    return ItemData(**values)


def items_and_audits() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(StoreItem)),
        db.session.scalar(sa.select(sa.func.count()).select_from(FundAudit)),
    )


def test_an_item_is_created_without_stock_and_audited(admin):
    item = catalogue.create_item(admin, data())
    assert item.id and item.name_zh == "扫帚" and item.stock == 0 and item.cost_fen == 350
    assert (item.per_person_limit, item.home_delivery, item.active) == (2, False, True)
    assert item.available_from == date(2026, 6, 1) and item.photo_key is None
    audit = db.session.scalar(sa.select(FundAudit))
    details = json.loads(audit.details_json)
    assert audit.action == "item_created" and audit.actor_id == admin.id
    assert details["item"] == item.id and details["cost_fen"] == 350 and details["available_until"] == "2026-06-30"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name_zh": "  "}, "name_zh"),
        ({"name_zh": "长" * 61}, "name_zh"),
        ({"name_en": "x" * 121}, "name_en"),
        ({"description": "x" * 2001}, "description"),
        ({"points_price": 0}, "points_price"),
        ({"points_price": catalogue.PRICE_RANGE[1] + 1}, "points_price"),
        ({"points_price": True}, "points_price"),
        ({"points_price": 1.5}, "points_price"),
        ({"cost_fen": -1}, "cost"),
        ({"cost_fen": catalogue.COST_MAX_FEN + 1}, "cost"),
        ({"per_person_limit": -1}, "per_person_limit"),
        ({"per_person_limit": catalogue.LIMIT_MAX + 1}, "per_person_limit"),
        ({"available_from": date(2026, 7, 1)}, "available_until"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_written(admin, overrides, field):
    before = items_and_audits()
    with pytest.raises(CatalogueError) as refused:
        catalogue.create_item(admin, data(**overrides))
    assert refused.value.field == field
    assert items_and_audits() == before


def test_a_free_item_and_open_dates_are_fine(admin):
    item = catalogue.create_item(admin, data(cost_fen=0, available_from=None, available_until=None, per_person_limit=0))
    assert item.cost_fen == 0 and item.available_from is None


def test_a_photo_is_stored_without_metadata(admin, storage):
    from tests.factories import gps_photo_bytes

    item = catalogue.create_item(admin, data(), photo=gps_photo_bytes(), storage=storage)
    assert item.photo_key and item.photo_key.endswith(".jpg") and storage.exists(item.photo_key)
    stored = storage.open(item.photo_key)
    assert b"Exif" not in stored[:200] and b"ExampleCam" not in stored
    assert json.loads(db.session.scalar(sa.select(FundAudit.details_json)))["photo_key"] == item.photo_key


def test_the_photo_file_goes_away_when_the_transaction_rolls_back(admin, storage):
    item = catalogue.create_item(admin, data(), photo=jpeg_bytes(pattern=3), storage=storage)
    key = item.photo_key
    assert storage.exists(key)
    db.session.rollback()
    assert not storage.exists(key)


@pytest.mark.parametrize(
    ("photo", "status"),
    [(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415), (b"\xff\xd8\xff\xe0 broken", 422), (b"%PDF-1.4", 415)],
)
def test_a_bad_photo_is_refused_and_nothing_is_written(admin, storage, app, photo, status):
    from pathlib import Path

    before = items_and_audits()
    with pytest.raises(PhotoError) as refused:
        catalogue.create_item(admin, data(), photo=photo, storage=storage)
    assert refused.value.status == status
    assert items_and_audits() == before
    assert not [p for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file()]


def test_a_photo_over_the_limit_is_refused(admin, storage):
    with pytest.raises(PhotoError) as refused:
        catalogue.create_item(admin, data(), photo=jpeg_bytes(), storage=storage, max_photo_bytes=1000)
    assert refused.value.status == 413


def test_an_update_audits_what_changed_only(admin, storage):
    item = catalogue.create_item(admin, data())
    catalogue.update_item(item, admin, replace(data(), points_price=25, cost_fen=400, home_delivery=True))
    assert (item.points_price, item.cost_fen, item.home_delivery) == (25, 400, True)
    audit = db.session.scalar(sa.select(FundAudit).order_by(FundAudit.id.desc()))
    assert audit.action == "item_updated"
    assert json.loads(audit.details_json)["changes"] == {
        "points_price": [18, 25],
        "cost_fen": [350, 400],
        "home_delivery": [False, True],
    }
    before = items_and_audits()
    catalogue.update_item(item, admin, replace(data(), points_price=25, cost_fen=400, home_delivery=True))
    assert items_and_audits() == before  # nothing changed, nothing recorded


def test_a_refused_update_leaves_the_item_as_it_was(admin):
    item = catalogue.create_item(admin, data())
    with pytest.raises(CatalogueError):
        catalogue.update_item(item, admin, replace(data(), name_zh="新名字", points_price=0))
    assert item.name_zh == "扫帚" and item.points_price == 18


def test_an_update_never_touches_the_stock(admin):
    item = catalogue.create_item(admin, data())
    store.purchase(item, admin, quantity=5, cost_fen=1750, budget_line=None)
    catalogue.update_item(item, admin, replace(data(), name_zh="大扫帚"))
    assert item.stock == 5 and item.name_zh == "大扫帚"
    assert [m.kind for m in catalogue.movements(item)] == [StockMovementKind.PURCHASE]


def test_lists_and_lookups(admin):
    on_sale = catalogue.create_item(admin, data(name_zh="甲"))
    off = catalogue.create_item(admin, data(name_zh="乙", active=False))
    assert catalogue.all_items() == [on_sale, off]
    assert catalogue.get_item(on_sale.id) is on_sale
    with pytest.raises(NotFound):
        catalogue.get_item(999_999)
