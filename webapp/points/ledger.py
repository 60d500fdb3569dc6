"""The points ledger: append-only, double-entry, idempotent.

Every movement of points is one ``LedgerTransaction`` whose entries sum to zero, under a unique business key
(``award:report:12:reporter``, ``order:7:redeem`` …): posting the same key again returns the transaction already
there instead of paying twice. Balances are sums of entries; nothing stores them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.points.models import Account, AccountKind, LedgerEntry, LedgerTransaction, TransactionKind


class UnbalancedTransaction(ValueError):
    """A programming error: the legs of a transaction must add up to zero."""


def account_for(user: User) -> Account:
    """The resident's points account, made the first time it is needed."""
    account = db.session.scalar(
        sa.select(Account).where(Account.kind == AccountKind.RESIDENT, Account.user_id == user.id)
    )
    if account is None:
        account = _create_account(AccountKind.RESIDENT, user.id)
    return account


SYSTEM_KINDS = (AccountKind.FUND, AccountKind.STORE, AccountKind.EXPIRY)


def ensure_system_accounts() -> None:
    """The fund, store and expiry accounts, made once by ``flask upgrade`` (a unique constraint cannot stop two
    of them appearing at once, because their user is NULL)."""
    for kind in SYSTEM_KINDS:
        if db.session.scalar(sa.select(Account.id).where(Account.kind == kind, Account.user_id.is_(None))) is None:
            db.session.add(Account(kind=kind, user_id=None))
    db.session.flush()


def system_account(kind: AccountKind) -> Account:
    account = db.session.scalar(
        sa.select(Account).where(Account.kind == kind, Account.user_id.is_(None)).order_by(Account.id).limit(1)
    )
    if account is None:
        ensure_system_accounts()
        return system_account(kind)
    return account


def _create_account(kind: AccountKind, user_id: int | None) -> Account:
    """Create an account; if another request created it at the same moment, use theirs."""
    try:
        with db.session.begin_nested():
            account = Account(kind=kind, user_id=user_id)
            db.session.add(account)
            db.session.flush()
    except sa.exc.IntegrityError:
        condition = Account.user_id == user_id if user_id is not None else Account.user_id.is_(None)
        account = db.session.scalar(sa.select(Account).where(Account.kind == kind, condition))
        assert account is not None
    return account


def find(business_key: str) -> LedgerTransaction | None:
    return db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.business_key == business_key))


def post(
    business_key: str,
    kind: TransactionKind,
    reason: str,
    legs: Sequence[tuple[Account, int]],
    *,
    memo: str = "",
    rule_version: int | None = None,
    report_id: int | None = None,
    order_id: int | None = None,
    campaign_id: int | None = None,
    actor: User | None = None,
    expires_on: date | None = None,
    at: datetime | None = None,
) -> tuple[LedgerTransaction, bool]:
    """Write a balanced transaction once. Returns ``(transaction, created)``.

    ``expires_on`` marks the credits to resident accounts (points earned expire; points refunded do not).
    """
    if not legs or any(isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 for _a, amount in legs):
        raise UnbalancedTransaction(f"{business_key}: every leg needs a non-zero whole amount")
    if sum(amount for _account, amount in legs) != 0:
        raise UnbalancedTransaction(f"{business_key}: legs add up to {sum(a for _x, a in legs)}, not 0")
    existing = find(business_key)
    if existing is not None:
        return existing, False
    now = at or utcnow()
    transaction = LedgerTransaction(
        business_key=business_key,
        kind=kind,
        reason=reason,
        memo=memo[:300],
        rule_version=rule_version,
        report_id=report_id,
        order_id=order_id,
        campaign_id=campaign_id,
        created_by_id=actor.id if actor is not None else None,
        created_at=now,
    )
    for account, amount in legs:
        credit_expires = expires_on if account.kind is AccountKind.RESIDENT and amount > 0 else None
        transaction.entries.append(
            LedgerEntry(account_id=account.id, amount=amount, created_at=now, expires_on=credit_expires)
        )
    try:
        # The unique business key settles a race between two requests paying the same thing.
        with db.session.begin_nested():
            db.session.add(transaction)
            db.session.flush()
    except sa.exc.IntegrityError:
        existing = find(business_key)
        if existing is None:
            raise
        return existing, False
    return transaction, True


def balance_stmt(account_id: Any) -> sa.Select[tuple[int]]:
    return sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == account_id)


def balance(account: Account, *, until: datetime | None = None) -> int:
    stmt = balance_stmt(account.id)
    if until is not None:
        stmt = stmt.where(LedgerEntry.created_at < until)
    return int(db.session.scalar(stmt) or 0)


def balance_of(user: User) -> int:
    """The resident's balance (0 without an account), in one statement."""
    resident = sa.select(Account.id).where(Account.kind == AccountKind.RESIDENT, Account.user_id == user.id)
    return int(db.session.scalar(balance_stmt(resident.scalar_subquery())) or 0)


class Movement(NamedTuple):
    """One line of a resident's history: a transaction and what it did to their balance. Plain values, not the
    transaction: the points page shows up to a hundred and loading each as a model cost more than its query."""

    id: int
    created_at: datetime
    kind: TransactionKind
    reason: str
    memo: str
    report_id: int | None
    amount: int


def history(user: User, limit: int = 100) -> list[Movement]:
    """The resident's transactions, newest first, with what each did to their balance."""
    return [Movement._make(row) for row in db.session.execute(history_statement(limit), {"user_id": user.id})]


@functools.cache
def history_statement(limit: int) -> sa.Select[Any]:
    # Built once per limit (the points page reads it on every visit; building a statement costs CPU too).
    # Its columns are Movement's, in its order.
    return (
        sa.select(
            LedgerTransaction.id,
            LedgerTransaction.created_at,
            LedgerTransaction.kind,
            LedgerTransaction.reason,
            LedgerTransaction.memo,
            LedgerTransaction.report_id,
            LedgerEntry.amount,
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(Account.kind == AccountKind.RESIDENT, Account.user_id == sa.bindparam("user_id"))
        .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id.desc())
        .limit(limit)
    )


def lock(account: Account) -> None:
    """Serialise the writers of one account.

    On PostgreSQL the UPDATE holds the row until commit; on SQLite it takes the database's write lock. Either way
    a second writer of the same account waits and then sees the first one's effect on the balance.
    """
    db.session.execute(sa.update(Account).where(Account.id == account.id).values(lock_version=Account.lock_version + 1))


def lock_resident(user: User) -> Account:
    """Lock the resident's account before reading its balance (the first write of a redemption's transaction)."""
    locked = db.session.execute(
        sa.update(Account)
        .where(Account.kind == AccountKind.RESIDENT, Account.user_id == user.id)
        .values(lock_version=Account.lock_version + 1)
    )
    account = account_for(user)
    if locked.rowcount != 1:  # the account has just been made
        lock(account)
    return account


def unbalanced_transactions() -> list[tuple[int, str, int]]:
    """Transactions whose entries do not sum to zero (there should be none): (id, key, sum)."""
    rows = db.session.execute(
        sa.select(LedgerTransaction.id, LedgerTransaction.business_key, sa.func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.business_key)
        .having(sa.func.sum(LedgerEntry.amount) != 0)
    ).all()
    return [(row[0], row[1], int(row[2])) for row in rows]


class NotEnoughPoints(DomainError):
    code = "insufficient_points"
