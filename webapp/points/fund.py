"""The special fund (专项资金) and the reconciliation (对账) of points, goods and money for any period.

Three identities must hold, and every difference is listed:
  1. points: outstanding at the start + issued − reversed − redeemed (net of refunds) − expired
     = outstanding at the end (the sum of the residents' balances), and every transaction sums to zero;
  2. money: the cost of the goods handed over = what was charged to the fund for them;
  3. goods, per item: stock at the start + purchases − redemptions + cancellations ± adjustments
     = stock at the end (and, for a period ending now, = what is on the shelf).
The totals are also checked order by order against records kept apart from the ledger: each order of the period
took its points once, each cancelled one gave them all back, and each one handed over was charged to the fund at
its cost, so a missing or wrong entry is named, not only seen in a total.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.points import ledger, rules
from webapp.points.models import (
    Account,
    AccountKind,
    BudgetLine,
    FundCharge,
    LedgerEntry,
    LedgerTransaction,
    OrderStatus,
    StockMovement,
    StockMovementKind,
    StoreItem,
    StoreOrder,
    TransactionKind,
)
from webapp.points.store import audit

SOURCES = ("财政专项", "社会捐赠", "村集体收益", "其他")


class FundError(DomainError):
    code = "invalid"


def add_budget_line(admin: User, *, name: str, source: str, amount_fen: int, year: int) -> BudgetLine:
    if not name.strip() or source not in SOURCES:
        raise FundError(_("Please give a name and a source from the list."), field="source")
    if not 0 < amount_fen <= 10**12 or not 2000 <= year <= 2100:
        raise FundError(_("Please enter a positive amount and a year."), field="amount")
    line = BudgetLine(name=name.strip()[:80], source=source, amount_fen=amount_fen, year=year, created_by_id=admin.id)
    db.session.add(line)
    db.session.flush()
    audit(admin, "budget_line_added", line=line.id, name=line.name, source=source, amount_fen=amount_fen, year=year)
    db.session.flush()
    return line


def budget_lines() -> list[BudgetLine]:
    return list(db.session.scalars(sa.select(BudgetLine).order_by(BudgetLine.year.desc(), BudgetLine.id)))


@dataclass
class ItemStock:
    item: StoreItem
    opening: int
    purchased: int
    redeemed: int
    cancelled: int
    adjusted: int
    closing: int
    on_shelf: int | None  # the item's stock now, when the period ends now

    @property
    def expected_closing(self) -> int:
        return self.opening + self.purchased - self.redeemed + self.cancelled + self.adjusted


@dataclass
class Reconciliation:
    start: datetime
    end: datetime
    fen_per_point: int
    outstanding_start: int
    issued: int
    reversed: int
    redeemed: int
    refunded: int
    expired: int
    outstanding_end: int
    handed_over_cost_fen: int
    charged_fen: int
    purchases_fen: int
    budget_fen: int
    items: list[ItemStock] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    @property
    def expected_outstanding_end(self) -> int:
        return self.outstanding_start + self.issued - self.reversed - (self.redeemed - self.refunded) - self.expired

    @property
    def liability_fen(self) -> int:
        return self.outstanding_end * self.fen_per_point

    @property
    def balanced(self) -> bool:
        return not self.mismatches


def _resident_sum(until: datetime) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.kind == AccountKind.RESIDENT, LedgerEntry.created_at < until)
        )
        or 0
    )


def _moved(kind: TransactionKind, start: datetime, end: datetime) -> int:
    """Points a kind of transaction moved into (positive) or out of (negative) resident accounts in the period."""
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(Account, Account.id == LedgerEntry.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                Account.kind == AccountKind.RESIDENT,
                LedgerTransaction.kind == kind,
                LedgerEntry.created_at >= start,
                LedgerEntry.created_at < end,
            )
        )
        or 0
    )


def _stock(item: StoreItem, start: datetime, end: datetime, ends_now: bool) -> ItemStock:
    def total(kinds: tuple[StockMovementKind, ...] | None, since: datetime | None, until: datetime) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.sum(StockMovement.quantity), 0)).where(
            StockMovement.item_id == item.id, StockMovement.created_at < until
        )
        if kinds is not None:
            stmt = stmt.where(StockMovement.kind.in_(kinds))
        if since is not None:
            stmt = stmt.where(StockMovement.created_at >= since)
        return int(db.session.scalar(stmt) or 0)

    # Opening and closing count every movement whatever its kind, so one the kinds below miss shows as a mismatch.
    every = None
    return ItemStock(
        item=item,
        opening=total(every, None, start),
        purchased=total((StockMovementKind.PURCHASE,), start, end),
        redeemed=-total((StockMovementKind.REDEMPTION,), start, end),
        cancelled=total((StockMovementKind.CANCELLATION,), start, end),
        adjusted=total((StockMovementKind.ADJUSTMENT,), start, end),
        closing=total(every, None, end),
        on_shelf=item.stock if ends_now else None,
    )


def reconcile(start: datetime, end: datetime | None = None) -> Reconciliation:
    """The reconciliation report for [start, end); ``end`` defaults to now."""
    now = utcnow()
    end = min(end or now, now)
    if start >= end:
        raise FundError(_("The period must start before it ends."), field="start")
    handed_over = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(StoreOrder.cost_fen), 0),
            sa.func.coalesce(sa.func.sum(FundCharge.amount_fen), 0),
        )
        .select_from(StoreOrder)
        .outerjoin(FundCharge, FundCharge.order_id == StoreOrder.id)
        .where(
            StoreOrder.status == OrderStatus.HANDED_OVER,
            StoreOrder.handed_over_at >= start,
            StoreOrder.handed_over_at < end,
        )
    ).one()
    report = Reconciliation(
        start=start,
        end=end,
        fen_per_point=int(rules.effective(end)["fen_per_point"]),
        outstanding_start=_resident_sum(start),
        issued=_moved(TransactionKind.AWARD, start, end),
        reversed=-_moved(TransactionKind.REVERSAL, start, end),
        redeemed=-_moved(TransactionKind.REDEMPTION, start, end),
        refunded=_moved(TransactionKind.REFUND, start, end),
        expired=-_moved(TransactionKind.EXPIRY, start, end),
        outstanding_end=_resident_sum(end),
        handed_over_cost_fen=int(handed_over[0]),
        charged_fen=int(handed_over[1]),
        purchases_fen=int(
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(StockMovement.cost_fen), 0)).where(
                    StockMovement.kind == StockMovementKind.PURCHASE,
                    StockMovement.created_at >= start,
                    StockMovement.created_at < end,
                )
            )
            or 0
        ),
        budget_fen=int(
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(BudgetLine.amount_fen), 0)).where(
                    BudgetLine.year.between(start.year, end.year)
                )
            )
            or 0
        ),
    )
    ends_now = end >= now - timedelta(seconds=5)
    report.items = [_stock(item, start, end, ends_now) for item in db.session.scalars(sa.select(StoreItem))]
    _check(report)
    return report


def _check(report: Reconciliation) -> None:
    problems = report.mismatches
    for transaction_id, key, total in ledger.unbalanced_transactions():
        problems.append(
            _(
                "Transaction %(id)d (%(key)s) does not balance: its entries add up to %(sum)d.",
                id=transaction_id,
                key=key,
                sum=total,
            )
        )
    if report.expected_outstanding_end != report.outstanding_end:
        problems.append(
            _(
                "Points: %(start)d outstanding + %(issued)d issued − %(reversed)d reversed − %(net)d redeemed − "
                "%(expired)d expired = %(expected)d, but residents hold %(actual)d.",
                start=report.outstanding_start,
                issued=report.issued,
                reversed=report.reversed,
                net=report.redeemed - report.refunded,
                expired=report.expired,
                expected=report.expected_outstanding_end,
                actual=report.outstanding_end,
            )
        )
    negative = db.session.execute(
        sa.select(Account.user_id, sa.func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(Account.kind == AccountKind.RESIDENT)
        .group_by(Account.user_id)
        .having(sa.func.sum(LedgerEntry.amount) < 0)
    ).all()
    for user_id, total in negative:
        problems.append(_("Resident %(user)d has a negative balance: %(total)d.", user=user_id, total=int(total)))
    if report.handed_over_cost_fen != report.charged_fen:
        problems.append(
            _(
                "Goods handed over cost ¥%(cost)s but the fund was charged ¥%(charged)s.",
                cost=yuan(report.handed_over_cost_fen),
                charged=yuan(report.charged_fen),
            )
        )
    problems.extend(_order_problems(report.start, report.end))
    for stock in report.items:
        if stock.expected_closing != stock.closing:
            problems.append(
                _(
                    "%(item)s: the movements do not add up (%(expected)d expected, %(closing)d recorded).",
                    item=stock.item.name_zh,
                    expected=stock.expected_closing,
                    closing=stock.closing,
                )
            )
        if stock.on_shelf is not None and stock.on_shelf != stock.closing:
            problems.append(
                _(
                    "%(item)s: %(shelf)d on the shelf but the movements say %(closing)d.",
                    item=stock.item.name_zh,
                    shelf=stock.on_shelf,
                    closing=stock.closing,
                )
            )


def _resident_points(order_id: sa.ColumnElement[int], kind: TransactionKind) -> sa.ColumnElement[int]:
    """What transactions of ``kind`` for the order moved on resident accounts (a correlated subquery)."""
    return sa.func.coalesce(
        sa.select(sa.func.sum(LedgerEntry.amount))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.order_id == order_id,
            LedgerTransaction.kind == kind,
            Account.kind == AccountKind.RESIDENT,
        )
        .scalar_subquery(),
        0,
    )


def _order_problems(start: datetime, end: datetime) -> list[str]:
    problems: list[str] = []
    taken = -_resident_points(StoreOrder.id, TransactionKind.REDEMPTION)
    for order_id, points, ledger_points in db.session.execute(
        sa.select(StoreOrder.id, StoreOrder.points, taken)
        .where(StoreOrder.created_at >= start, StoreOrder.created_at < end, taken != StoreOrder.points)
        .order_by(StoreOrder.id)
    ):
        problems.append(
            _(
                "Order #%(id)d cost %(points)d points but the ledger took %(taken)d.",
                id=order_id,
                points=points,
                taken=int(ledger_points),
            )
        )
    returned = _resident_points(StoreOrder.id, TransactionKind.REFUND)
    for order_id, points, ledger_points in db.session.execute(
        sa.select(StoreOrder.id, StoreOrder.points, returned)
        .where(
            StoreOrder.status == OrderStatus.CANCELLED,
            StoreOrder.cancelled_at >= start,
            StoreOrder.cancelled_at < end,
            returned != StoreOrder.points,
        )
        .order_by(StoreOrder.id)
    ):
        problems.append(
            _(
                "Order #%(id)d was cancelled but %(returned)d of its %(points)d points went back.",
                id=order_id,
                returned=int(ledger_points),
                points=points,
            )
        )
    charged = sa.func.coalesce(
        sa.select(sa.func.sum(FundCharge.amount_fen)).where(FundCharge.order_id == StoreOrder.id).scalar_subquery(), 0
    )
    for order_id, cost, charge in db.session.execute(
        sa.select(StoreOrder.id, StoreOrder.cost_fen, charged)
        .where(
            StoreOrder.status == OrderStatus.HANDED_OVER,
            StoreOrder.handed_over_at >= start,
            StoreOrder.handed_over_at < end,
            charged != StoreOrder.cost_fen,
        )
        .order_by(StoreOrder.id)
    ):
        problems.append(
            _(
                "Order #%(id)d was handed over at a cost of ¥%(cost)s but the fund was charged ¥%(charged)s for it.",
                id=order_id,
                cost=yuan(cost),
                charged=yuan(int(charge)),
            )
        )
    return problems


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


CSV_HEADER = ["section", "item", "value"]


def csv_rows(report: Reconciliation) -> Iterator[list[object]]:
    """The reconciliation as CSV rows (written by webapp.csvfile)."""
    yield ["period", "start", report.start.isoformat()]
    yield ["period", "end", report.end.isoformat()]
    for name in ("outstanding_start", "issued", "reversed", "redeemed", "refunded", "expired", "outstanding_end"):
        yield ["points", name, getattr(report, name)]
    yield ["points", "expected_outstanding_end", report.expected_outstanding_end]
    yield ["money", "liability_yuan", yuan(report.liability_fen)]
    yield ["money", "handed_over_cost_yuan", yuan(report.handed_over_cost_fen)]
    yield ["money", "charged_to_fund_yuan", yuan(report.charged_fen)]
    yield ["money", "purchases_yuan", yuan(report.purchases_fen)]
    yield ["money", "budget_yuan", yuan(report.budget_fen)]
    for stock in report.items:
        for name in ("opening", "purchased", "redeemed", "cancelled", "adjusted", "closing"):
            yield ["stock", f"{stock.item.name_zh} {name}", getattr(stock, name)]
        if stock.on_shelf is not None:
            yield ["stock", f"{stock.item.name_zh} on_shelf", stock.on_shelf]
    for problem in report.mismatches:
        yield ["mismatch", "", problem]
    yield ["result", "balanced", "yes" if report.balanced else "no"]
