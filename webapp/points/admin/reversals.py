"""Points admin: taking back the points of a report found false."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Response,
    flash,
    redirect,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp.db import db
from webapp.errors import DomainError, NotFound
from webapp.points import awards, store
from webapp.points.admin.common import admins_only, bp, finish, refuse, render
from webapp.points.admin.forms import ReverseForm
from webapp.points.models import (
    Account,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from webapp.reports.models import Report


def _report_points(report: Report) -> list[tuple[LedgerTransaction, int]]:
    """What the report moved on residents' accounts: its awards (+) and reversals (−), oldest first."""
    rows = db.session.execute(
        sa.select(LedgerTransaction, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.report_id == report.id,
            LedgerTransaction.kind.in_((TransactionKind.AWARD, TransactionKind.REVERSAL)),
            Account.kind == AccountKind.RESIDENT,
        )
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    ).all()
    return [(transaction, int(amount)) for transaction, amount in rows]


def _reverse_page(report: Report, form: ReverseForm, status: int = 200) -> Response:
    return render(
        "points/admin/reverse.html", status, section="", report=report, form=form, movements=_report_points(report)
    )


def _get_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound(_("This report does not exist."))
    return report


@bp.get("/reports/<id:report_id>/reverse")
@admins_only
def reverse_form(report_id: int) -> Response:
    return _reverse_page(_get_report(report_id), ReverseForm())


@bp.post("/reports/<id:report_id>/reverse")
@admins_only
def reverse(report_id: int) -> Response:
    report = _get_report(report_id)
    form = ReverseForm()
    if not form.validate():
        return _reverse_page(report, form, 422)
    reason = (form.reason.data or "").strip()
    try:
        done = awards.reverse_report(report, current_user, reason)
        taken = sum(
            -entry.amount
            for transaction in done
            for entry in transaction.entries
            if entry.amount < 0 and entry.account.kind is AccountKind.RESIDENT
        )
        if done:
            # awards.reverse_report writes the ledger but not the fund's audit log: record the decision here.
            store.audit(
                current_user,
                "points_reversed",
                report=report.id,
                reason=reason,
                points=taken,
                transactions=[t.id for t in done],
            )
            db.session.flush()
    except DomainError as error:
        return _reverse_page(_get_report(report_id), form, refuse(form, error))
    target = url_for("review.case", report_id=report.id)
    if not done:
        db.session.rollback()
        flash(
            _(
                "Nothing was taken back: the points of report #%(id)d were already taken back, or the resident "
                "has none left.",
                id=report.id,
            ),
            "info",
        )
        return redirect(target, 303)
    return finish(_("%(points)d points of report #%(id)d taken back.", points=taken, id=report.id), target)
