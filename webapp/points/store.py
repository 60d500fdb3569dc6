"""The points store (积分商城): redeeming household goods, pickup codes, handing over (核销), cancelling,
and the store's stock (purchases with the fund, adjustments).

A redemption cannot overdraw a balance or oversell stock, also with many requests at once: it first locks the
resident's account (so one person's orders queue up) and then takes the stock with a conditional UPDATE (so the
last item goes to exactly one order). One submitted form makes at most one order (``request_key``).
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Department, Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError, Forbidden, NotFound
from webapp.localtime import local_date
from webapp.points import ledger
from webapp.points.models import (
    AccountKind,
    BudgetLine,
    FundAudit,
    FundCharge,
    OrderStatus,
    StockMovement,
    StockMovementKind,
    StoreItem,
    StoreOrder,
    TransactionKind,
)

MAX_QUANTITY = 10
ADDRESS_MAX = 200


class StoreError(DomainError):
    code = "invalid"


class OutOfStock(StoreError):
    code = "out_of_stock"


class InsufficientPoints(StoreError):
    code = "insufficient_points"


def available_items(today: date | None = None) -> list[StoreItem]:
    today = today or local_date(utcnow())
    return list(
        db.session.scalars(
            sa.select(StoreItem)
            .where(
                StoreItem.active.is_(True),
                sa.or_(StoreItem.available_from.is_(None), StoreItem.available_from <= today),
                sa.or_(StoreItem.available_until.is_(None), StoreItem.available_until >= today),
            )
            .order_by(StoreItem.points_price, StoreItem.id)
        )
    )


def is_available(item: StoreItem, today: date) -> bool:
    return (
        item.active
        and (item.available_from is None or item.available_from <= today)
        and (item.available_until is None or item.available_until >= today)
    )


def ordered_quantity(user: User, item: StoreItem) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(StoreOrder.quantity), 0)).where(
                StoreOrder.user_id == user.id,
                StoreOrder.item_id == item.id,
                StoreOrder.status != OrderStatus.CANCELLED,
            )
        )
        or 0
    )


def _pickup_code() -> str:
    """8 digits, easy to read out at a counter; unique among all orders."""
    while True:
        code = f"{secrets.randbelow(10**8):08d}"
        if db.session.scalar(sa.select(StoreOrder.id).where(StoreOrder.pickup_code == code)) is None:
            return code


def redeem(
    user: User,
    item: StoreItem,
    *,
    quantity: int,
    request_key: str,
    delivery_address: str = "",
    at: datetime | None = None,
) -> tuple[StoreOrder, bool]:
    """Exchange points for goods. Returns ``(order, created)``; the same ``request_key`` returns the same order."""
    at = at or utcnow()
    existing = db.session.scalar(sa.select(StoreOrder).where(StoreOrder.request_key == request_key))
    if existing is not None:
        if existing.user_id != user.id:
            raise StoreError(_("This order form was already used. Please reload the page."))
        return existing, False
    if user.role.is_staff:
        raise StoreError(_("Only residents and volunteers can redeem points."))
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise StoreError(_("Please choose a quantity from 1 to %(n)d.", n=MAX_QUANTITY), field="quantity")
    delivery_address = delivery_address.strip()
    if len(delivery_address) > ADDRESS_MAX:
        raise StoreError(_("The address is too long: at most %(n)d characters.", n=ADDRESS_MAX), field="address")
    if delivery_address and not item.home_delivery:
        raise StoreError(_("This item cannot be delivered; please collect it."), field="address")
    if not is_available(item, local_date(at)):
        raise StoreError(_("This item is not available now."))

    account = ledger.lock_resident(user)  # one redemption per person at a time, across processes
    # The same form sent twice at once: the second request waited for the first one's lock; now it sees its order.
    existing = db.session.scalar(sa.select(StoreOrder).where(StoreOrder.request_key == request_key))
    if existing is not None:
        if existing.user_id != user.id:
            raise StoreError(_("This order form was already used. Please reload the page."))
        return existing, False
    if item.per_person_limit and ordered_quantity(user, item) + quantity > item.per_person_limit:
        raise StoreError(_("At most %(n)d per person for this item.", n=item.per_person_limit), field="quantity")
    points = item.points_price * quantity
    if ledger.balance(account) < points:
        raise InsufficientPoints(_("You do not have enough points for this."), field="quantity")
    taken = db.session.execute(
        sa.update(StoreItem)
        .where(StoreItem.id == item.id, StoreItem.stock >= quantity)
        .values(stock=StoreItem.stock - quantity)
    )
    if taken.rowcount != 1:
        raise OutOfStock(_("Sorry, this item has just run out."))
    order = StoreOrder(
        user_id=user.id,
        item_id=item.id,
        quantity=quantity,
        points=points,
        cost_fen=item.cost_fen * quantity,
        pickup_code=_pickup_code(),
        request_key=request_key,
        delivery_address=delivery_address,
        created_at=at,
    )
    try:
        # Someone else's request with the same key (they hold another account's lock) may have just written it.
        with db.session.begin_nested():
            db.session.add(order)
            db.session.flush()
    except sa.exc.IntegrityError:
        if db.session.scalar(sa.select(StoreOrder.id).where(StoreOrder.request_key == request_key)) is None:
            raise
        raise StoreError(_("This order form was already used. Please reload the page.")) from None
    db.session.add(
        StockMovement(
            item_id=item.id,
            kind=StockMovementKind.REDEMPTION,
            quantity=-quantity,
            order_id=order.id,
            created_by_id=user.id,
            created_at=at,
        )
    )
    ledger.post(
        f"order:{order.id}:redeem",
        TransactionKind.REDEMPTION,
        "redemption",
        [(account, -points), (ledger.system_account(AccountKind.STORE), points)],
        memo=item.name_zh,
        order_id=order.id,
        actor=user,
        at=at,
    )
    db.session.flush()
    db.session.refresh(item)
    return order, True


def cancel(order: StoreOrder, actor: User) -> None:
    """Cancel an order not yet handed over: the points and the stock go back."""
    if actor.id != order.user_id and actor.role is not Role.ADMIN and not is_service_point_staff(actor):
        raise NotFound(_("This order does not exist."))
    if order.status is not OrderStatus.WAITING:
        raise StoreError(_("Only an order that has not been handed over can be cancelled."))
    updated = db.session.execute(
        sa.update(StoreOrder)
        .where(StoreOrder.id == order.id, StoreOrder.status == OrderStatus.WAITING)
        .values(status=OrderStatus.CANCELLED, cancelled_at=utcnow())
    )
    if updated.rowcount != 1:  # handed over or cancelled at the same moment elsewhere
        raise StoreError(_("Only an order that has not been handed over can be cancelled."))
    db.session.execute(
        sa.update(StoreItem).where(StoreItem.id == order.item_id).values(stock=StoreItem.stock + order.quantity)
    )
    db.session.add(
        StockMovement(
            item_id=order.item_id,
            kind=StockMovementKind.CANCELLATION,
            quantity=order.quantity,
            order_id=order.id,
            created_by_id=actor.id,
        )
    )
    ledger.post(
        f"order:{order.id}:refund",
        TransactionKind.REFUND,
        "order_cancelled",
        [(ledger.system_account(AccountKind.STORE), -order.points), (ledger.account_for(order.user), order.points)],
        memo=order.item.name_zh,
        order_id=order.id,
        actor=actor,
    )
    db.session.flush()
    db.session.refresh(order)


def is_service_point_staff(user: User) -> bool:
    return user.role is Role.DEPARTMENT and user.department is not None and user.department.service_point


def can_hand_over(user: User) -> bool:
    return user.role is Role.ADMIN or is_service_point_staff(user)


def set_service_point(admin: User, department: Department, service_point: bool) -> None:
    """Make a department a service point (its staff hand over store orders there), or stop it being one."""
    if admin.role is not Role.ADMIN:
        raise Forbidden(_("Only supervisors can choose the service points."))
    if department.service_point == service_point:
        return
    department.service_point = service_point
    audit(admin, "service_point_set", department=department.code, service_point=service_point)
    db.session.flush()


def find_by_code(code: str) -> StoreOrder | None:
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 8:
        return None
    return db.session.scalar(sa.select(StoreOrder).where(StoreOrder.pickup_code == code))


def hand_over(order: StoreOrder, staff: User) -> None:
    """核销: the goods leave the service point; the fund pays the item's cost."""
    if not can_hand_over(staff):
        raise StoreError(_("Only service-point staff can hand over orders."))
    updated = db.session.execute(
        sa.update(StoreOrder)
        .where(StoreOrder.id == order.id, StoreOrder.status == OrderStatus.WAITING)
        .values(status=OrderStatus.HANDED_OVER, handed_over_at=utcnow(), handed_over_by_id=staff.id)
    )
    if updated.rowcount != 1:
        db.session.refresh(order)
        if order.status is OrderStatus.HANDED_OVER:
            raise StoreError(_("This order was already handed over."))
        raise StoreError(_("This order was cancelled."))
    db.session.add(FundCharge(order_id=order.id, amount_fen=order.cost_fen))
    db.session.flush()
    db.session.refresh(order)


def orders_of(user: User) -> list[StoreOrder]:
    return list(
        db.session.scalars(
            sa.select(StoreOrder).where(StoreOrder.user_id == user.id).order_by(StoreOrder.created_at.desc())
        )
    )


def waiting_orders(limit: int = 200) -> list[StoreOrder]:
    return list(
        db.session.scalars(
            sa.select(StoreOrder)
            .where(StoreOrder.status == OrderStatus.WAITING)
            .order_by(StoreOrder.created_at)
            .limit(limit)
        )
    )


# --- Stock and the fund (admins) --------------------------------------------------------------------------------


def audit(admin: User, action: str, **details: object) -> None:
    db.session.add(
        FundAudit(actor_id=admin.id, action=action, details_json=json.dumps(details, default=str, ensure_ascii=False))
    )


def purchase(
    item: StoreItem, admin: User, *, quantity: int, cost_fen: int, budget_line: BudgetLine | None, note: str = ""
) -> StockMovement:
    """Goods bought with the fund arrive on the shelf."""
    if not 1 <= quantity <= 100_000:
        raise StoreError(_("Please enter a quantity from 1 to 100000."), field="quantity")
    if not 0 <= cost_fen <= 10**10:
        raise StoreError(_("Please enter what the goods cost."), field="cost")
    db.session.execute(sa.update(StoreItem).where(StoreItem.id == item.id).values(stock=StoreItem.stock + quantity))
    movement = StockMovement(
        item_id=item.id,
        kind=StockMovementKind.PURCHASE,
        quantity=quantity,
        cost_fen=cost_fen,
        budget_line_id=budget_line.id if budget_line else None,
        note=note[:200],
        created_by_id=admin.id,
    )
    db.session.add(movement)
    audit(
        admin,
        "stock_purchased",
        item=item.id,
        quantity=quantity,
        cost_fen=cost_fen,
        budget_line=budget_line.id if budget_line else None,
    )
    db.session.flush()
    db.session.refresh(item)
    return movement


def adjust(item: StoreItem, admin: User, *, quantity: int, note: str) -> StockMovement:
    """A counted stock that differs (breakage, loss): recorded with a reason, never below zero."""
    if quantity == 0 or not note.strip():
        raise StoreError(_("Please give the difference and the reason."), field="note")
    changed = db.session.execute(
        sa.update(StoreItem)
        .where(StoreItem.id == item.id, StoreItem.stock + quantity >= 0)
        .values(stock=StoreItem.stock + quantity)
    )
    if changed.rowcount != 1:
        raise StoreError(_("Stock cannot go below zero."), field="quantity")
    movement = StockMovement(
        item_id=item.id,
        kind=StockMovementKind.ADJUSTMENT,
        quantity=quantity,
        note=note.strip()[:200],
        created_by_id=admin.id,
    )
    db.session.add(movement)
    audit(admin, "stock_adjusted", item=item.id, quantity=quantity, note=note.strip())
    db.session.flush()
    db.session.refresh(item)
    return movement
