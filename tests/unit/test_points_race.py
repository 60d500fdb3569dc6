"""Redemptions at the same moment on PostgreSQL: the last items go to exactly as many people as there are items.

Every contender runs in its own thread with its own app context, so its own session and its own connection (the
engine here has a pool as large as the crowd, so all of them really are in the database at once). A barrier lets
them all go at the same instant. ``store.redeem`` locks the resident's account row, then takes the stock with a
conditional UPDATE, which on PostgreSQL waits for the row lock of whoever took it before and re-checks the stock.

SQLite is skipped: it lets one writer in at a time for the whole database, and a transaction that has read cannot
start writing after another one committed ("database is locked"), so there is no row-level race to prove there.
The single-connection behaviour (one order per submitted form, out of stock, not enough points) is covered on
SQLite too by test_store.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import gettext

from tests.factories import make_user
from webapp import create_app, jobs
from webapp.accounts.models import Role, User
from webapp.config import TestConfig
from webapp.db import db, utcnow
from webapp.points import awards, fund, ledger, store
from webapp.points.models import (
    Account,
    AccountKind,
    LedgerEntry,
    StockMovement,
    StoreItem,
    StoreOrder,
    TransactionKind,
)

CROWD = 50
LAST_ITEMS = 5
PRICE = 20
THREAD_TIMEOUT_S = 60

pytestmark = [pytest.mark.postgres_only, pytest.mark.commits]  # concurrent connections


@dataclass
class Outcome:
    user_id: int
    order_id: int | None = None
    created: bool | None = None
    error: BaseException | None = None

    @property
    def message(self) -> str:
        return str(getattr(self.error, "message", self.error) or "")


@pytest.fixture
def crowd_app(app: Flask) -> Iterator[Flask]:
    """The same app and database, with a connection pool big enough for every contender at once."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip(
            "PostgreSQL only (set TEST_DATABASE_URL): SQLite admits one writer at a time for the whole database, so "
            "there is no row-level race to prove; test_store.py covers the same rules on one connection."
        )
    settings = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    settings.update(
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        UPLOAD_DIR=app.config["UPLOAD_DIR"],
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CROWD, "max_overflow": 5, "pool_timeout": THREAD_TIMEOUT_S},
    )
    crowd = create_app(settings)
    yield crowd
    with crowd.app_context():
        db.session.remove()
        db.engine.dispose()
    jobs.init_app(app)  # create_app pointed the background jobs at the crowd app: give them back to the test app


def _stocked_item(stock: int, *, price: int = PRICE) -> int:
    admin = make_user(Role.ADMIN)
    item = StoreItem(name_zh="洗衣粉", points_price=price, cost_fen=890, stock=0)
    db.session.add(item)
    db.session.flush()
    store.purchase(item, admin, quantity=stock, cost_fen=890 * stock, budget_line=None)
    return item.id


def _resident_with(points: int) -> int:
    user = make_user()
    ledger.post(
        f"test:grant:{uuid.uuid4()}",
        TransactionKind.AWARD,
        "test_grant",
        [(ledger.system_account(AccountKind.FUND), -points), (ledger.account_for(user), points)],
        expires_on=awards.expiry_for(utcnow()),
    )
    return user.id


def _redeem_thread(
    app: Flask, barrier: threading.Barrier, outcome: Outcome, item_id: int, request_key: str, quantity: int = 1
) -> None:
    try:
        with app.app_context():
            try:
                barrier.wait(timeout=THREAD_TIMEOUT_S)  # before any query: nobody holds a connection while waiting
                user = db.session.get(User, outcome.user_id)
                item = db.session.get(StoreItem, item_id)
                assert user is not None and item is not None
                order, created = store.redeem(user, item, quantity=quantity, request_key=request_key)
                db.session.commit()
                outcome.order_id, outcome.created = order.id, created
            except BaseException as error:  # recorded and checked by the test
                db.session.rollback()
                outcome.error = error
            finally:
                db.session.remove()
    except BaseException as error:
        outcome.error = outcome.error or error


def _race(app: Flask, contenders: list[tuple[Outcome, str]], item_id: int) -> list[Outcome]:
    barrier = threading.Barrier(len(contenders))
    threads = [
        threading.Thread(target=_redeem_thread, args=(app, barrier, outcome, item_id, key), name=f"redeem-{i}")
        for i, (outcome, key) in enumerate(contenders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a redemption thread is stuck (lock wait?)"
    return [outcome for outcome, _key in contenders]


def _summary(outcomes: list[Outcome]) -> list[tuple[int, str]]:
    return [(o.user_id, type(o.error).__name__ if o.error else "ok") for o in outcomes]


def _assert_books_balance() -> None:
    """Every transaction and the whole ledger sum to zero; no resident below zero; shelves match their movements."""
    assert ledger.unbalanced_transactions() == []
    assert db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))) == 0
    negative = db.session.execute(
        sa.select(Account.user_id, sa.func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(Account.kind == AccountKind.RESIDENT)
        .group_by(Account.user_id)
        .having(sa.func.sum(LedgerEntry.amount) < 0)
    ).all()
    assert negative == []
    for item_id, stock in db.session.execute(sa.select(StoreItem.id, StoreItem.stock)):
        moved = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(StockMovement.quantity), 0)).where(StockMovement.item_id == item_id)
        )
        assert stock == moved >= 0


def test_fifty_residents_race_for_the_last_five_items(app: Flask, crowd_app: Flask) -> None:
    with app.app_context():
        item_id = _stocked_item(LAST_ITEMS)
        residents = [_resident_with(PRICE) for _ in range(CROWD)]  # just enough points for one each
        db.session.commit()
        sold_out = gettext("Sorry, this item has just run out.")
        db.session.remove()
    start = utcnow()

    outcomes = _race(crowd_app, [(Outcome(user_id), str(uuid.uuid4())) for user_id in residents], item_id)

    winners = [o for o in outcomes if o.error is None]
    losers = [o for o in outcomes if o.error is not None]
    assert len(winners) == LAST_ITEMS, _summary(outcomes)
    assert all(o.created for o in winners)
    # Every loser was told the item ran out: no database error, no "not enough points", no deadlock.
    assert all(isinstance(o.error, store.OutOfStock) for o in losers), _summary(losers)
    assert {o.message for o in losers} == {sold_out}

    with app.app_context():
        assert db.session.get(StoreItem, item_id).stock == 0
        orders = db.session.scalars(sa.select(StoreOrder)).all()
        assert len(orders) == LAST_ITEMS
        assert sorted(order.user_id for order in orders) == sorted(o.user_id for o in winners)
        assert len({order.pickup_code for order in orders}) == LAST_ITEMS
        balances = {user_id: ledger.balance_of(db.session.get(User, user_id)) for user_id in residents}
        assert all(balances[o.user_id] == 0 for o in winners)
        assert all(balances[o.user_id] == PRICE for o in losers)  # nothing taken from those who lost
        assert ledger.balance(ledger.system_account(AccountKind.STORE)) == PRICE * LAST_ITEMS
        _assert_books_balance()
        assert fund.reconcile(start).mismatches == []
        db.session.remove()


def test_one_resident_clicking_many_times_cannot_overdraw(app: Flask, crowd_app: Flask) -> None:
    """Ten residents, each with points for one item, each send four different orders at once (plenty of stock)."""
    with app.app_context():
        item_id = _stocked_item(100)
        residents = [_resident_with(PRICE) for _ in range(10)]
        db.session.commit()
        db.session.remove()

    contenders = [(Outcome(user_id), str(uuid.uuid4())) for user_id in residents for _ in range(4)]
    outcomes = _race(crowd_app, contenders, item_id)

    for user_id in residents:
        mine = [o for o in outcomes if o.user_id == user_id]
        assert sum(o.error is None for o in mine) == 1, _summary(mine)
        assert all(isinstance(o.error, store.InsufficientPoints) for o in mine if o.error is not None)
    with app.app_context():
        assert db.session.get(StoreItem, item_id).stock == 100 - len(residents)
        assert all(ledger.balance_of(db.session.get(User, user_id)) == 0 for user_id in residents)
        _assert_books_balance()
        db.session.remove()


def test_a_double_submitted_redemption_makes_one_order(app: Flask, crowd_app: Flask) -> None:
    """The same form (one request key) sent five times at once: one order, and every answer names it."""
    with app.app_context():
        item_id = _stocked_item(10)
        resident = _resident_with(PRICE * 10)
        db.session.commit()
        db.session.remove()

    request_key = str(uuid.uuid4())
    outcomes = _race(crowd_app, [(Outcome(resident), request_key) for _ in range(5)], item_id)

    assert all(o.error is None for o in outcomes), _summary(outcomes)
    assert len({o.order_id for o in outcomes}) == 1
    assert sorted(bool(o.created) for o in outcomes) == [False, False, False, False, True]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StoreOrder)) == 1
        assert db.session.get(StoreItem, item_id).stock == 9
        assert ledger.balance_of(db.session.get(User, resident)) == PRICE * 9
        _assert_books_balance()
        db.session.remove()
