"""Open data: which reports are published, their public rows, headline statistics, filters and exports.

Reports are published once the review team has accepted them (not while they wait for review, nor when they were
not accepted: those may hold what a reviewer would refuse). Every published row goes through ``privacy`` so the
map, the list, the downloads and the campaign pages show exactly the same thing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _

from webapp import cache as static_cache
from webapp.accounts.models import Department
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.geo.models import Grid
from webapp.localtime import local_date, midnight, month_bounds
from webapp.pagination import Page
from webapp.reports import privacy, taxonomy
from webapp.reports.models import Category, Report, ReportPhoto
from webapp.reports.status import ReportStatus

UNPUBLISHED = tuple(privacy.UNREVIEWED_STATUSES)  # only reports the review team accepted are published
MAX_CATEGORIES = 50
BATCH = 500  # rows read per query while exporting: memory stays flat however large the export
MAP_LIMIT = 1000  # the newest reports drawn on the map

LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"

# The export schema: every field of a published report, in order. Nothing here identifies a person.
FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "category_code",
    "category_zh",
    "category_en",
    "status",
    "created_at",
    "closed_at",
    "due_at",
    "on_time",
    "days_to_close",
    "district",
    "street",
    "community",
    "grid_code",
    "lat",
    "lon",
    "location_coarsened",
    "address",
    "description",
    "photos",
    "department",
)


class OpenDataError(DomainError):
    status = 400
    code = "bad_filter"


# --- Filters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Reports received from ``start`` to ``end`` (local days, both included), in ``categories`` (all if empty)."""

    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()

    def as_args(self) -> dict[str, Any]:
        """Query arguments that give these filters back (for links and pagers)."""
        args: dict[str, Any] = {}
        if self.start:
            args["start"] = self.start.isoformat()
        if self.end:
            args["end"] = self.end.isoformat()
        if self.categories:
            args["category"] = list(self.categories)
        return args

    def where(self) -> list[Any]:
        clauses: list[Any] = [Report.status.not_in(UNPUBLISHED)]
        if self.start:
            clauses.append(Report.created_at >= midnight(self.start))
        if self.end:
            clauses.append(Report.created_at < midnight(self.end + timedelta(days=1)))
        if self.categories:
            clauses.append(Report.category_code.in_(self.categories))
        return clauses


def parse_date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise OpenDataError(
            _("“%(value)s” is not a date: please give the %(name)s date as YYYY-MM-DD.", value=raw[:20], name=name),
            field=name,
        ) from None


def parse_categories(raw: list[str]) -> tuple[str, ...]:
    codes = list(dict.fromkeys(code.strip() for code in raw if code and code.strip()))
    if len(codes) > MAX_CATEGORIES:
        raise OpenDataError(_("At most %(n)d categories at once.", n=MAX_CATEGORIES), field="category")
    for code in codes:
        if not (len(code) == 5 and code.isascii() and code.isdigit()) or db.session.get(Category, code) is None:
            raise OpenDataError(_("There is no category “%(code)s”.", code=code[:20]), field="category")
    return tuple(codes)


def parse_filters(args: Mapping[str, Any]) -> Filters:
    """Filters from query arguments ``start``, ``end`` (YYYY-MM-DD) and ``category`` (repeatable); 400 if bad."""
    start_raw = (args.get("start") or "").strip()
    end_raw = (args.get("end") or "").strip()
    start = parse_date(start_raw, "start") if start_raw else None
    end = parse_date(end_raw, "end") if end_raw else None
    if start and end and end < start:
        raise OpenDataError(_("The end date is before the start date."), field="end")
    getlist = getattr(args, "getlist", None)
    raw = getlist("category") if getlist else ([args["category"]] if args.get("category") else [])
    return Filters(start, end, parse_categories(raw))


# --- Public rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicReport:
    id: int
    category_code: str
    category_zh: str
    category_en: str
    status: ReportStatus
    created_at: datetime
    closed_at: datetime | None
    due_at: datetime | None
    district: str
    street: str
    community: str
    grid_code: str
    lat: float | None
    lon: float | None
    location_coarsened: bool
    address: str
    description: str
    department: str
    photo_keys: tuple[str, ...] = field(default=())

    @property
    def on_time(self) -> bool | None:
        if self.status is not ReportStatus.CLOSED or self.closed_at is None or self.due_at is None:
            return None
        return self.closed_at <= self.due_at

    @property
    def days_to_close(self) -> float | None:
        if self.status is not ReportStatus.CLOSED or self.closed_at is None:
            return None
        return round((self.closed_at - self.created_at).total_seconds() / 86400, 1)

    @property
    def area(self) -> str:
        """The place in words, as precise as may be published."""
        parts = (self.street, self.community) if not self.location_coarsened else (self.district, self.street)
        return " ".join(part for part in parts if part)

    def as_dict(self) -> dict[str, Any]:
        """One export row; its keys are exactly ``FIELDS``."""
        return {
            "id": self.id,
            "url": url_for("reports.detail", report_id=self.id, _external=True),
            "category_code": self.category_code,
            "category_zh": self.category_zh,
            "category_en": self.category_en,
            "status": self.status.value,
            "created_at": _iso(self.created_at),
            "closed_at": _iso(self.closed_at),
            "due_at": _iso(self.due_at),
            "on_time": self.on_time,
            "days_to_close": self.days_to_close,
            "district": self.district,
            "street": self.street,
            "community": self.community,
            "grid_code": self.grid_code,
            "lat": self.lat,
            "lon": self.lon,
            "location_coarsened": self.location_coarsened,
            "address": self.address,
            "description": self.description,
            "photos": [url_for("reports.media_file", key=key, _external=True) for key in self.photo_keys],
            "department": self.department,
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def _columns() -> sa.Select[Any]:
    return (
        sa.select(
            Report.id,
            Report.category_code,
            Category.name_zh,
            Category.name_en,
            Report.status,
            Report.created_at,
            Report.closed_at,
            Report.due_at,
            Grid.district_name,
            Grid.street_name,
            Grid.community_name,
            Report.grid_code,
            Report.lat,
            Report.lon,
            Report.address,
            Report.description,
            Department.name_zh.label("department_zh"),
        )
        .join(Category, Category.code == Report.category_code)
        .outerjoin(Grid, Grid.code == Report.grid_code)
        .outerjoin(Department, Department.id == Report.department_id)
    )


def _photo_keys(ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not ids:
        return {}
    keys: dict[int, list[str]] = {}
    for report_id, key in db.session.execute(
        sa.select(ReportPhoto.report_id, ReportPhoto.display_key)
        .where(ReportPhoto.report_id.in_(ids), ReportPhoto.kind == "before")
        .order_by(ReportPhoto.report_id, ReportPhoto.position)
    ):
        keys.setdefault(report_id, []).append(key)
    return {report_id: tuple(found) for report_id, found in keys.items()}


def _to_public(rows: list[sa.Row[Any]], with_photos: bool = True) -> list[PublicReport]:
    shown_ids = [row.id for row in rows if privacy.is_published(row.category_code, row.status)]
    photos = _photo_keys(shown_ids) if with_photos else {}
    result = []
    for row in rows:
        place = privacy.public_location(row.category_code, row.lat, row.lon, row.address, row.status)
        result.append(
            PublicReport(
                id=row.id,
                category_code=row.category_code,
                category_zh=row.name_zh,
                category_en=row.name_en,
                status=row.status,
                created_at=row.created_at,
                closed_at=row.closed_at,
                due_at=row.due_at,
                district=row.district_name or "",
                street=row.street_name or "",
                community="" if place.coarsened else (row.community_name or ""),
                grid_code="" if place.coarsened else (row.grid_code or ""),
                lat=place.lat,
                lon=place.lon,
                location_coarsened=place.coarsened,
                address=place.address,
                description=privacy.public_description(row.category_code, row.description, row.status),
                department=row.department_zh or "",
                photo_keys=photos.get(row.id, ()),
            )
        )
    return result


def public_reports(where: list[Any], ids: list[int] | None = None) -> list[PublicReport]:
    """Published reports matching ``where`` (and ``ids`` when given), newest first — for short lists."""
    stmt = _columns().where(Report.status.not_in(UNPUBLISHED), *where)
    if ids is not None:
        stmt = stmt.where(Report.id.in_(ids))
    return _to_public(list(db.session.execute(stmt.order_by(Report.created_at.desc(), Report.id.desc()))))


def batch_after(filters: Filters, after: int, batch: int = BATCH, with_photos: bool = True) -> list[PublicReport]:
    """Up to ``batch`` published reports matching ``filters`` with an id above ``after``, by id (keyset paging)."""
    rows = db.session.execute(_columns().where(*filters.where(), Report.id > after).order_by(Report.id).limit(batch))
    return _to_public(list(rows), with_photos)


def iter_rows(filters: Filters, *, batch: int = BATCH, with_photos: bool = True) -> Iterator[PublicReport]:
    """Every published report matching ``filters``, oldest first, read ``batch`` rows at a time."""
    after = 0
    while True:
        rows = batch_after(filters, after, batch, with_photos)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def count(where: list[Any]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Report).where(*where)) or 0


def page_of(where: list[Any], page: int, per_page: int, count_key: Any = None) -> Page[PublicReport]:
    """One page of published reports matching ``where``, newest first. With ``count_key`` (e.g. the filters) the
    total is kept COUNT_SECONDS per process."""
    if count_key is None:
        total = count(where)
    else:
        total = static_cache.remember("open-data-count", COUNT_SECONDS, count_key, lambda: count(where))
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    rows = db.session.execute(
        _columns()
        .where(*where)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Page(_to_public(list(rows), with_photos=False), page, per_page, total)


def map_features(filters: Filters, limit: int = MAP_LIMIT) -> dict[str, Any]:
    """The newest published reports with a position, as GeoJSON for the map (positions already coarsened)."""
    rows = db.session.execute(
        _columns()
        .where(*filters.where(), Report.lat.is_not(None), Report.lon.is_not(None))
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    )
    features = []
    for item in _to_public(list(rows), with_photos=False):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [item.lon, item.lat]},
                "properties": {
                    "id": item.id,
                    "category_code": item.category_code,
                    "status": item.status.value,
                    "url": url_for("reports.detail", report_id=item.id),
                    "coarsened": item.location_coarsened,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- Headline statistics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    month: date  # the first day of the month (local)
    received: int  # reports received this month (whatever became of them)
    closed: int  # cases closed this month
    closed_due: int  # … of them with a deadline
    on_time: int  # … closed by it
    median_days: float | None  # from report to closing, for the cases closed this month
    top_categories: list[tuple[str, str, int]]  # (code, name, reports) of the most reported this month

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.closed_due if self.closed_due else None

    @property
    def refreshed_every_minutes(self) -> int:
        return HEADLINE_SECONDS // 60


HEADLINE_SECONDS = 300  # the month's figures are kept this long per process (webapp.cache.remember)
COUNT_SECONDS = 30  # the number of reports matching a filter


@dataclass(frozen=True)
class _MonthFigures:
    received: int
    closed: int
    closed_due: int
    on_time: int
    median_days: float | None
    top: tuple[tuple[str, int], ...]


def _month_figures(start: datetime, end: datetime, top: int) -> _MonthFigures:
    received_in = (Report.created_at >= start, Report.created_at < end)
    closed_in = (Report.status == ReportStatus.CLOSED, Report.closed_at >= start, Report.closed_at < end)
    durations = []
    closed_due = on_time = 0
    for created, closed, due in db.session.execute(
        sa.select(Report.created_at, Report.closed_at, Report.due_at).where(*closed_in)
    ):
        durations.append((closed - created).total_seconds() / 86400)
        if due is not None:
            closed_due += 1
            on_time += closed <= due
    by_category = db.session.execute(
        sa.select(Report.category_code, sa.func.count().label("n"))
        .where(*received_in)
        .group_by(Report.category_code)
        .order_by(sa.desc("n"), Report.category_code)
    ).all()
    return _MonthFigures(
        received=sum(n for _, n in by_category),
        closed=len(durations),
        closed_due=closed_due,
        on_time=on_time,
        median_days=round(statistics.median(durations), 1) if durations else None,
        top=tuple((code, n) for code, n in by_category[:top]),
    )


def headline(today: date | None = None, top: int = 5) -> Headline:
    """This month's figures: two statements, kept HEADLINE_SECONDS per process (no scan on every page view)."""
    today = today or local_date(utcnow())
    first = today.replace(day=1)
    start, end = month_bounds(first)
    figures = static_cache.remember(
        "open-data-headline",
        HEADLINE_SECONDS,
        (first, top),
        lambda: _month_figures(start, end, top),
        through_writes=True,  # a month's figures; recounting them after every report written here cost 220 ms
    )
    return Headline(
        month=first,
        received=figures.received,
        closed=figures.closed,
        closed_due=figures.closed_due,
        on_time=figures.on_time,
        median_days=figures.median_days,
        top_categories=[(code, taxonomy.category_name(code), n) for code, n in figures.top],
    )
