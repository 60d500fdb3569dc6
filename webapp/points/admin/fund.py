"""Points admin: the special fund's budget lines, its reconciliation (page and CSV) and its audit log."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Response,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp import csvfile, localtime
from webapp.db import db
from webapp.errors import DomainError
from webapp.points import catalogue, fund
from webapp.points.admin.common import admins_only, bp, finish, page_context, refuse
from webapp.points.admin.forms import AUDIT_LABELS, DETAIL_LABELS, SOURCE_LABELS, BudgetLineForm, in_years
from webapp.points.models import (
    FundAudit,
)
from webapp.rendering import page_or_fragment

AUDIT_PAGE_SIZE = 50


class PeriodError(DomainError):
    code = "invalid_period"


def _parse_day(value: str | None, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10 or not in_years(day):
        raise PeriodError(_("Please enter dates as year-month-day, like 2026-05-01."), field=field)
    return day


def _period(args: Any) -> tuple[date, date]:
    """The reconciliation period from the query string: whole local days, this month so far by default."""
    today = localtime.today()
    start = _parse_day(args.get("start"), "start") or today.replace(day=1)
    end = _parse_day(args.get("end"), "end") or today
    if end < start:
        raise PeriodError(_("The period must start on or before the day it ends."), field="end")
    if start > today:
        raise PeriodError(_("The period cannot start in the future."), field="start")
    return start, end


def _audit_rows(page: int) -> tuple[list[tuple[FundAudit, dict[str, Any]]], bool]:
    rows = list(
        db.session.scalars(
            sa.select(FundAudit)
            .order_by(FundAudit.created_at.desc(), FundAudit.id.desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE + 1)
        )
    )
    result = []
    for row in rows[:AUDIT_PAGE_SIZE]:
        try:
            details = json.loads(row.details_json or "{}")
        except ValueError:
            details = {"details": row.details_json}
        result.append((row, details if isinstance(details, dict) else {"details": details}))
    return result, len(rows) > AUDIT_PAGE_SIZE


def _fund_page(line_form: BudgetLineForm | None = None, status: int = 200) -> Response:
    if line_form is None:
        line_form = BudgetLineForm(prefix="line", formdata=None)
        line_form.year.data = localtime.today().year
    period_error: str | None = None
    period_field: str | None = None
    report = None
    start_text = request.args.get("start", "")
    end_text = request.args.get("end", "")
    try:
        start, end = _period(request.args)
        start_text, end_text = start.isoformat(), end.isoformat()
        report = fund.reconcile(*localtime.days_bounds(start, end))
    except DomainError as error:
        db.session.rollback()
        period_error, period_field = str(error.message), error.field
        status = max(status, error.status)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 10_000)
    audit_rows, more = _audit_rows(page)
    lines = fund.budget_lines()
    return page_or_fragment(
        "points/admin/fund.html",
        "points/admin/_reconciliation.html",
        status,
        **page_context(
            section="fund",
            line_form=line_form,
            lines=lines,
            lines_total=sum(line.amount_fen for line in lines),
            report=report,
            start=start_text,
            end=end_text,
            period_error=period_error,
            period_field=period_field,
            audit_rows=audit_rows,
            audit_labels=AUDIT_LABELS,
            detail_labels=DETAIL_LABELS,
            source_labels=SOURCE_LABELS,
            audit_page=page,
            more=more,
            user_label=_user_label,
        ),
    )


def _user_label(user: Any) -> str:
    if user is None:
        return _("the system")
    return f"{user.display_name or user.role.label} ({user.masked_phone})"


@bp.get("/fund")
@admins_only
def fund_page() -> Response:
    return _fund_page()


@bp.post("/fund/budget-lines")
@admins_only
def add_budget_line() -> Response:
    form = BudgetLineForm(prefix="line")
    if not form.validate():
        return _fund_page(form, 422)
    try:
        line = fund.add_budget_line(
            current_user,
            name=form.name.data or "",
            source=form.source.data,
            amount_fen=catalogue.parse_yuan(form.amount.data, field="amount"),
            year=form.year.data,
        )
    except DomainError as error:
        return _fund_page(form, refuse(form, error))
    return finish(
        _("Budget line “%(name)s” added: ¥%(amount)s.", name=line.name, amount=fund.yuan(line.amount_fen)),
        url_for("points_admin.fund_page"),
    )


@bp.get("/fund/reconciliation.csv")
@admins_only
def reconciliation_csv() -> Response:
    start, end = _period(request.args)
    report = fund.reconcile(*localtime.days_bounds(start, end))
    response = csvfile.response(
        fund.CSV_HEADER, list(fund.csv_rows(report)), f"reconciliation-{start.isoformat()}-{end.isoformat()}.csv"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
