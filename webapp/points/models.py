"""Points are money: a double-entry ledger, versioned rules, the points store, households and the special fund."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.extensions import is_english


def _enum(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


# --- Ledger ---------------------------------------------------------------------------------------------------


class AccountKind(enum.StrEnum):
    RESIDENT = "resident"  # one per person: their points
    FUND = "fund"  # the special fund issues points (its balance is minus everything issued, net)
    STORE = "store"  # points spent in the store
    EXPIRY = "expiry"  # points that expired


class Account(db.Model):
    """A ledger account. Balances are never stored: they are the sum of the account's entries."""

    __tablename__ = "points_accounts"
    __table_args__ = (sa.UniqueConstraint("kind", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Bumped by every redemption: the first write of the transaction, so two redemptions of one person queue up.
    lock_version: Mapped[int] = mapped_column(default=0)

    user: Mapped[User | None] = relationship()


class TransactionKind(enum.StrEnum):
    AWARD = "award"
    REVERSAL = "reversal"
    REDEMPTION = "redemption"
    REFUND = "refund"
    EXPIRY = "expiry"


class LedgerTransaction(db.Model):
    """One balanced movement of points. ``business_key`` is unique, so a replayed event cannot pay twice."""

    __tablename__ = "points_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    kind: Mapped[TransactionKind] = mapped_column(_enum(TransactionKind))
    reason: Mapped[str] = mapped_column(sa.String(40))  # e.g. report_accepted, volunteer_result, rating
    memo: Mapped[str] = mapped_column(sa.String(300), default="")
    rule_version: Mapped[int | None]
    report_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store_orders.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", cascade="all")


class LedgerEntry(db.Model):
    __tablename__ = "points_entries"
    __table_args__ = (sa.Index("ix_points_entries_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("points_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("points_accounts.id"))
    amount: Mapped[int]  # whole points; positive adds to the account
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Points expire at the end of the year after the one they were earned in (credits to residents only).
    expires_on: Mapped[date | None]

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship()


# --- Rules and campaigns ----------------------------------------------------------------------------------------


class PointsRules(db.Model):
    """One version of the points rules. Versions are never edited: a change is a new version from a date on."""

    __tablename__ = "points_rules"

    version: Mapped[int] = mapped_column(primary_key=True)
    effective_from: Mapped[datetime]
    settings_json: Mapped[str] = mapped_column(sa.Text)
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_json)


class Campaign(db.Model):
    """专项整治: a focus on some categories in some places for a while, with a points multiplier and its own cap."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category_codes: Mapped[str] = mapped_column(sa.Text, default="")  # space-separated 5-digit codes
    place_prefixes: Mapped[str] = mapped_column(sa.Text, default="")  # grid code prefixes; empty: everywhere
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    multiplier: Mapped[int] = mapped_column(default=2)
    budget_points: Mapped[int] = mapped_column(default=0)  # the most bonus points it may give; 0: no bonus
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def categories(self) -> list[str]:
        return self.category_codes.split()

    @property
    def places(self) -> list[str]:
        return self.place_prefixes.split()


# --- Store ------------------------------------------------------------------------------------------------------


class StoreItem(db.Model):
    """A household good in the points store (积分商城). ``stock`` is what is on the shelf now."""

    __tablename__ = "store_items"
    __table_args__ = (sa.CheckConstraint("stock >= 0", name="stock_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    points_price: Mapped[int]
    cost_fen: Mapped[int]  # what one costs the fund, in fen (分)
    stock: Mapped[int] = mapped_column(default=0)
    per_person_limit: Mapped[int] = mapped_column(default=0)  # 0: no limit
    photo_key: Mapped[str | None] = mapped_column(sa.String(100))
    available_from: Mapped[date | None]
    available_until: Mapped[date | None]
    home_delivery: Mapped[bool] = mapped_column(default=True)  # 送奖上门 for older residents
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def name(self) -> str:
        return (self.name_en or self.name_zh) if is_english() else self.name_zh


class OrderStatus(enum.StrEnum):
    WAITING = "waiting"  # 待核销: to collect (or to deliver)
    HANDED_OVER = "handed_over"  # 已核销
    CANCELLED = "cancelled"  # 已取消: points and stock went back


class StoreOrder(db.Model):
    __tablename__ = "store_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("store_items.id"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)
    points: Mapped[int]
    cost_fen: Mapped[int]  # the item's cost when ordered, times the quantity
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus), default=OrderStatus.WAITING)
    pickup_code: Mapped[str] = mapped_column(sa.String(10), unique=True)
    request_key: Mapped[str] = mapped_column(sa.String(64), unique=True)  # one order per submitted form
    delivery_address: Mapped[str] = mapped_column(sa.String(200), default="")  # set: deliver to the home
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    handed_over_at: Mapped[datetime | None]
    handed_over_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    item: Mapped[StoreItem] = relationship()


class StockMovementKind(enum.StrEnum):
    PURCHASE = "purchase"  # bought with the fund
    REDEMPTION = "redemption"  # taken by an order
    CANCELLATION = "cancellation"  # an order cancelled: back on the shelf
    ADJUSTMENT = "adjustment"  # counted stock differs (breakage, loss): with a reason


class StockMovement(db.Model):
    """Every change of an item's stock, so opening + purchases − redemptions = closing can be checked."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("store_items.id"), index=True)
    kind: Mapped[StockMovementKind] = mapped_column(_enum(StockMovementKind))
    quantity: Mapped[int]  # positive adds to the shelf
    cost_fen: Mapped[int] = mapped_column(default=0)  # purchases: what the fund paid in all
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store_orders.id"))
    budget_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("budget_lines.id"))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    item: Mapped[StoreItem] = relationship()


# --- The special fund -------------------------------------------------------------------------------------------


class BudgetLine(db.Model):
    """Money for the scheme (专项资金): amount and source, e.g. 财政专项, 社会捐赠, 村集体收益."""

    __tablename__ = "budget_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    source: Mapped[str] = mapped_column(sa.String(40))
    amount_fen: Mapped[int]
    year: Mapped[int]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FundCharge(db.Model):
    """What the fund paid for an item handed over (at the item's cost)."""

    __tablename__ = "fund_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("store_orders.id"), unique=True)
    amount_fen: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FundAudit(db.Model):
    """Append-only record of every admin action on the fund, the store and the rules."""

    __tablename__ = "fund_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(40))
    details_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


# --- Households -------------------------------------------------------------------------------------------------


class Household(db.Model):
    """A family (家庭) that collects points together for the honour rolls."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    invite_code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    show_publicly: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HouseholdMember(db.Model):
    __tablename__ = "household_members"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
    household: Mapped[Household] = relationship()


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _ledger_is_append_only(session: sa.orm.Session, flush_context: object, instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, LedgerEntry | LedgerTransaction | FundAudit) and (
            obj in session.deleted or session.is_modified(obj)
        ):
            raise RuntimeError("the points ledger is append-only")
