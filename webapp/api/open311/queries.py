"""Open311 GET requests: the status mapping, W3C date-times, the filters and the fields of a request."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import selectinload

from webapp import localtime
from webapp.api.models import Open311Request
from webapp.api.open311.base import DESCRIPTION_MAX, MAX_REQUEST_ID, Open311Error
from webapp.db import db
from webapp.reports import privacy
from webapp.reports.models import Channel, Report
from webapp.reports.status import FINAL_STATUSES, ReportStatus
from webapp.review.services import REJECT_REASONS
from webapp.review.workflow import action_label

WINDOW = timedelta(days=90)
DEFAULT_LIMIT = 1000  # requests returned without paging ("last 90 days or first 1000, whichever is smaller")
MAX_PAGE_SIZE = 200
MAX_IDS = 1000


# --- Status and times -------------------------------------------------------------------------------------------


def open311_status(status: ReportStatus) -> str:
    """GeoReport v2 knows only open and closed: a closed or refused (不予受理) report is closed."""
    return "closed" if status in FINAL_STATUSES else "open"


def status_notes(report: Report) -> str | None:
    """Why the report stands as it does: the refusal reason, else the last step's label and note (the note as the
    public may read it on the report page's timeline: webapp/reports/privacy.py)."""
    if report.status is ReportStatus.REJECTED and report.reject_reason in REJECT_REASONS:
        text = str(REJECT_REASONS[report.reject_reason])
        if report.duplicate_of_id is not None:
            text += f" #{report.duplicate_of_id}"
        return text
    if not report.events:
        return None
    event = report.events[-1]
    label = action_label(event.action)
    note = privacy.view(report, None).note(event.note)
    return f"{label}: {note}" if note else label


def w3c(value: datetime | None) -> str | None:
    """A W3C date-time with the timezone offset, in the city's time zone, e.g. 2026-05-01T09:30:00+08:00."""
    if value is None:
        return None
    return value.astimezone(localtime.zone()).isoformat(timespec="seconds")


_W3C_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_W3C_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def parse_w3c(raw: str, name: str) -> datetime:
    """A date (midnight UTC) or a date-time with a timezone; anything else is a 400."""
    value = raw.strip()
    # A "+" that was not URL-encoded arrives as a space.
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    try:
        if _W3C_DATE.match(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if _W3C_DATETIME.match(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        pass
    raise Open311Error(400, f"{name} must be a W3C date-time with a timezone, e.g. 2010-01-01T00:00:00Z")



# --- Reading requests -------------------------------------------------------------------------------------------


@dataclass
class RequestQuery:
    ids: list[int] | None = None
    service_codes: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def _comma_list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _window(
    low_raw: str | None, high_raw: str | None, low_name: str, high_name: str
) -> tuple[datetime | None, datetime | None]:
    low = parse_w3c(low_raw, low_name) if (low_raw or "").strip() else None
    high = parse_w3c(high_raw, high_name) if (high_raw or "").strip() else None
    if low is not None and high is not None:
        if high < low:
            raise Open311Error(400, f"{high_name} is before {low_name}")
        if high - low > WINDOW:
            raise Open311Error(400, f"{low_name} to {high_name} may span at most 90 days")
    elif low is not None:
        high = low + WINDOW
    elif high is not None:
        low = high - WINDOW
    return low, high


def _positive_int(raw: str, name: str, maximum: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name} must be a whole number") from None
    if not 1 <= value <= maximum:
        raise Open311Error(400, f"{name} must be between 1 and {maximum}")
    return value


def parse_query(args: Mapping[str, str], now: datetime) -> RequestQuery:
    query = RequestQuery(limit=DEFAULT_LIMIT)
    ids = _comma_list(args.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"service_request_id: at most {MAX_IDS} ids")
        if not all(item.isascii() and item.isdigit() and len(item) <= 10 for item in ids):
            raise Open311Error(400, "service_request_id must be a comma-separated list of request ids")
        # Ids beyond the database's integer range cannot exist (and PostgreSQL would refuse to compare them).
        query.ids = list(dict.fromkeys(int(item) for item in ids if 1 <= int(item) <= MAX_REQUEST_ID))
        return query  # overrides every other filter
    query.service_codes = _comma_list(args.get("service_code"))
    statuses = {status.lower() for status in _comma_list(args.get("status"))}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or both (comma-separated)")
    query.statuses = statuses
    query.start, query.end = _window(args.get("start_date"), args.get("end_date"), "start_date", "end_date")
    query.updated_after, query.updated_before = _window(
        args.get("updated_after"), args.get("updated_before"), "updated_after", "updated_before"
    )
    if query.start is None and query.updated_after is None:
        query.start = now - WINDOW  # the default window: the last 90 days
    page_raw, size_raw = (args.get("page") or "").strip(), (args.get("page_size") or "").strip()
    if page_raw or size_raw:
        page = _positive_int(page_raw, "page", 10**6) if page_raw else 1
        query.limit = _positive_int(size_raw, "page_size", MAX_PAGE_SIZE) if size_raw else MAX_PAGE_SIZE
        query.offset = (page - 1) * query.limit
    return query


def find_requests(query: RequestQuery) -> list[Report]:
    stmt = sa.select(Report).options(
        selectinload(Report.photos), selectinload(Report.events), selectinload(Report.department)
    )
    if query.ids is not None:
        stmt = stmt.where(Report.id.in_(query.ids))
    else:
        if query.service_codes:
            stmt = stmt.where(Report.category_code.in_(query.service_codes))
        if query.statuses == {"open"}:
            stmt = stmt.where(Report.status.not_in(FINAL_STATUSES))
        elif query.statuses == {"closed"}:
            stmt = stmt.where(Report.status.in_(FINAL_STATUSES))
        if query.start is not None:
            stmt = stmt.where(Report.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Report.created_at <= query.end)
        if query.updated_after is not None:
            stmt = stmt.where(Report.updated_at >= query.updated_after)
        if query.updated_before is not None:
            stmt = stmt.where(Report.updated_at <= query.updated_before)
    stmt = stmt.order_by(Report.created_at.desc(), Report.id.desc()).offset(query.offset).limit(query.limit)
    return list(db.session.scalars(stmt))


def _photo_url(report: Report) -> str | None:
    """Our own EXIF-free display copy of the first photo; a client's media_url is never shown."""
    photos = report.before_photos
    return url_for("reports.media_file", key=photos[0].display_key, _external=True) if photos else None


def request_fields(report: Report, *, english: bool, address_id: str | None = None) -> dict[str, Any]:
    """One request as GeoReport v2 shows it. Nothing about the reporter, ever."""
    category = report.category
    department = report.department
    closed = report.status in FINAL_STATUSES
    # Open311 readers are the public: what they see is decided by webapp/reports/privacy.py, as everywhere.
    place = privacy.view(report, None)
    updated = (report.closed_at or report.updated_at) if report.status is ReportStatus.CLOSED else report.updated_at
    return {
        "service_request_id": str(report.id),
        "status": open311_status(report.status),
        "status_notes": status_notes(report),
        "service_name": category.name_en if english else category.name_zh,
        "service_code": category.code,
        "description": place.description[:DESCRIPTION_MAX],
        "agency_responsible": ((department.name_en or department.name_zh) if english else department.name_zh)
        if department is not None
        else None,
        "service_notice": None,
        "requested_datetime": w3c(report.created_at),
        "updated_datetime": w3c(updated),
        "expected_datetime": None if closed else w3c(report.due_at),
        "address": place.address or None,
        "address_id": (address_id or None) if place.full else None,
        "zipcode": None,
        "lat": place.lat,
        "long": place.lon,
        "media_url": _photo_url(report) if place.photos else None,
    }


def address_ids_of(reports_: Iterable[Report]) -> dict[int, str]:
    ids = [report.id for report in reports_ if report.channel is Channel.OPEN311]
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Open311Request.report_id, Open311Request.address_id).where(
            Open311Request.report_id.in_(ids), Open311Request.address_id != ""
        )
    )
    return {report_id: address_id for report_id, address_id in rows}
