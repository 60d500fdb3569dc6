"""Handling: the department's inbox and actions (签收, 处置, 反馈, 退回, 延期) and volunteers fixing problems
themselves (claiming an opened case, or reporting and fixing at once). Results go to 核查 like any other."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Department, Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.geo.distance import haversine_m
from webapp.geo.models import Grid
from webapp.notifications import services as notifications
from webapp.pagination import Page
from webapp.reports import services as reports
from webapp.reports import taxonomy
from webapp.reports.models import Category, Report, TimeUnit
from webapp.reports.status import ReportStatus
from webapp.review import workflow
from webapp.review.calendar import Light, light
from webapp.review.models import ExtensionRequest, ExtensionStatus
from webapp.review.services import working_calendar
from webapp.storage import Storage

INBOX_STATUSES = (ReportStatus.DISPATCHED, ReportStatus.REWORK, ReportStatus.SIGNED, ReportStatus.IN_PROGRESS)
RESULT_NOTE_MAX = 1000


class HandlingError(DomainError):
    code = "invalid"


@dataclass(frozen=True, slots=True)
class InboxCase:
    """A case as its card in the inbox shows it, read as plain columns: loading Report, Category and Grid objects
    was the larger part of each card's cost. The category's name comes from the process's copy of the taxonomy."""

    id: int
    status: ReportStatus
    emergency: bool
    category_code: str
    place: str  # the address, else the grid's label
    dispatched_at: datetime | None
    due_at: datetime | None

    @property
    def category_name(self) -> str:
        return taxonomy.category_name(self.category_code)


@dataclass(frozen=True)
class InboxItem:
    case: InboxCase
    light: Light | None


def deadline_light(report: Report, now: datetime | None = None) -> Light | None:
    if report.due_at is None or report.dispatched_at is None:
        return None
    return light(working_calendar(), report.dispatched_at, report.due_at, now or utcnow())


INBOX_PER_PAGE = 25
# The inbox's order: emergencies, then the nearest deadline (overdue cases first), cases without one last.
INBOX_ORDER = (Report.emergency.desc(), Report.due_at.asc().nulls_last(), Report.id)


def _open_cases(*where: Any) -> list[Any]:
    return [Report.department_id == sa.bindparam("department_id"), Report.status.in_(INBOX_STATUSES), *where]


# What a card of the inbox shows (templates/handling/_inbox_card.html, InboxCase), with the grid's names for its label.
_INBOX_COLUMNS = (
    Report.id,
    Report.status,
    Report.emergency,
    Report.category_code,
    Report.address,
    Report.dispatched_at,
    Report.due_at,
    Grid.street_name,
    Grid.community_name,
    Grid.name,
    Grid.code,
)


def _inbox_case(row: Any) -> InboxCase:
    place = row.address or (Grid.label_of(row.street_name, row.community_name, row.name, row.code) if row.code else "")
    return InboxCase(row.id, row.status, row.emergency, row.category_code, place, row.dispatched_at, row.due_at)


# The deadline has passed: the red light, in SQL (the light is red once now >= due, whatever the calendar).
_OVERDUE = (Report.dispatched_at.is_not(None), Report.due_at <= sa.bindparam("now"))
# Yellow and green both need the working calendar: only cases not yet due can have them.
_NOT_DUE = (Report.dispatched_at.is_not(None), Report.due_at > sa.bindparam("now"))


# The inbox's statements are built once: building a statement and its cache key on every request cost about as
# much CPU as running it.
@functools.cache
def _inbox_page(overdue_only: bool) -> sa.Select[Any]:
    """One page of the open cases with the number of all of them (a window count: no second statement)."""
    return (
        sa.select(*_INBOX_COLUMNS, sa.func.count().over().label("total"))
        .outerjoin(Grid, Grid.code == Report.grid_code)
        .where(*_open_cases(*(_OVERDUE if overdue_only else ())))
        .order_by(*INBOX_ORDER)
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def _inbox_count(overdue_only: bool) -> sa.Select[tuple[int]]:
    return sa.select(sa.func.count()).select_from(Report).where(*_open_cases(*(_OVERDUE if overdue_only else ())))


@functools.cache
def _not_due_deadlines() -> sa.Select[tuple[int, datetime, datetime]]:
    return (
        sa.select(Report.id, Report.dispatched_at, Report.due_at).where(*_open_cases(*_NOT_DUE)).order_by(*INBOX_ORDER)
    )


@functools.cache
def _inbox_rows() -> sa.Select[Any]:
    return (
        sa.select(*_INBOX_COLUMNS)
        .outerjoin(Grid, Grid.code == Report.grid_code)
        .where(Report.id.in_(sa.bindparam("ids", expanding=True)))
    )


def inbox(
    department: Department,
    *,
    only: str | None = None,
    page: int = 1,
    per_page: int = INBOX_PER_PAGE,
    now: datetime | None = None,
) -> Page[InboxItem]:
    """One page of the department's open cases: emergencies first, then the nearest deadline (overdue first).

    Unfiltered and "red" (overdue): one statement, the page's rows with the number of all matching cases. "yellow"
    and "green" need the working calendar, so the lights of the cases not yet due are worked out here (their ids
    and deadlines, one statement) and only the page's rows are loaded (a second one). A page past the last one
    shows the last page.
    """
    now = now or utcnow()
    page = max(1, page)  # a negative OFFSET is an error on PostgreSQL
    calendar = working_calendar()
    params: dict[str, Any] = {"department_id": department.id, "now": now}
    if only in {Light.YELLOW.value, Light.GREEN.value}:
        ids = [
            row.id
            for row in db.session.execute(_not_due_deadlines(), params)
            if light(calendar, row.dispatched_at, row.due_at, now).value == only
        ]
        total = len(ids)
        page = min(page, max(1, math.ceil(total / per_page)))
        wanted = ids[(page - 1) * per_page : page * per_page]
        rows = {row.id: row for row in db.session.execute(_inbox_rows(), {"ids": wanted})} if wanted else {}
        found = [rows[i] for i in wanted if i in rows]
    else:
        overdue_only = only == Light.RED.value
        window = {"offset": (page - 1) * per_page, "limit": per_page}
        found = db.session.execute(_inbox_page(overdue_only), params | window).all()
        total = found[0].total if found else 0
        if not found and page > 1:  # past the last page (its cases were done meanwhile): show the last page
            total = db.session.scalar(_inbox_count(overdue_only), params) or 0
            page = max(1, math.ceil(total / per_page))
            window = {"offset": (page - 1) * per_page, "limit": per_page}
            found = db.session.execute(_inbox_page(overdue_only), params | window).all() if total else []
            total = found[0].total if found else total
    items = [
        InboxItem(
            _inbox_case(row),
            light(calendar, row.dispatched_at, row.due_at, now) if row.due_at and row.dispatched_at else None,
        )
        for row in found
    ]
    return Page(items, page, per_page, total)


def sign(report: Report, user: User, expected_version: int | None = None) -> None:
    workflow.perform(report, "sign", user, expected_version=expected_version)


def start(report: Report, user: User, expected_version: int | None = None) -> None:
    workflow.perform(report, "start", user, expected_version=expected_version)


def _after_photos(photos: list[bytes], limits: reports.PhotoLimits) -> list:  # type: ignore[type-arg]
    if not photos:
        raise HandlingError(_("Please add at least one photo of the result."), field="photos")
    if len(photos) > limits.per_report:
        raise HandlingError(_("Please add at most %(n)d photos.", n=limits.per_report), field="photos")
    return reports.process_photos(photos, limits)


def post_result(
    report: Report,
    user: User,
    *,
    note: str,
    photos: list[bytes],
    storage: Storage,
    limits: reports.PhotoLimits | None = None,
    expected_version: int | None = None,
) -> None:
    """反馈: the department (or the volunteer who took the case) reports the result with after photos."""
    limits = limits or reports.PhotoLimits()
    if len(note) > RESULT_NOTE_MAX:
        raise HandlingError(_("The note is too long: at most %(n)d characters.", n=RESULT_NOTE_MAX), field="note")
    processed = _after_photos(photos, limits)
    action = "volunteer_result" if user.role is Role.VOLUNTEER else "report_result"
    event = workflow.perform(report, action, user, note=note, expected_version=expected_version)
    files = reports.attach_photos(report, processed, kind="after", event=event)
    db.session.flush()
    reports.write_files(files, storage)


def return_case(report: Report, user: User, reason: str, expected_version: int | None = None) -> None:
    """退回: not ours; the reviewers decide who gets it instead."""
    workflow.perform(report, "return", user, note=reason, expected_version=expected_version)
    report.department = None  # not department_id: the loaded relationship would still name the old department
    report.due_at = None
    notifications.notify(notifications.staff(Role.REVIEWER, Role.ADMIN), "returned", report)


def request_extension(report: Report, user: User, *, extra_value: int, extra_unit: TimeUnit, reason: str) -> None:
    """延期: ask the reviewers for more time; the deadline moves only when they approve."""
    if not 1 <= extra_value <= (200 if extra_unit is TimeUnit.WORK_HOURS else 60):
        raise HandlingError(_("Please ask for a sensible amount of extra time."), field="extra_value")
    pending = db.session.scalar(
        sa.select(ExtensionRequest.id).where(
            ExtensionRequest.report_id == report.id, ExtensionRequest.status == ExtensionStatus.PENDING
        )
    )
    if pending is not None:
        raise HandlingError(_("A request for more time is already waiting for the reviewers."), field="note")
    workflow.perform(report, "request_extension", user, note=reason)
    db.session.add(
        ExtensionRequest(
            report=report, requested_by_id=user.id, extra_value=extra_value, extra_unit=extra_unit, reason=reason
        )
    )
    db.session.flush()
    notifications.notify(notifications.staff(Role.REVIEWER), "extension_requested", report)


# --- Volunteers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimable:
    report: Report
    distance_m: float | None


def claimable(lat: float | None = None, lon: float | None = None, limit: int = 30) -> list[Claimable]:
    """Opened cases volunteers may fix themselves, nearest first when the volunteer's position is known."""
    cases = db.session.scalars(
        sa.select(Report)
        .join(Report.category)
        .where(
            Report.status == ReportStatus.ACCEPTED,
            Report.department_id.is_(None),
            Report.handler_id.is_(None),
            Category.volunteer_suitable,
        )
        .order_by(Report.accepted_at)
        .limit(500)
    )
    items = [
        Claimable(r, haversine_m(lat, lon, r.lat, r.lon) if None not in (lat, lon, r.lat, r.lon) else None)
        for r in cases
    ]
    if lat is not None and lon is not None:
        items.sort(key=lambda c: (c.distance_m is None, c.distance_m or 0))
    return items[:limit]


def claim(report: Report, volunteer: User, expected_version: int | None = None) -> None:
    workflow.perform(report, "claim", volunteer, expected_version=expected_version)
    report.handler_id = volunteer.id
    db.session.flush()


def my_claims(volunteer: User) -> list[Report]:
    return list(
        db.session.scalars(
            sa.select(Report).where(Report.handler_id == volunteer.id).order_by(Report.updated_at.desc()).limit(50)
        )
    )


def report_and_fix(
    volunteer: User,
    data: reports.NewReport,
    *,
    after_photos: list[bytes],
    note: str,
    storage: Storage,
    limits: reports.PhotoLimits | None = None,
) -> tuple[Report, bool]:
    """问题解决: a volunteer reports a simple problem with before photos and fixes it at once (after photos)."""
    limits = limits or reports.PhotoLimits()
    category = taxonomy.get_category(data.category_code)
    if category is not None and not category.volunteer_suitable:
        raise HandlingError(_("Volunteers cannot handle this kind of problem themselves."), field="category")
    processed = _after_photos(after_photos, limits)
    report, created = reports.submit_report(volunteer, data, storage=storage, limits=limits)
    if not created:
        return report, False
    report.self_handled = True
    report.handler_id = volunteer.id
    event = workflow.perform(report, "self_fix", volunteer, note=note)
    files = reports.attach_photos(report, processed, kind="after", event=event)
    db.session.flush()
    reports.write_files(files, storage)
    return report, True
