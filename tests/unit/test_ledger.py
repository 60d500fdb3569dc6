"""The points ledger: append-only, double-entry and idempotent, whatever sequence of events reaches it.

The property-based tests drive the real services (awards, redemptions, cancellations, hand-overs, reversals,
expiry) with random sequences and compare the outcome with a small model kept in plain Python: each balance is
what the model says, no balance goes below zero, no shelf below zero, every transaction sums to zero, the whole
ledger sums to zero, replaying any business key changes nothing, and the reconciliation of the whole run balances.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_user
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.points import awards, fund, ledger, store
from webapp.points.ledger import UnbalancedTransaction
from webapp.points.models import (
    Account,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    OrderStatus,
    StoreItem,
    StoreOrder,
    TransactionKind,
)

# Hypothesis examples share one test's database (the function-scoped ``ctx``): each example empties it first.
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def wipe() -> None:
    db.session.flush()
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in {"category_groups", "categories"}:
            db.session.execute(table.delete())
    db.session.expunge_all()


def grant(user: User, points: int, *, key: str | None = None, at: datetime | None = None) -> LedgerTransaction:
    """Points from the fund, as an award pays them."""
    at = at or utcnow()
    transaction, _created = ledger.post(
        key or f"test:grant:{uuid.uuid4()}",
        TransactionKind.AWARD,
        "test_grant",
        [(ledger.system_account(AccountKind.FUND), -points), (ledger.account_for(user), points)],
        expires_on=awards.expiry_for(at),
        at=at,
    )
    return transaction


def make_item(admin: User, *, price: int, stock: int, cost_fen: int = 300) -> StoreItem:
    item = StoreItem(name_zh=f"大米{price}", points_price=price, cost_fen=cost_fen, stock=0)
    db.session.add(item)
    db.session.flush()
    if stock:
        store.purchase(item, admin, quantity=stock, cost_fen=cost_fen * stock, budget_line=None)
    return item


def ledger_total() -> int:
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))) or 0)


def transaction_count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) or 0)


def stock_of(item_id: int) -> int:
    return int(db.session.scalar(sa.select(StoreItem.stock).where(StoreItem.id == item_id)))


# --- Posting ----------------------------------------------------------------------------------------------------


def test_a_transaction_is_written_once_under_its_business_key(ctx):
    user = make_user()
    first = grant(user, 10, key="award:report:1:reporter")
    again = grant(user, 10, key="award:report:1:reporter")
    also_different_amount = grant(user, 99, key="award:report:1:reporter")
    assert first.id == again.id == also_different_amount.id
    assert transaction_count() == 1 and ledger.balance_of(user) == 10
    assert sorted(e.amount for e in first.entries) == [-10, 10]


def test_post_says_whether_it_wrote(ctx):
    user = make_user()
    legs = [(ledger.system_account(AccountKind.FUND), -3), (ledger.account_for(user), 3)]
    _t, created = ledger.post("k:1", TransactionKind.AWARD, "x", legs)
    _t, created_again = ledger.post("k:1", TransactionKind.AWARD, "x", legs)
    assert (created, created_again) == (True, False)


@pytest.mark.parametrize(
    "amounts",
    [
        [5, -4],  # does not sum to zero
        [5],  # one leg
        [],  # nothing
        [0, 0],  # zero legs
        [2.5, -2.5],  # fractional points
        [True, -1],  # a boolean is not a number of points
        [-3, 1, 1],  # still one short
    ],
    ids=["unbalanced", "one-leg", "empty", "zero", "fractional", "bool", "three-legs-short"],
)
def test_unbalanced_zero_or_fractional_legs_are_refused_and_nothing_is_written(ctx, amounts):
    user = make_user()
    accounts = [
        ledger.system_account(AccountKind.FUND),
        ledger.account_for(user),
        ledger.system_account(AccountKind.STORE),
    ]
    legs = [(accounts[i], amount) for i, amount in enumerate(amounts)]
    with pytest.raises(UnbalancedTransaction):
        ledger.post("bad:1", TransactionKind.AWARD, "x", legs)
    assert transaction_count() == 0 and ledger_total() == 0


def test_a_three_legged_transaction_that_balances_is_fine(ctx):
    first, second = make_user(), make_user()
    fund_account = ledger.system_account(AccountKind.FUND)
    ledger.post(
        "split:1",
        TransactionKind.AWARD,
        "x",
        [(fund_account, -9), (ledger.account_for(first), 4), (ledger.account_for(second), 5)],
    )
    assert (ledger.balance_of(first), ledger.balance_of(second), ledger.balance(fund_account)) == (4, 5, -9)


def test_only_resident_credits_carry_an_expiry_date(ctx):
    user = make_user()
    grant(user, 8, at=datetime(2026, 3, 1, tzinfo=UTC))
    rows = db.session.execute(sa.select(Account.kind, LedgerEntry.amount, LedgerEntry.expires_on).join(Account)).all()
    dates = {(kind, amount): expires for kind, amount, expires in rows}
    assert dates[(AccountKind.RESIDENT, 8)].isoformat() == "2027-12-31"
    assert dates[(AccountKind.FUND, -8)] is None


def test_the_ledger_is_append_only(ctx):
    user = make_user()
    transaction = grant(user, 10)
    db.session.flush()
    transaction.entries[0].amount = 1000
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    transaction = grant(make_user(), 10)
    db.session.flush()
    db.session.delete(transaction.entries[0])
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()


def test_accounts_are_made_once(ctx):
    user = make_user()
    assert ledger.account_for(user).id == ledger.account_for(user).id
    ledger.ensure_system_accounts()
    ledger.ensure_system_accounts()
    kinds = db.session.scalars(sa.select(Account.kind).where(Account.user_id.is_(None))).all()
    assert sorted(kinds) == sorted(ledger.SYSTEM_KINDS)


def test_balances_are_sums_of_entries_and_can_be_read_at_a_moment(ctx):
    user = make_user()
    assert ledger.balance_of(user) == 0  # no account yet: nothing made just to read
    assert db.session.scalar(sa.select(Account.id).where(Account.user_id == user.id)) is None
    day = datetime(2026, 5, 1, tzinfo=UTC)
    grant(user, 10, at=day)
    grant(user, 5, at=day + timedelta(days=2))
    account = ledger.account_for(user)
    assert ledger.balance(account, until=day) == 0
    assert ledger.balance(account, until=day + timedelta(days=1)) == 10
    assert ledger.balance(account) == ledger.balance_of(user) == 15


def test_history_is_newest_first_with_what_each_did_to_the_balance(ctx):
    user, admin = make_user(), make_user(Role.ADMIN)
    grant(user, 30, at=utcnow() - timedelta(days=1))
    item = make_item(admin, price=12, stock=2)
    order, _ = store.redeem(user, item, quantity=1, request_key=str(uuid.uuid4()))
    store.cancel(order, user)
    history = ledger.history(user)
    assert [(movement.kind, movement.amount) for movement in history] == [
        (TransactionKind.REFUND, 12),
        (TransactionKind.REDEMPTION, -12),
        (TransactionKind.AWARD, 30),
    ]
    assert sum(movement.amount for movement in history) == ledger.balance_of(user) == 30


def test_unbalanced_transactions_are_found(ctx):
    user = make_user()
    transaction = grant(user, 10)
    assert ledger.unbalanced_transactions() == []
    # Written behind the ORM's back (as a faulty import or hand edit would): the check must see it.
    db.session.execute(
        sa.insert(LedgerEntry).values(
            transaction_id=transaction.id, account_id=ledger.account_for(user).id, amount=3, created_at=utcnow()
        )
    )
    assert ledger.unbalanced_transactions() == [(transaction.id, transaction.business_key, 3)]


# --- Random sequences against a model ---------------------------------------------------------------------------

PEOPLE = 3
PRICES = (7, 13)

operation = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, PEOPLE - 1), st.integers(1, 40)),
    st.tuples(st.just("redeem"), st.integers(0, PEOPLE - 1), st.integers(0, len(PRICES) - 1), st.integers(1, 3)),
    st.tuples(st.just("resubmit"), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("hand_over"), st.integers(0, 20)),
    st.tuples(st.just("replay"), st.integers(0, 40)),
    st.tuples(st.just("reverse"), st.integers(0, 40)),
)


@PROPERTY
@given(operations=st.lists(operation, min_size=1, max_size=25), stocks=st.tuples(st.integers(0, 4), st.integers(0, 4)))
def test_any_sequence_of_events_keeps_the_ledger_sound(ctx, operations, stocks):
    wipe()
    start = utcnow() - timedelta(seconds=1)
    admin = make_user(Role.ADMIN)
    staff = admin  # an admin may hand over as well as service-point staff
    people = [make_user() for _ in range(PEOPLE)]
    items = [make_item(admin, price=price, stock=stock) for price, stock in zip(PRICES, stocks, strict=True)]
    balances = [0] * PEOPLE
    shelf = list(stocks)
    grants: list[tuple[int, str, int]] = []  # (person, key, points) of every grant, for replays and reversals
    reversed_keys: set[str] = set()
    orders: list[tuple[int, str]] = []  # (order id, request key)
    state: dict[int, OrderStatus] = {}

    for op in operations:
        kind = op[0]
        if kind == "earn":
            _k, who, points = op
            key = f"award:test:{len(grants)}"
            grant(people[who], points, key=key)
            grants.append((who, key, points))
            balances[who] += points
        elif kind == "redeem":
            _k, who, which, quantity = op
            item = items[which]
            cost = PRICES[which] * quantity
            request_key = str(uuid.uuid4())
            if balances[who] < cost:
                with pytest.raises(store.InsufficientPoints):
                    store.redeem(people[who], item, quantity=quantity, request_key=request_key)
            elif shelf[which] < quantity:
                with pytest.raises(store.OutOfStock):
                    store.redeem(people[who], item, quantity=quantity, request_key=request_key)
            else:
                order, created = store.redeem(people[who], item, quantity=quantity, request_key=request_key)
                assert created
                balances[who] -= cost
                shelf[which] -= quantity
                orders.append((order.id, request_key))
                state[order.id] = OrderStatus.WAITING
        elif kind == "resubmit" and orders:
            order_id, request_key = orders[op[1] % len(orders)]
            order = db.session.get(StoreOrder, order_id)
            again, created = store.redeem(order.user, order.item, quantity=order.quantity, request_key=request_key)
            assert (again.id, created) == (order_id, False)
        elif kind in ("cancel", "hand_over") and orders:
            order_id, _key = orders[op[1] % len(orders)]
            order = db.session.get(StoreOrder, order_id)
            if state[order_id] is not OrderStatus.WAITING:
                with pytest.raises(store.StoreError):
                    (store.cancel(order, admin) if kind == "cancel" else store.hand_over(order, staff))
                continue
            if kind == "cancel":
                store.cancel(order, admin)
                balances[[p.id for p in people].index(order.user_id)] += order.points
                shelf[items.index(order.item)] += order.quantity
                state[order_id] = OrderStatus.CANCELLED
            else:
                store.hand_over(order, staff)
                state[order_id] = OrderStatus.HANDED_OVER
        elif kind == "replay" and grants:
            who, key, points = grants[op[1] % len(grants)]
            before = transaction_count()
            assert grant(people[who], points, key=key).business_key == key
            assert transaction_count() == before
        elif kind == "reverse" and grants:
            # What awards.reverse_report does for one award: take back at most what is left, once.
            who, key, points = grants[op[1] % len(grants)]
            account = ledger.account_for(people[who])
            ledger.lock(account)
            amount = min(points, max(ledger.balance(account), 0))
            if key in reversed_keys or amount == 0:
                continue
            ledger.post(
                f"reversal:{key}",
                TransactionKind.REVERSAL,
                "false_report",
                [(account, -amount), (ledger.system_account(AccountKind.FUND), amount)],
            )
            reversed_keys.add(key)
            balances[who] -= amount

        assert [ledger.balance_of(person) for person in people] == balances
        assert [stock_of(item.id) for item in items] == shelf

    assert min(balances) >= 0 and min(shelf) >= 0
    assert ledger.unbalanced_transactions() == []
    assert ledger_total() == 0
    keys = db.session.scalars(sa.select(LedgerTransaction.business_key)).all()
    assert len(keys) == len(set(keys))
    # The store's account holds exactly the points of the orders not cancelled.
    kept = sum(db.session.get(StoreOrder, i).points for i, s in state.items() if s is not OrderStatus.CANCELLED)
    assert ledger.balance(ledger.system_account(AccountKind.STORE)) == kept
    report = fund.reconcile(start)
    assert report.mismatches == [], report.mismatches
    assert report.outstanding_end == sum(balances)


@PROPERTY
@given(amounts=st.lists(st.integers(1, 500), min_size=1, max_size=8), offsets=st.lists(st.integers(0, 400)))
def test_a_balance_at_any_moment_is_the_sum_of_what_came_before(ctx, amounts, offsets):
    wipe()
    user = make_user()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    moments = [base + timedelta(days=(offsets[i] if i < len(offsets) else i)) for i in range(len(amounts))]
    for amount, moment in zip(amounts, moments, strict=True):
        grant(user, amount, at=moment)
    account = ledger.account_for(user)
    for probe in sorted(set(moments)):
        assert ledger.balance(account, until=probe) == sum(
            a for a, m in zip(amounts, moments, strict=True) if m < probe
        )
    assert ledger.balance(ledger.system_account(AccountKind.FUND)) == -sum(amounts)
