"""Awarding points for valid participation, reversing them, and expiring them.

Each award is one ledger transaction from the fund to the resident under a business key that names what it pays
for, so replaying the event that triggered it (a retried request, a second click) pays nothing more. Rejected
reports earn nothing: only opened cases (立案), accepted volunteer results, ratings and adopted feedback do.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Role, User
from webapp.db import db, flush_pending, utcnow
from webapp.errors import DomainError
from webapp.localtime import day_bounds, local_date, month_bounds
from webapp.points import ledger, rules
from webapp.points.models import Account, AccountKind, Campaign, LedgerEntry, LedgerTransaction, TransactionKind
from webapp.reports.models import Report, ReportEvent, Severity
from webapp.reports.status import ReportStatus
from webapp.review.signals import case_event

REPORT_REASONS = ("report_accepted",)


def expiry_for(moment: datetime) -> date:
    """Points earned in a year expire at the end of the following year."""
    return date(local_date(moment).year + 1, 12, 31)


def _earned(account: Account, start: datetime, end: datetime, reasons: tuple[str, ...] | None = None) -> int:
    """Points awarded to the account between start and end (net of reversals is not taken: caps count what was paid)."""
    stmt = (
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(
            LedgerEntry.account_id == account.id,
            LedgerTransaction.kind == TransactionKind.AWARD,
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
        )
    )
    if reasons:
        stmt = stmt.where(LedgerTransaction.reason.in_(reasons))
    return int(db.session.scalar(stmt) or 0)


def _awards_counted(account_id: Any, start: datetime, end: datetime, reasons: tuple[str, ...]) -> sa.Select[tuple[int]]:
    return (
        sa.select(sa.func.count(sa.distinct(LedgerTransaction.id)))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(
            LedgerEntry.account_id == account_id,
            LedgerTransaction.kind == TransactionKind.AWARD,
            LedgerTransaction.reason.in_(reasons),
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
        )
    )


def _count_awards(account: Account, start: datetime, end: datetime, reasons: tuple[str, ...]) -> int:
    return int(db.session.scalar(_awards_counted(account.id, start, end, reasons)) or 0)


def _pay(
    user: User,
    key: str,
    reason: str,
    amount: int,
    *,
    current: rules.Rules,
    at: datetime,
    memo: str = "",
    report: Report | None = None,
    campaign: Campaign | None = None,
    counts_toward_daily: bool = False,
) -> LedgerTransaction | None:
    """Pay ``amount`` within the caps; nothing when it is already paid, capped to zero, or worth nothing."""
    if ledger.find(key) is not None or amount <= 0 or not user.active:
        return None
    account = ledger.account_for(user)
    # Two awards to one person at once (two reviewers) queue up here, so both see each other under the caps.
    ledger.lock(account)
    day = local_date(at)
    if counts_toward_daily:
        start, end = day_bounds(day)
        if _count_awards(account, start, end, REPORT_REASONS) >= current["daily_report_cap"]:
            return None
    start, end = month_bounds(day)
    room = current["monthly_points_cap"] - _earned(account, start, end)
    amount = min(amount, max(room, 0))
    if amount <= 0:
        return None
    fund = ledger.system_account(AccountKind.FUND)
    transaction, _created = ledger.post(
        key,
        TransactionKind.AWARD,
        reason,
        [(fund, -amount), (account, amount)],
        memo=memo,
        rule_version=current.version,
        report_id=report.id if report else None,
        campaign_id=campaign.id if campaign else None,
        expires_on=expiry_for(at) if current["expiry_enabled"] else None,
        at=at,
    )
    return transaction


# --- Campaigns ----------------------------------------------------------------------------------------------


def active_campaign(report: Report, at: datetime) -> Campaign | None:
    """The campaign (专项整治) covering this report's category and place on that day, if any."""
    day = local_date(at)
    candidates = db.session.scalars(
        sa.select(Campaign).where(Campaign.starts_on <= day, Campaign.ends_on >= day).order_by(Campaign.id)
    )
    for campaign in candidates:
        if report.category_code not in campaign.categories:
            continue
        if campaign.places and not (report.grid_code and any(report.grid_code.startswith(p) for p in campaign.places)):
            continue
        return campaign
    return None


def campaign_spent(campaign: Campaign) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(LedgerTransaction.campaign_id == campaign.id, Account.kind == AccountKind.RESIDENT)
        )
        or 0
    )


# --- What earns points -----------------------------------------------------------------------------------------


def on_case_event(report: Report, event: ReportEvent, **_extra: Any) -> None:
    """Listens to the workflow's case events (``webapp.review.signals.case_event``, see ``connect``)."""
    if event.action == "accept":
        award_report(report, at=event.at)
    elif event.action == "reject" and report.duplicate_of is not None:
        award_later_reporter(report, at=event.at)
    elif event.action == "close" and report.handler is not None and report.handler.role is Role.VOLUNTEER:
        award_volunteer(report, at=event.at)


def award_report(report: Report, *, at: datetime | None = None) -> list[LedgerTransaction]:
    """The reporter of an opened case: the base for its category, ×emergency, plus a campaign's bonus."""
    at = at or utcnow()
    if report.reporter is None or report.reporter.role.is_staff:
        return []
    current = rules.effective(at)
    base = current.report_base(report.category_code, report.category.safety_critical)
    if report.severity in (Severity.URGENT, Severity.CRITICAL):
        base *= current["emergency_multiplier"]
    paid = []
    main = _pay(
        report.reporter,
        f"award:report:{report.id}:reporter",
        "report_accepted",
        base,
        current=current,
        at=at,
        memo=report.category.name_zh,
        report=report,
        counts_toward_daily=True,
    )
    if main is None:
        if base > 0 and daily_cap_reached(report.reporter, at=at, current=current) is not None:
            _tell_daily_cap(report, current["daily_report_cap"])
        return paid
    paid.append(main)
    campaign = active_campaign(report, at)
    if campaign is not None and campaign.multiplier > 1 and campaign.budget_points > 0:
        # Awards from the same campaign queue up on its row (PostgreSQL), so together they stay within its budget.
        db.session.execute(sa.select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
        bonus = min(base * (campaign.multiplier - 1), campaign.budget_points - campaign_spent(campaign))
        extra = _pay(
            report.reporter,
            f"award:report:{report.id}:campaign:{campaign.id}",
            "campaign_bonus",
            bonus,
            current=current,
            at=at,
            memo=campaign.name,
            report=report,
            campaign=campaign,
        )
        if extra is not None:
            paid.append(extra)
    return paid


def daily_cap_reached(user: User, *, at: datetime | None = None, current: rules.Rules | None = None) -> int | None:
    """The daily cap (valid reports a day that earn points) when ``user``'s reports of that local day have reached
    it; None while reports still earn points."""
    at = at or utcnow()
    current = current or rules.effective(at)
    start, end = day_bounds(local_date(at))
    cap = int(current["daily_report_cap"])
    return cap if _count_awards(ledger.account_for(user), start, end, REPORT_REASONS) >= cap else None


def _tell_daily_cap(report: Report, cap: int) -> None:
    """The report was opened but earned nothing: say why, once per report."""
    from webapp.notifications import services as notifications

    notifications.notify([report.reporter], "daily_cap", report, cap=cap)


def award_later_reporter(duplicate: Report, *, at: datetime | None = None) -> LedgerTransaction | None:
    """Someone who reported a problem already reported: a token, once per person and case, if the case is real."""
    at = at or utcnow()
    original = duplicate.duplicate_of
    reporter = duplicate.reporter
    if original is None or reporter is None or reporter.id == original.reporter_id or reporter.role.is_staff:
        return None
    if original.status in (ReportStatus.PENDING_REVIEW, ReportStatus.REJECTED):
        return None
    current = rules.effective(at)
    return _pay(
        reporter,
        f"award:later:{original.id}:{reporter.id}",
        "later_reporter",
        current["later_reporter_points"],
        current=current,
        at=at,
        report=original,
        memo=original.category.name_zh,
    )


def award_volunteer(report: Report, *, at: datetime | None = None) -> LedgerTransaction | None:
    at = at or utcnow()
    current = rules.effective(at)
    return _pay(
        report.handler,
        f"award:volunteer:{report.id}",
        "volunteer_result",  # type: ignore[arg-type]
        current["volunteer_result_points"],
        current=current,
        at=at,
        report=report,
        memo=report.category.name_zh,
    )


def award_rating(report: Report, user: User, *, at: datetime | None = None) -> LedgerTransaction | None:
    at = at or utcnow()
    current = rules.effective(at)
    return _pay(
        user,
        f"award:rating:{report.id}:{user.id}",
        "rating",
        current["rating_points"],
        current=current,
        at=at,
        report=report,
    )


def award_feedback(feedback_id: int, user: User, *, at: datetime | None = None) -> LedgerTransaction | None:
    at = at or utcnow()
    current = rules.effective(at)
    return _pay(
        user,
        f"award:feedback:{feedback_id}",
        "feedback_adopted",
        current["feedback_adopted_points"],
        current=current,
        at=at,
    )


def award_activity(
    user: User, *, activity_id: int, kind: str, title: str, at: datetime | None = None
) -> LedgerTransaction | None:
    """Attending a community activity: the points for its kind under the rules in force, once per activity and
    person (a second scan, an offline replay or an organiser's check-in pay nothing more), within the caps."""
    at = at or utcnow()
    if user.role.is_staff:
        return None
    current = rules.effective(at)
    return _pay(
        user,
        f"award:activity:{activity_id}:{user.id}",
        "activity_attended",
        current.activity_points(kind),
        current=current,
        at=at,
        memo=title,
    )


# --- Reversal and expiry ----------------------------------------------------------------------------------------


class ReversalError(DomainError):
    code = "invalid"


def reverse_report(report: Report, admin: User, reason: str) -> list[LedgerTransaction]:
    """A report found false later: take back the points it paid, with the reason. Points already spent cannot be
    taken back (a balance never goes below zero); the reversal then takes what is left and says so."""
    reason = reason.strip()
    if not reason:
        raise ReversalError(_("Please give a reason."), field="reason")
    awards = db.session.scalars(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.report_id == report.id, LedgerTransaction.kind == TransactionKind.AWARD
        )
    ).all()
    if not awards:
        raise ReversalError(_("This report has not earned any points."))
    fund = ledger.system_account(AccountKind.FUND)
    done = []
    for award in awards:
        for entry in award.entries:
            if entry.amount <= 0 or entry.account.kind is not AccountKind.RESIDENT:
                continue
            if ledger.find(f"reversal:{award.business_key}") is not None:
                continue
            ledger.lock(entry.account)
            amount = min(entry.amount, max(ledger.balance(entry.account), 0))
            if amount == 0:
                continue
            memo = (
                reason
                if amount == entry.amount
                else _("%(reason)s (%(spent)d points were already spent)", reason=reason, spent=entry.amount - amount)
            )
            transaction, created = ledger.post(
                f"reversal:{award.business_key}",
                TransactionKind.REVERSAL,
                "false_report",
                [(entry.account, -amount), (fund, amount)],
                memo=memo,
                report_id=report.id,
                actor=admin,
                rule_version=award.rule_version,
            )
            if created:
                done.append(transaction)
    return done


def expire(today: date | None = None) -> int:
    """Expire points whose date has passed, oldest first (FIFO): returns the points expired.

    Spending and reversals use up the oldest points first, so what expires for a resident is what is left of the
    points earned up to the expiry date; refunded points never expire (see ``_expiring``).
    """
    today = today or local_date(utcnow())
    expiry_account = ledger.system_account(AccountKind.EXPIRY)
    total = 0
    accounts = db.session.scalars(sa.select(Account).where(Account.kind == AccountKind.RESIDENT))
    for account in accounts:
        due = _expiring(account, before=today)
        if due <= 0:
            continue
        key = f"expiry:{account.id}:{today.isoformat()}"
        _transaction, created = ledger.post(
            key,
            TransactionKind.EXPIRY,
            "expired",
            [(account, -due), (expiry_account, due)],
            memo=_("Points earned until %(day)s", day=today.isoformat()),
        )
        if created:
            total += due
    return total


def _expiring(account: Account, *, before: date) -> int:
    """Points of the account whose end date is before ``before`` and that are still there, first in first out.

    The account's credits form a queue in the order they arrived; spending and reversals take from its head,
    whatever the credits are; an expiry takes what was left of the credits past their date. Refunds join the
    queue as new points without an end date, so they never expire (and a refund does not bring back to life the
    earned points its order had used up).
    """
    if db.session.scalar(_first_due(account.id, before)) is None:
        return 0
    return _expiring_of(account.id, before=before)


def _first_due(account_id: Any, before: date) -> sa.Select[tuple[int]]:
    """Any credit of the account with an end date before ``before`` (most accounts have none: no replay needed)."""
    return (
        sa.select(LedgerEntry.id)
        .where(LedgerEntry.account_id == account_id, LedgerEntry.amount > 0, LedgerEntry.expires_on < before)
        .limit(1)
    )


def _expiring_of(account_id: int, *, before: date) -> int:
    rows = db.session.execute(
        sa.select(LedgerEntry.amount, LedgerEntry.expires_on, LedgerTransaction.kind)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).all()
    credits: list[list] = []  # [points left, expires_on or None], oldest first
    head = 0  # the credits before it are used up
    for amount, expires_on, kind in rows:
        if amount > 0:
            credits.append([amount, expires_on])
            continue
        taking = -amount
        for credit in itertools.islice(credits, head, None):
            if taking == 0:
                break
            if kind is TransactionKind.EXPIRY and credit[1] is None:
                continue  # an expiry only ever took points that had an end date
            taken = min(credit[0], taking)
            credit[0] -= taken
            taking -= taken
        while head < len(credits) and credits[head][0] == 0:
            head += 1
    return sum(left for left, expires_on in credits if expires_on is not None and expires_on < before)


def expiring_soon(user: User, *, within_days: int = 30, today: date | None = None) -> tuple[int, date] | None:
    """Points of this resident that expire within ``within_days`` (for the warning), and when."""
    today = today or local_date(utcnow())
    account = db.session.scalar(
        sa.select(Account).where(Account.kind == AccountKind.RESIDENT, Account.user_id == user.id)
    )
    if account is None:
        return None
    horizon = today + timedelta(days=within_days)
    amount = _expiring(account, before=horizon + timedelta(days=1))
    return (amount, date(today.year, 12, 31)) if amount > 0 else None


@dataclass(frozen=True)
class Overview:
    """What the resident's points page shows at the top."""

    balance: int
    expiring: tuple[int, date] | None  # as expiring_soon
    daily_cap: int | None  # as daily_cap_reached


@functools.cache
def _overview_statement() -> sa.Select[Any]:
    # Built once, with parameters: building it (and its cache key) on every request cost more CPU than running it.
    # The account's id, not the account: the page needs nothing else of it, and a plain column costs less to load.
    return sa.select(
        Account.id.label("account_id"),
        ledger.balance_stmt(Account.id).scalar_subquery().label("balance"),
        _first_due(Account.id, sa.bindparam("before")).scalar_subquery().label("first_due"),
        _awards_counted(Account.id, sa.bindparam("start"), sa.bindparam("end"), REPORT_REASONS)
        .scalar_subquery()
        .label("awarded_today"),
    ).where(Account.kind == AccountKind.RESIDENT, Account.user_id == sa.bindparam("user_id"))


def _overview_params(user: User, within_days: int, at: datetime) -> dict[str, Any]:
    today = local_date(at)
    start, end = day_bounds(today)
    return {"user_id": user.id, "before": today + timedelta(days=within_days + 1), "start": start, "end": end}


def _overview_of(row: Any, params: dict[str, Any], at: datetime) -> Overview:
    account_id, balance, due, awarded_today = row
    amount = _expiring_of(account_id, before=params["before"]) if due is not None else 0
    cap = int(rules.effective(at)["daily_report_cap"])
    return Overview(
        int(balance or 0),
        (amount, date(local_date(at).year, 12, 31)) if amount > 0 else None,
        cap if int(awarded_today or 0) >= cap else None,
    )


def overview(user: User, *, within_days: int = 30, at: datetime | None = None) -> Overview:
    """Balance, ``expiring_soon`` and ``daily_cap_reached`` of ``user`` in one statement; the expiry replay only
    runs when some credit is due."""
    at = at or utcnow()
    params = _overview_params(user, within_days, at)
    row = db.session.execute(_overview_statement(), params).first()
    return _overview_of(row, params, at) if row is not None else Overview(0, None, None)


def points_page(
    user: User, *, history_limit: int, within_days: int = 30, at: datetime | None = None
) -> tuple[Overview, list[ledger.Movement]]:
    """The points page, the resident's most visited logged-in page, in one statement: ``overview`` with the
    newest ``history_limit`` rows of ``ledger.history`` joined to it (each round trip to the database is time a
    worker waits). The same figures and rows as those two functions."""
    at = at or utcnow()
    params = _overview_params(user, within_days, at)
    # Plain columns, no models: run on the session's connection, past the ORM's result handling (about 0.1 ms of
    # a 4 ms page).
    flush_pending()
    rows = db.session.connection().execute(_page_statement(history_limit), params).all()
    if not rows:
        return Overview(0, None, None), []
    history = [ledger.Movement._make(row[4:]) for row in rows if row.id is not None]
    return _overview_of(rows[0][:4], params, at), history


@functools.cache
def _page_statement(history_limit: int) -> sa.Select[Any]:
    # The history's LIMIT applies inside its subquery; joined on true, so a resident with no history still gets
    # their overview (one row, the history's columns NULL). No LATERAL: SQLite has none, and neither needs one.
    top = _overview_statement().subquery("overview")
    rows = ledger.history_statement(history_limit).subquery("history")
    return (
        sa.select(top.c.account_id, top.c.balance, top.c.first_due, top.c.awarded_today, *rows.c)
        .select_from(top)
        .outerjoin(rows, sa.true())
        .order_by(rows.c.created_at.desc(), rows.c.id.desc())
    )


def warn_expiring(today: date | None = None, *, within_days: int = 30) -> int:
    """Tell each resident, once a year, that points of theirs expire within ``within_days``."""
    from webapp.notifications import services as notifications
    from webapp.notifications.models import Notification

    today = today or local_date(utcnow())
    warned = 0
    for account in db.session.scalars(sa.select(Account).where(Account.kind == AccountKind.RESIDENT)):
        user = account.user
        if user is None or not user.active:
            continue
        soon = expiring_soon(user, within_days=within_days, today=today)
        if soon is None:
            continue
        amount, day = soon
        already = db.session.scalar(
            sa.select(Notification.id).where(
                Notification.user_id == user.id,
                Notification.kind == "points_expiring",
                Notification.params_json.contains(f'"date": "{day.isoformat()}"', autoescape=True),
            )
        )
        if already is None:
            notifications.notify([user], "points_expiring", points=amount, date=day.isoformat())
            warned += 1
    return warned


def connect() -> None:
    """Listen to the workflow's case events (called once by the application factory)."""
    case_event.connect(on_case_event)
