"""The points store (积分商城): redeeming goods, cancelling, handing over (核销), and the stock (purchases,
adjustments). A redemption never overdraws a balance or oversells the shelf; the same submitted form makes one order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from tests.factories import make_user
from tests.unit.cases import make_department, make_staff
from webapp import localtime
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.errors import Forbidden, NotFound
from webapp.points import awards, ledger, store
from webapp.points.models import (
    AccountKind,
    FundAudit,
    FundCharge,
    LedgerTransaction,
    OrderStatus,
    StockMovement,
    StockMovementKind,
    StoreItem,
    StoreOrder,
    TransactionKind,
)
from webapp.points.store import InsufficientPoints, OutOfStock, StoreError

LOCAL = localtime.zone()


# --- Builders -------------------------------------------------------------------------------------------------


def give(user: User, points: int, *, at: datetime | None = None) -> LedgerTransaction:
    """Points from the fund, as an award would pay them (they expire like earned points)."""
    at = at or utcnow()
    fund = ledger.system_account(AccountKind.FUND)
    transaction, created = ledger.post(
        f"test:grant:{uuid.uuid4()}",
        TransactionKind.AWARD,
        "test_grant",
        [(fund, -points), (ledger.account_for(user), points)],
        expires_on=awards.expiry_for(at),
        at=at,
    )
    assert created
    return transaction


def make_item(
    admin: User | None = None, *, price: int = 10, cost_fen: int = 250, stock: int = 5, **fields: object
) -> StoreItem:
    """An item stocked the real way: created empty, then goods bought with the fund arrive."""
    item = StoreItem(name_zh=fields.pop("name_zh", "洗洁精"), points_price=price, cost_fen=cost_fen, stock=0, **fields)
    db.session.add(item)
    db.session.flush()
    if stock:
        store.purchase(
            item, admin or make_user(Role.ADMIN), quantity=stock, cost_fen=cost_fen * stock, budget_line=None
        )
    return item


def service_staff() -> User:
    department = make_department(name="社区服务站")
    department.service_point = True
    return make_staff(Role.DEPARTMENT, department)


def key() -> str:
    return str(uuid.uuid4())


def stock_of(item: StoreItem) -> int:
    return int(db.session.scalar(sa.select(StoreItem.stock).where(StoreItem.id == item.id)))


def movements_of(item: StoreItem) -> list[tuple[StockMovementKind, int, int | None]]:
    rows = db.session.execute(
        sa.select(StockMovement.kind, StockMovement.quantity, StockMovement.order_id)
        .where(StockMovement.item_id == item.id)
        .order_by(StockMovement.id)
    ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def orders() -> list[StoreOrder]:
    return list(db.session.scalars(sa.select(StoreOrder).order_by(StoreOrder.id)))


def legs(transaction: LedgerTransaction) -> list[tuple[AccountKind, int]]:
    return sorted((entry.account.kind, entry.amount) for entry in transaction.entries)


def assert_consistent(*items: StoreItem) -> None:
    assert ledger.unbalanced_transactions() == []
    for item in items:
        moved = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(StockMovement.quantity), 0)).where(StockMovement.item_id == item.id)
        )
        assert stock_of(item) == moved >= 0


@pytest.fixture
def admin(ctx) -> User:
    return make_user(Role.ADMIN)


@pytest.fixture
def resident(ctx) -> User:
    user = make_user()
    give(user, 100)
    return user


# --- Redeeming ------------------------------------------------------------------------------------------------


def test_redeeming_takes_the_points_and_the_stock_and_records_both(admin, resident):
    item = make_item(admin, price=10, cost_fen=250, stock=5)
    order, created = store.redeem(resident, item, quantity=3, request_key=key())
    assert created
    assert (order.user_id, order.item_id, order.quantity, order.points, order.cost_fen) == (
        resident.id,
        item.id,
        3,
        30,
        750,
    )
    assert order.status is OrderStatus.WAITING and order.delivery_address == ""
    assert len(order.pickup_code) == 8 and order.pickup_code.isdigit()
    assert store.find_by_code(order.pickup_code[:4] + " " + order.pickup_code[4:]) is order
    assert store.find_by_code("123") is None
    assert ledger.balance_of(resident) == 70
    assert item.stock == stock_of(item) == 2
    assert movements_of(item) == [(StockMovementKind.PURCHASE, 5, None), (StockMovementKind.REDEMPTION, -3, order.id)]
    transaction = ledger.find(f"order:{order.id}:redeem")
    assert transaction is not None
    assert (transaction.kind, transaction.reason, transaction.order_id, transaction.created_by_id) == (
        TransactionKind.REDEMPTION,
        "redemption",
        order.id,
        resident.id,
    )
    assert legs(transaction) == sorted([(AccountKind.RESIDENT, -30), (AccountKind.STORE, 30)])
    assert all(entry.expires_on is None for entry in transaction.entries)
    assert store.orders_of(resident) == [order] and store.waiting_orders() == [order]
    assert_consistent(item)


def test_the_whole_balance_can_be_spent_but_not_a_point_more(admin, resident):
    item = make_item(admin, price=25, stock=10)
    store.redeem(resident, item, quantity=4, request_key=key())
    assert ledger.balance_of(resident) == 0
    with pytest.raises(InsufficientPoints) as refused:
        store.redeem(resident, item, quantity=1, request_key=key())
    assert refused.value.code == "insufficient_points" and refused.value.field == "quantity"
    assert ledger.balance_of(resident) == 0 and stock_of(item) == 6 and len(orders()) == 1
    assert_consistent(item)


def test_not_enough_points_changes_nothing(admin):
    poor = make_user()
    give(poor, 9)
    item = make_item(admin, price=10, stock=3)
    with pytest.raises(InsufficientPoints):
        store.redeem(poor, item, quantity=1, request_key=key())
    with pytest.raises(InsufficientPoints):  # nobody without an account gets anything either
        store.redeem(make_user(), item, quantity=1, request_key=key())
    assert ledger.balance_of(poor) == 9 and stock_of(item) == 3 and orders() == []
    assert movements_of(item) == [(StockMovementKind.PURCHASE, 3, None)]


def test_out_of_stock(admin, resident):
    item = make_item(admin, price=1, stock=2)
    with pytest.raises(OutOfStock) as refused:
        store.redeem(resident, item, quantity=3, request_key=key())
    assert refused.value.code == "out_of_stock"
    store.redeem(resident, item, quantity=2, request_key=key())
    with pytest.raises(OutOfStock):
        store.redeem(resident, item, quantity=1, request_key=key())
    assert stock_of(item) == 0 and ledger.balance_of(resident) == 98 and len(orders()) == 1
    assert_consistent(item)


def test_per_person_limit_counts_open_and_handed_over_orders_not_cancelled_ones(admin, resident):
    item = make_item(admin, price=5, stock=10, per_person_limit=2)
    first, _ = store.redeem(resident, item, quantity=1, request_key=key())
    store.redeem(resident, item, quantity=1, request_key=key())
    with pytest.raises(StoreError) as refused:
        store.redeem(resident, item, quantity=1, request_key=key())
    assert str(refused.value.message) == gettext("At most %(n)d per person for this item.", n=2)
    assert refused.value.field == "quantity"
    store.hand_over(first, service_staff())
    with pytest.raises(StoreError):
        store.redeem(resident, item, quantity=1, request_key=key())
    second = orders()[1]
    store.cancel(second, resident)
    store.redeem(resident, item, quantity=1, request_key=key())  # the cancelled one no longer counts
    with pytest.raises(StoreError):
        store.redeem(resident, item, quantity=1, request_key=key())
    other = make_user()
    give(other, 50)
    store.redeem(other, item, quantity=2, request_key=key())  # the limit is per person
    assert_consistent(item)


@pytest.mark.parametrize("quantity", [0, -1, store.MAX_QUANTITY + 1, True, 1.5, "2"])
def test_quantity_must_be_a_whole_number_within_bounds(admin, resident, quantity):
    item = make_item(admin, price=1, stock=20)
    with pytest.raises(StoreError) as refused:
        store.redeem(resident, item, quantity=quantity, request_key=key())
    assert refused.value.field == "quantity"
    assert orders() == [] and stock_of(item) == 20 and ledger.balance_of(resident) == 100


def test_the_largest_quantity_is_allowed(admin, resident):
    item = make_item(admin, price=1, stock=20)
    order, _ = store.redeem(resident, item, quantity=store.MAX_QUANTITY, request_key=key())
    assert order.quantity == store.MAX_QUANTITY and stock_of(item) == 20 - store.MAX_QUANTITY


def test_an_item_outside_its_window_or_inactive_cannot_be_redeemed(admin, resident):
    today = localtime.local_date(utcnow())
    at_noon = datetime(today.year, today.month, today.day, 12, tzinfo=LOCAL)
    later = make_item(admin, price=1, stock=5, available_from=today + timedelta(days=1))
    over = make_item(admin, price=1, stock=5, available_until=today - timedelta(days=1))
    inactive = make_item(admin, price=1, stock=5, active=False)
    for item in (later, over, inactive):
        with pytest.raises(StoreError) as refused:
            store.redeem(resident, item, quantity=1, request_key=key(), at=at_noon)
        assert type(refused.value) is StoreError
    assert store.available_items(today) == []
    assert orders() == [] and ledger.balance_of(resident) == 100

    # The window is counted in local days, both ends included.
    store.redeem(resident, later, quantity=1, request_key=key(), at=at_noon + timedelta(days=1))
    window = make_item(admin, price=1, stock=5, available_from=date(2026, 3, 1), available_until=date(2026, 3, 31))
    first_minute = datetime(2026, 3, 1, 0, 1, tzinfo=LOCAL)  # still 28 February in UTC
    last_minute = datetime(2026, 3, 31, 23, 59, tzinfo=LOCAL)
    store.redeem(resident, window, quantity=1, request_key=key(), at=first_minute)
    store.redeem(resident, window, quantity=1, request_key=key(), at=last_minute)
    with pytest.raises(StoreError):
        store.redeem(resident, window, quantity=1, request_key=key(), at=last_minute + timedelta(minutes=2))
    assert store.is_available(window, date(2026, 3, 15)) and not store.is_available(window, date(2026, 4, 1))
    assert len(orders()) == 3


def test_home_delivery_only_where_the_item_allows_it(admin, resident):
    deliverable = make_item(admin, price=10, stock=5, home_delivery=True)
    collect_only = make_item(admin, price=10, stock=5, home_delivery=False)
    with pytest.raises(StoreError) as refused:
        store.redeem(resident, collect_only, quantity=1, request_key=key(), delivery_address="幸福里3号楼")
    assert refused.value.field == "address"
    with pytest.raises(StoreError) as too_long:
        store.redeem(resident, deliverable, quantity=1, request_key=key(), delivery_address="长" * 201)
    assert too_long.value.field == "address"
    order, _ = store.redeem(resident, deliverable, quantity=1, request_key=key(), delivery_address="  幸福里3号楼  ")
    assert order.delivery_address == "幸福里3号楼"
    collected, _ = store.redeem(resident, collect_only, quantity=1, request_key=key(), delivery_address="   ")
    assert collected.delivery_address == ""
    assert ledger.balance_of(resident) == 80


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.DEPARTMENT, Role.ADMIN])
def test_staff_cannot_redeem(admin, role):
    staff = make_user(role)
    give(staff, 100)
    item = make_item(admin, price=1, stock=5)
    with pytest.raises(StoreError):
        store.redeem(staff, item, quantity=1, request_key=key())
    assert orders() == [] and stock_of(item) == 5 and ledger.balance_of(staff) == 100


def test_volunteers_can_redeem(admin):
    volunteer = make_user(Role.VOLUNTEER)
    give(volunteer, 10)
    order, created = store.redeem(volunteer, make_item(admin, price=10), quantity=1, request_key=key())
    assert created and order.points == 10 and ledger.balance_of(volunteer) == 0


def test_the_same_form_sent_twice_makes_one_order(admin, resident):
    item = make_item(admin, price=10, stock=5)
    form = key()
    order, created = store.redeem(resident, item, quantity=2, request_key=form)
    again, created_again = store.redeem(resident, item, quantity=2, request_key=form)
    assert created and not created_again and again is order
    assert ledger.balance_of(resident) == 80 and stock_of(item) == 3 and orders() == [order]
    # Whatever else the replay says, it is the first order that counts.
    replay, created_replay = store.redeem(resident, item, quantity=5, request_key=form)
    assert replay is order and not created_replay and ledger.balance_of(resident) == 80


def test_someone_else_cannot_use_an_order_form_already_used(admin, resident):
    item = make_item(admin, price=10, stock=5)
    form = key()
    store.redeem(resident, item, quantity=1, request_key=form)
    intruder = make_user()
    give(intruder, 100)
    with pytest.raises(StoreError):
        store.redeem(intruder, item, quantity=1, request_key=form)
    assert len(orders()) == 1 and ledger.balance_of(intruder) == 100 and stock_of(item) == 4


# --- Cancelling -------------------------------------------------------------------------------------------------


def test_cancelling_gives_the_points_and_the_stock_back(admin, resident):
    item = make_item(admin, price=10, stock=5)
    order, _ = store.redeem(resident, item, quantity=3, request_key=key())
    store.cancel(order, resident)
    assert order.status is OrderStatus.CANCELLED and order.cancelled_at is not None
    assert ledger.balance_of(resident) == 100 and stock_of(item) == 5
    assert movements_of(item)[-1] == (StockMovementKind.CANCELLATION, 3, order.id)
    refund = ledger.find(f"order:{order.id}:refund")
    assert refund is not None and refund.kind is TransactionKind.REFUND and refund.order_id == order.id
    assert legs(refund) == sorted([(AccountKind.RESIDENT, 30), (AccountKind.STORE, -30)])
    assert all(entry.expires_on is None for entry in refund.entries)  # refunded points do not expire
    assert ledger.balance(ledger.system_account(AccountKind.STORE)) == 0
    assert store.waiting_orders() == []
    assert_consistent(item)


def test_an_order_is_cancelled_once(admin, resident):
    item = make_item(admin, price=10, stock=5)
    order, _ = store.redeem(resident, item, quantity=1, request_key=key())
    store.cancel(order, resident)
    with pytest.raises(StoreError):
        store.cancel(order, resident)
    # A second request still holding the order as "waiting" is refused by the conditional update.
    other, _ = store.redeem(resident, item, quantity=1, request_key=key())
    db.session.execute(
        sa.update(StoreOrder).where(StoreOrder.id == other.id).values(status=OrderStatus.CANCELLED),
        execution_options={"synchronize_session": False},
    )
    assert other.status is OrderStatus.WAITING
    with pytest.raises(StoreError):
        store.cancel(other, resident)
    db.session.refresh(other)
    assert other.status is OrderStatus.CANCELLED
    assert ledger.balance_of(resident) == 90 and stock_of(item) == 4  # the second order's refund never ran
    assert (
        len(db.session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.order_id == order.id)).all()) == 2
    )


def test_a_handed_over_order_cannot_be_cancelled(admin, resident):
    item = make_item(admin, price=10, stock=5)
    order, _ = store.redeem(resident, item, quantity=1, request_key=key())
    store.hand_over(order, service_staff())
    with pytest.raises(StoreError):
        store.cancel(order, resident)
    assert order.status is OrderStatus.HANDED_OVER and ledger.balance_of(resident) == 90 and stock_of(item) == 4


def test_who_may_cancel(admin, resident):
    item = make_item(admin, price=10, stock=5)
    mine, _ = store.redeem(resident, item, quantity=1, request_key=key())
    for stranger in (make_user(), make_user(Role.REVIEWER), make_staff(Role.DEPARTMENT, make_department())):
        with pytest.raises(NotFound):
            store.cancel(mine, stranger)
    assert mine.status is OrderStatus.WAITING
    store.cancel(mine, service_staff())
    other, _ = store.redeem(resident, item, quantity=1, request_key=key())
    store.cancel(other, admin)
    assert ledger.balance_of(resident) == 100 and stock_of(item) == 5


# --- Handing over (核销) ----------------------------------------------------------------------------------------


def test_handing_over_charges_the_fund_what_the_goods_cost(admin, resident):
    item = make_item(admin, price=10, cost_fen=250, stock=5)
    order, _ = store.redeem(resident, item, quantity=2, request_key=key())
    item.cost_fen = 999  # a later price change does not change what this order costs
    db.session.flush()
    staff = service_staff()
    store.hand_over(order, staff)
    assert order.status is OrderStatus.HANDED_OVER
    assert order.handed_over_by_id == staff.id and order.handed_over_at is not None
    charge = db.session.scalar(sa.select(FundCharge).where(FundCharge.order_id == order.id))
    assert charge is not None and charge.amount_fen == order.cost_fen == 500
    assert ledger.balance_of(resident) == 80 and stock_of(item) == 3  # handing over moves no points, no goods
    with pytest.raises(StoreError) as twice:
        store.hand_over(order, staff)
    assert str(twice.value.message) == gettext("This order was already handed over.")
    assert db.session.scalar(sa.select(sa.func.count(FundCharge.id))) == 1


def test_a_cancelled_order_cannot_be_handed_over(admin, resident):
    item = make_item(admin, price=10, stock=5)
    order, _ = store.redeem(resident, item, quantity=1, request_key=key())
    store.cancel(order, resident)
    with pytest.raises(StoreError) as refused:
        store.hand_over(order, service_staff())
    assert str(refused.value.message) == gettext("This order was cancelled.")
    assert db.session.scalar(sa.select(sa.func.count(FundCharge.id))) == 0


def test_only_service_point_staff_or_an_admin_hand_over(admin, resident):
    item = make_item(admin, price=10, stock=5)
    order, _ = store.redeem(resident, item, quantity=1, request_key=key())
    not_a_service_point = make_staff(Role.DEPARTMENT, make_department())
    for someone in (resident, make_user(Role.VOLUNTEER), make_user(Role.REVIEWER), not_a_service_point):
        assert not store.can_hand_over(someone)
        with pytest.raises(StoreError):
            store.hand_over(order, someone)
    assert order.status is OrderStatus.WAITING
    assert db.session.scalar(sa.select(sa.func.count(FundCharge.id))) == 0
    assert store.can_hand_over(admin)
    store.hand_over(order, admin)
    assert order.status is OrderStatus.HANDED_OVER


# --- Stock: purchases and adjustments -----------------------------------------------------------------------------


def test_a_purchase_puts_goods_on_the_shelf_and_is_audited(admin):
    item = make_item(admin, stock=0)
    movement = store.purchase(item, admin, quantity=40, cost_fen=10_000, budget_line=None, note="首批")
    assert item.stock == stock_of(item) == 40
    assert (movement.kind, movement.quantity, movement.cost_fen, movement.note, movement.created_by_id) == (
        StockMovementKind.PURCHASE,
        40,
        10_000,
        "首批",
        admin.id,
    )
    audit = db.session.scalars(sa.select(FundAudit).where(FundAudit.action == "stock_purchased")).all()
    assert len(audit) == 1 and audit[0].actor_id == admin.id and '"quantity": 40' in audit[0].details_json
    for quantity, cost in ((0, 100), (100_001, 100), (5, -1)):
        with pytest.raises(StoreError):
            store.purchase(item, admin, quantity=quantity, cost_fen=cost, budget_line=None)
    assert stock_of(item) == 40
    assert_consistent(item)


def test_an_adjustment_never_takes_the_stock_below_zero(admin):
    item = make_item(admin, stock=5)
    store.adjust(item, admin, quantity=-2, note="破损")
    assert stock_of(item) == 3
    with pytest.raises(StoreError) as refused:
        store.adjust(item, admin, quantity=-4, note="盘亏")
    assert refused.value.field == "quantity" and stock_of(item) == 3
    store.adjust(item, admin, quantity=-3, note="盘亏")
    assert stock_of(item) == 0
    store.adjust(item, admin, quantity=2, note="盘盈")
    assert item.stock == 2
    for quantity, note in ((0, "无"), (1, "   ")):
        with pytest.raises(StoreError):
            store.adjust(item, admin, quantity=quantity, note=note)
    assert [m[:2] for m in movements_of(item)] == [
        (StockMovementKind.PURCHASE, 5),
        (StockMovementKind.ADJUSTMENT, -2),
        (StockMovementKind.ADJUSTMENT, -3),
        (StockMovementKind.ADJUSTMENT, 2),
    ]
    assert db.session.scalar(sa.select(sa.func.count()).where(FundAudit.action == "stock_adjusted")) == 3
    assert_consistent(item)


def test_the_database_refuses_negative_stock_whatever_the_code_does(admin):
    item = make_item(admin, stock=1)
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.execute(sa.update(StoreItem).where(StoreItem.id == item.id).values(stock=-1))
    assert stock_of(item) == 1


def test_a_supervisor_chooses_the_service_points(admin):
    department = make_department(name="兴华社区服务站")
    staff = make_staff(Role.DEPARTMENT, department)
    assert not store.can_hand_over(staff)
    store.set_service_point(admin, department, True)
    assert store.can_hand_over(staff)
    store.set_service_point(admin, department, True)  # no change, no second audit entry
    actions = db.session.scalars(sa.select(FundAudit.action)).all()
    assert actions.count("service_point_set") == 1
    with pytest.raises(Forbidden):
        store.set_service_point(staff, department, False)
    store.set_service_point(admin, department, False)
    assert not store.can_hand_over(staff)
