"""Review and dispatch: open or refuse a report, dispatch it with its deadline, check the result and close it,
merge duplicates, handle extensions, the long-term list and overdue escalation, and the reviewer's queue.

Every status change goes through ``workflow.perform``; services flush and never commit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from webapp import cache as static_cache
from webapp import localtime
from webapp.accounts.models import Department, User
from webapp.db import db, utcnow
from webapp.errors import DomainError, NotFound
from webapp.extensions import lazy_gettext as _l
from webapp.geo.distance import bounding_box, haversine_m
from webapp.geo.models import Grid
from webapp.pagination import Page
from webapp.reports import services as reports
from webapp.reports import taxonomy
from webapp.reports.models import Category, Report, ReportEvent, ReportFollower, Severity
from webapp.reports.status import FINAL_STATUSES, ReportStatus
from webapp.review import emergency, workflow
from webapp.review.calendar import WorkingCalendar, from_days
from webapp.review.models import CalendarDay, ExtensionRequest, ExtensionStatus, TimeLimit
from webapp.review.routing import route
from webapp.review.time_limits import Limit, limit_for

REJECT_REASONS: dict[str, Any] = {
    "duplicate": _l("Duplicate of another report"),
    "not_city_problem": _l("Not a problem the city handles"),
    "insufficient_info": _l("Not enough information to find or judge it"),
    "outside_area": _l("Outside the service area"),
    "false_report": _l("The problem could not be found"),
}


class ReviewError(DomainError):
    code = "invalid"


# --- Time ---------------------------------------------------------------------------------------------------


@static_cache.cached("calendar")
def working_calendar() -> WorkingCalendar:
    """Holidays and make-up working days (immutable: a copy per process, bumped by any change of a day)."""
    return from_days(
        db.session.execute(sa.select(CalendarDay.day, CalendarDay.is_workday)).tuples().all(),
        timezone=localtime.zone_name(),
    )


static_cache.bump_on_flush("calendar", CalendarDay)


def handling_limit(report: Report) -> Limit:
    category = report.category
    overrides = {
        row.severity: Limit(row.value, row.unit)
        for row in db.session.scalars(sa.select(TimeLimit).where(TimeLimit.category_code == category.code))
    }
    return limit_for(Limit(category.time_limit_value, category.time_limit_unit), report.severity, overrides)


def deadline(report: Report, start: datetime) -> datetime:
    """When handling must be done if it starts at ``start``. It only reads, so call it before changing the case:
    a query after a change would flush it outside workflow.perform's check for a concurrent update."""
    limit = handling_limit(report)
    return working_calendar().add(start, limit.value, limit.unit)


def _restart_clock(report: Report, now: datetime, due: datetime) -> None:
    """A fresh time limit: its traffic light runs from now, and being late again can be escalated again."""
    report.dispatched_at = now
    report.due_at = due
    report.escalated_at = None


# --- Opening, refusing, dispatching ---------------------------------------------------------------------------


def suggested_department(report: Report, category: Category | None = None) -> Department | None:
    return route(category or report.category, report.grid)


def accept(
    report: Report,
    reviewer: User,
    *,
    category_code: str,
    severity: Severity,
    department: Department | None,
    for_volunteers: bool = False,
    note: str = "",
    expected_version: int | None = None,
) -> None:
    """立案: confirm or correct the category, set the severity, and dispatch (or leave it to volunteers)."""
    workflow.check(report, "accept", reviewer, expected_version=expected_version)
    category = taxonomy.get_category(category_code)
    if category is None:
        raise ReviewError(_("Please choose a category from the list."), field="category")
    if for_volunteers and (not category.volunteer_suitable or severity.is_emergency):
        raise ReviewError(_("Volunteers cannot handle this kind of problem themselves."), field="for_volunteers")
    if not for_volunteers and department is None:
        raise ReviewError(_("Please choose the department that handles it."), field="department")
    changes = []
    if category.code != report.category_code:
        changes.append(_("Category corrected: %(old)s → %(new)s", old=report.category.name, new=category.name))
        report.category = category
    report.severity = severity
    report.accepted_at = utcnow()
    text = "; ".join([*changes, note.strip()] if note.strip() else changes)
    workflow.perform(report, "accept", reviewer, note=text, expected_version=expected_version)
    if not for_volunteers:
        dispatch(report, reviewer, department)  # type: ignore[arg-type]
    if severity.is_emergency or category.safety_critical:
        reason = severity.label if severity.is_emergency else _("Safety-critical category")
        emergency.start(report, reviewer, reason)


def dispatch(report: Report, actor: User, department: Department, note: str = "") -> ReportEvent:
    """派遣: hand the case to a department; the handling clock starts now (not when they sign for it)."""
    workflow.check(report, "dispatch", actor)
    now = utcnow()
    due = deadline(report, now)
    report.department = department
    report.handler_id = None
    _restart_clock(report, now, due)
    return workflow.perform(report, "dispatch", actor, note=note or department.name, at=now)


def reject(
    report: Report,
    reviewer: User,
    *,
    reason: str,
    note: str = "",
    duplicate_of: int | None = None,
    expected_version: int | None = None,
) -> None:
    """不予受理, with a reason from the list; a duplicate is merged into the original report."""
    workflow.check(report, "reject", reviewer, note=reason, expected_version=expected_version)
    if reason not in REJECT_REASONS:
        raise ReviewError(_("Please choose a reason from the list."), field="reason")
    original = None
    if reason == "duplicate":
        original = reports.get_report(duplicate_of) if duplicate_of else None
        # Always point at the root of a chain of duplicates: the number given may be that of a merged duplicate.
        seen: set[int] = set()
        while original is not None and original.duplicate_of is not None and original.id not in seen:
            seen.add(original.id)
            original = original.duplicate_of
        if original is None or original.id == report.id or original.status is ReportStatus.REJECTED:
            raise ReviewError(_("Please give the number of the original report."), field="duplicate_of")
        report.duplicate_of = original
    report.reject_reason = reason
    text = str(REJECT_REASONS[reason])
    if original is not None:
        text += f" #{original.id}"
    if note.strip():
        text += f": {note.strip()}"
    workflow.perform(report, "reject", reviewer, note=text, expected_version=expected_version)
    if original is not None:
        _merge_followers(report, original)


def _merge_followers(duplicate: Report, original: Report) -> None:
    """Whoever reported or followed the duplicate now follows the original, so they hear how it ends."""
    people = {duplicate.reporter_id} | {
        row
        for row in db.session.scalars(sa.select(ReportFollower.user_id).where(ReportFollower.report_id == duplicate.id))
    }
    for user_id in people - {None, original.reporter_id}:
        if db.session.get(ReportFollower, (original.id, user_id)) is None:
            db.session.add(ReportFollower(report_id=original.id, user_id=user_id))
    db.session.flush()


def redispatch(
    report: Report, reviewer: User, department: Department, note: str = "", expected_version: int | None = None
) -> None:
    """A returned case goes to another (or the same) department after the reviewer's arbitration (审定)."""
    if expected_version is not None and report.version != expected_version:
        raise workflow.AlreadyHandled()
    dispatch(report, reviewer, department, note)


# --- Checking the result --------------------------------------------------------------------------------------


def close(report: Report, reviewer: User, note: str = "", expected_version: int | None = None) -> None:
    """核查结案: the after photos show the problem is gone."""
    workflow.check(report, "close", reviewer, expected_version=expected_version)
    report.closed_at = utcnow()
    workflow.perform(report, "close", reviewer, note=note, expected_version=expected_version)


def send_back(report: Report, reviewer: User, note: str, expected_version: int | None = None) -> None:
    """返工: not fixed; the department gets it again with a fresh time limit."""
    workflow.check(report, "rework", reviewer, note=note, expected_version=expected_version)
    now = utcnow()
    if report.self_handled or report.department is None:
        # A volunteer's result was not good enough: the case now needs a department.
        department = suggested_department(report)
        if department is None:
            raise ReviewError(_("No department is set up to handle this case."), field="department")
        report.department = department
    workflow.perform(report, "rework", reviewer, note=note, expected_version=expected_version, at=now)
    report.self_handled = False
    report.handler_id = None
    _restart_clock(report, now, deadline(report, now))


def refuse_result(report: Report, reviewer: User, note: str, expected_version: int | None = None) -> None:
    """A volunteer's report-and-fix that is not a real case is refused at the check."""
    workflow.check(report, "reject_result", reviewer, note=note, expected_version=expected_version)
    report.reject_reason = "false_report"
    workflow.perform(report, "reject_result", reviewer, note=note, expected_version=expected_version)


# --- Extensions, long-term list, escalation ------------------------------------------------------------------


def decide_extension(request: ExtensionRequest, reviewer: User, *, approve: bool, note: str = "") -> None:
    if request.status is not ExtensionStatus.PENDING:
        raise ReviewError(_("This request has already been decided."))
    report = request.report
    workflow.perform(report, "approve_extension" if approve else "refuse_extension", reviewer, note=note)
    request.status = ExtensionStatus.APPROVED if approve else ExtensionStatus.REFUSED
    request.decided_by_id = reviewer.id
    request.decided_at = utcnow()
    if approve:
        base = max(report.due_at or utcnow(), utcnow())
        report.due_at = working_calendar().add(base, request.extra_value, request.extra_unit)
        report.escalated_at = None  # a new deadline: being late again is escalated again
    db.session.flush()


def pending_extensions(report: Report) -> list[ExtensionRequest]:
    """Requests still to decide, while the case is still being handled (afterwards they are moot)."""
    if report.status not in workflow.TRANSITIONS["approve_extension"].sources:
        return []
    return list(
        db.session.scalars(
            sa.select(ExtensionRequest).where(
                ExtensionRequest.report_id == report.id, ExtensionRequest.status == ExtensionStatus.PENDING
            )
        )
    )


def suspend(report: Report, reviewer: User, note: str, expected_version: int | None = None) -> None:
    workflow.perform(report, "suspend", reviewer, note=note, expected_version=expected_version)


def resume(report: Report, reviewer: User, expected_version: int | None = None) -> None:
    """Back from the long-term list to a department (the one it had, else the one the routing table names)."""
    workflow.check(report, "resume", reviewer, expected_version=expected_version)
    now = utcnow()
    department = report.department or suggested_department(report)
    if department is None:
        raise ReviewError(_("No department is set up to handle this case."), field="department")
    due = deadline(report, now)
    report.department = department
    report.handler_id = None  # a volunteer's claim does not survive the long-term list
    workflow.perform(report, "resume", reviewer, expected_version=expected_version, at=now)
    _restart_clock(report, now, due)


def escalate(report: Report, actor: User | None, note: str = "") -> None:
    """督办: the department head and the supervisors are told; the case is marked in every list."""
    workflow.check(report, "escalate", actor)
    report.escalated_at = utcnow()
    workflow.perform(report, "escalate", actor, note=note)  # the notifications alert the supervisors and the head


def escalate_overdue(now: datetime | None = None) -> list[Report]:
    """Escalate every case past its deadline that has not been escalated yet (run by a scheduler)."""
    now = now or utcnow()
    overdue = list(
        db.session.scalars(
            sa.select(Report).where(
                Report.status.in_(workflow.HANDLING), Report.due_at < now, Report.escalated_at.is_(None)
            )
        )
    )
    for report in overdue:
        escalate(report, None, _("Past the deadline"))
    return overdue


# --- The reviewer's queue and case view -----------------------------------------------------------------------

QUEUES: dict[str, tuple[ReportStatus, ...]] = {
    "review": (ReportStatus.PENDING_REVIEW,),
    "check": (ReportStatus.AWAITING_CHECK,),
    "returned": (ReportStatus.RETURNED,),
    "handling": (ReportStatus.DISPATCHED, ReportStatus.SIGNED, ReportStatus.IN_PROGRESS, ReportStatus.REWORK),
    "suspended": (ReportStatus.SUSPENDED,),
    "volunteers": (ReportStatus.ACCEPTED,),
}


QUEUE_ORDER = (Report.emergency.desc(), Report.severity_rank.desc(), Report.created_at.asc(), Report.id.asc())


def _queue_filter(
    name: str, group: str | None = None, street: str | None = None, emergency_only: bool = False
) -> sa.Select[tuple[int]]:
    stmt = sa.select(Report.id).where(Report.status.in_(QUEUES.get(name, QUEUES["review"])))
    if group:
        stmt = stmt.join(Report.category).where(Category.group_code == group)
    if street:
        stmt = stmt.where(Report.grid_code.startswith(street, autoescape=True))
    if emergency_only:
        stmt = stmt.where(Report.emergency.is_(True))
    return stmt


# What the queue shows of each case, with the rows and in the same statement: the category, the grid's names (its
# polygon only if read) and the photos for the thumbnail. Nothing is forbidden: services of the same request may
# read more of the same objects.
QUEUE_LOAD = (
    joinedload(Report.category),
    joinedload(Report.grid).load_only(Grid.code, Grid.name, Grid.district_name, Grid.street_name, Grid.community_name),
    joinedload(Report.photos),
)


def queue(
    name: str = "review",
    *,
    group: str | None = None,
    street: str | None = None,
    emergency_only: bool = False,
    page: int = 1,
    per_page: int = 25,
    counts: dict[str, int] | None = None,
) -> Page[Report]:
    """Emergencies first, then the most severe, then the oldest.

    The page's ids are picked in a subquery, in the order of ix_reports_queue, and only those rows are loaded,
    with what the queue shows of them, in the same statement: the queue stays fast with 100,000 cases in the
    database (bench/review_queue.py). ``counts`` (``queue_counts()``, which the page shows anyway) gives the
    total of an unfiltered queue without counting again.
    """
    page = max(1, page)  # a negative OFFSET is an error on PostgreSQL
    name = name if name in QUEUES else "review"
    window = {"offset": (page - 1) * per_page, "limit": per_page}
    if group or street or emergency_only:
        ids_stmt = _queue_filter(name, group, street, emergency_only)
        total = db.session.scalar(sa.select(sa.func.count()).select_from(ids_stmt.subquery())) or 0
        rows_stmt = _rows_of(ids_stmt)
    else:
        total = counts[name] if counts is not None else db.session.scalar(_unfiltered_count(name)) or 0
        rows_stmt = _unfiltered_rows(name)
    rows = list(db.session.scalars(rows_stmt, window).unique()) if total else []
    return Page(rows, page, per_page, total)


# The statements of an unfiltered queue (nearly every visit) are built once: building a statement and its cache key
# on every request cost about as much CPU as running it.
def _rows_of(ids_stmt: sa.Select[tuple[int]]) -> sa.Select[tuple[Report]]:
    page_ids = ids_stmt.order_by(*QUEUE_ORDER).offset(sa.bindparam("offset")).limit(sa.bindparam("limit"))
    return sa.select(Report).where(Report.id.in_(page_ids)).options(*QUEUE_LOAD).order_by(*QUEUE_ORDER)


@functools.cache
def _unfiltered_rows(name: str) -> sa.Select[tuple[Report]]:
    return _rows_of(_queue_filter(name))


@functools.cache
def _unfiltered_count(name: str) -> sa.Select[tuple[int]]:
    return sa.select(sa.func.count()).select_from(_queue_filter(name).subquery())


def next_in_queue(name: str, after: Report) -> Report | None:
    """The first case of the queue other than ``after`` (for "next case"): no count, two rows at most."""
    ids = db.session.scalars(_queue_filter(name).where(Report.id != after.id).order_by(*QUEUE_ORDER).limit(1)).all()
    return db.session.get(Report, ids[0]) if ids else None


_QUEUE_COUNTS = (
    sa.select(Report.status, sa.func.count())
    .where(Report.status.in_(sorted({status for statuses in QUEUES.values() for status in statuses})))
    .group_by(Report.status)
)


def queue_counts() -> dict[str, int]:
    rows = db.session.execute(_QUEUE_COUNTS).all()
    by_status = {status: count for status, count in rows}
    return {name: sum(by_status.get(s, 0) for s in statuses) for name, statuses in QUEUES.items()}


@dataclass(frozen=True)
class ReporterRecord:
    total: int
    valid: int
    invalid: int


def reporter_record(user: User | None) -> ReporterRecord | None:
    """How many of this resident's reports were opened as cases, and how many were refused."""
    if user is None:
        return None
    rows = dict(
        db.session.execute(
            sa.select(Report.status, sa.func.count()).where(Report.reporter_id == user.id).group_by(Report.status)
        )
        .tuples()
        .all()
    )
    invalid = rows.get(ReportStatus.REJECTED, 0)
    pending = rows.get(ReportStatus.PENDING_REVIEW, 0)
    total = sum(rows.values())
    return ReporterRecord(total=total, valid=total - invalid - pending, invalid=invalid)


def nearby_cases(report: Report, radius_m: float = 200, limit: int = 8) -> list[reports.Nearby]:
    """Other reports around this one, any category, newest statuses included: helps to spot duplicates."""
    if report.lat is None or report.lon is None:
        return []
    min_lat, max_lat, min_lon, max_lon = bounding_box(report.lat, report.lon, radius_m)
    candidates = db.session.scalars(
        sa.select(Report)
        .where(
            Report.id != report.id,
            Report.lat.between(min_lat, max_lat),
            Report.lon.between(min_lon, max_lon),
            Report.status != ReportStatus.REJECTED,
        )
        .order_by(Report.created_at.desc())
        .limit(100)
    )
    found = [reports.Nearby(r, haversine_m(report.lat, report.lon, r.lat, r.lon)) for r in candidates]
    return sorted((n for n in found if n.distance_m <= radius_m), key=lambda n: n.distance_m)[:limit]


def get_case(report_id: int) -> Report:
    report = reports.get_report(report_id)
    if report is None:
        raise NotFound(_("This report does not exist."))
    return report


def is_final(report: Report) -> bool:
    return report.status in FINAL_STATUSES
