"""Read-only figures for the supervisor dashboard: hotspots, time peaks, handling and participation.

Every figure is about the reports **received** in the date range (a cohort: what became of them), except
registrations and points, which count what happened in the range. Counts come from the daily roll-up
(``analytics_daily``); a grid filter, which the roll-up is too coarse for, runs the roll-up's own statement live
(``facts.daily_facts``) on that grid's reports. Per-grid figures (places, the map, recurring spots, active
residents) read the reports table through ``ix_reports_analytics`` / ``ix_reports_grid_category_created``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import g
from flask_babel import gettext as _

from webapp import cache as static_cache
from webapp import localtime
from webapp.accounts.models import Department, Role, User
from webapp.analytics.facts import daily_facts, hours_between
from webapp.analytics.models import (
    BUCKETS,
    HOURS,
    STAGE_EDGES,
    STAGES,
    analytics_daily,
    analytics_recurrences,
)
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import is_english
from webapp.geo.models import Grid
from webapp.localtime import days_bounds
from webapp.points.models import Account, AccountKind, LedgerEntry, LedgerTransaction, TransactionKind
from webapp.reports.models import Category, CategoryGroup, Report
from webapp.reports.status import OPEN_STATUSES, ReportStatus

DEFAULT_DAYS = 90
MAX_DAYS = 366 * 5
TOP = 15


class BadFilter(DomainError):
    status = 400
    code = "bad_filter"


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters; ``start`` and ``end`` are local days, both included."""

    start: date
    end: date
    district: str = ""
    street: str = ""
    grid: str = ""
    group: str = ""
    category: str = ""
    department_id: int | None = None

    def args(self, **override: Any) -> dict[str, str]:
        """Query-string arguments that reproduce these filters (empty ones left out)."""
        values = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "district": self.district,
            "street": self.street,
            "grid": self.grid,
            "group": self.group,
            "category": self.category,
            "department": str(self.department_id) if self.department_id else "",
        }
        values.update(override)
        return {key: value for key, value in values.items() if value}

    @property
    def place_prefix(self) -> str:
        return self.street or self.district

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(_("%(name)s must be a date like 2026-11-30.", name=name)) from None


def parse_filters(args: Any) -> Filters:
    """Validate the query string; a bad value is a 400 with a message that says which one and why."""
    end = _date(args["end"], _("End date")) if args.get("end") else localtime.today()
    start = _date(args["start"], _("Start date")) if args.get("start") else end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise BadFilter(_("The end date is before the start date."))
    if (end - start).days >= MAX_DAYS:
        raise BadFilter(_("Choose a date range of at most five years."))
    district = (args.get("district") or "").strip()
    street = (args.get("street") or "").strip()
    grid = (args.get("grid") or "").strip()
    if district and not db.session.scalar(sa.select(Grid.code).where(Grid.district_code == district).limit(1)):
        raise BadFilter(_("Unknown district: %(code)s.", code=district[:20]))
    if street and not db.session.scalar(sa.select(Grid.code).where(Grid.street_code == street).limit(1)):
        raise BadFilter(_("Unknown street: %(code)s.", code=street[:20]))
    if grid and (len(grid) > 15 or db.session.get(Grid, grid) is None):
        raise BadFilter(_("Unknown grid: %(code)s.", code=grid[:20]))
    if street and district and not street.startswith(district):
        raise BadFilter(_("The street is not in the chosen district."))
    if grid and not grid.startswith(street or district):
        raise BadFilter(_("The grid is not in the chosen district or street."))
    group = (args.get("group") or "").strip()
    category = (args.get("category") or "").strip()
    if group and db.session.get(CategoryGroup, group[:2]) is None or len(group) > 2:
        raise BadFilter(_("Unknown category group: %(code)s.", code=group[:20]))
    if category:
        found = db.session.get(Category, category[:5]) if len(category) == 5 else None
        if found is None:
            raise BadFilter(_("Unknown category: %(code)s.", code=category[:20]))
        if group and found.group_code != group:
            raise BadFilter(_("The category is not in the chosen group."))
    department_id = None
    if args.get("department"):
        raw = str(args["department"])
        department_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
        if department_id is None or db.session.get(Department, department_id) is None:
            raise BadFilter(_("Unknown department: %(code)s.", code=raw[:20]))
    return Filters(start, end, district, street, grid, group, category, department_id)


# --- Sources ----------------------------------------------------------------------------------------------------


def _where(source: sa.FromClause, filters: Filters) -> list[sa.ColumnElement[bool]]:
    c = source.c
    conditions = [c.day >= filters.start, c.day <= filters.end]
    if filters.place_prefix and not filters.grid:
        conditions.append(c.street_code.startswith(filters.place_prefix, autoescape=True))
    if filters.group:
        conditions.append(c.group_code == filters.group)
    if filters.category:
        conditions.append(c.category_code == filters.category)
    if filters.department_id:
        conditions.append(c.department_id == filters.department_id)
    return conditions


def _report_where(filters: Filters, *, by_place: bool = False) -> list[sa.ColumnElement[bool]]:
    """The same filters on the reports table (for per-grid figures).

    ``by_place``: the query groups by grid. On SQLite the date range is then written so that it cannot use an
    index, which leaves ix_reports_grid_category_created (already in grid order, nothing to sort) to the planner:
    at 1M reports that is several times faster than reading the range by date and sorting it by grid. Without
    statistics SQLite cannot make that choice itself; PostgreSQL can, and keeps the plain form."""
    start, end = days_bounds(filters.start, filters.end)
    created: sa.ColumnElement[Any] = Report.created_at
    if by_place and db.engine.dialect.name == "sqlite":
        created = sa.type_coerce(sa.func.coalesce(Report.created_at, Report.created_at), Report.created_at.type)
    conditions = [created >= start, created < end]
    if filters.grid:
        conditions.append(Report.grid_code == filters.grid)
    elif filters.place_prefix:
        conditions.append(Report.grid_code.startswith(filters.place_prefix, autoescape=True))
    if filters.category:
        conditions.append(Report.category_code == filters.category)
    elif filters.group:
        codes = sa.select(Category.code).where(Category.group_code == filters.group)
        conditions.append(Report.category_code.in_(codes))
    if filters.department_id:
        conditions.append(Report.department_id == filters.department_id)
    return conditions


def _sums(filters: Filters, names: list[str], by: list[str] | None = None) -> list[Any]:
    """Sums of roll-up columns over the filtered rows, grouped by ``by``."""
    if filters.grid:
        return _grid_sums(filters, names, by or [])
    source = analytics_daily
    keys = [source.c[name] for name in by or []]
    columns = [sa.func.coalesce(sa.func.sum(source.c[name]), 0).label(name) for name in names]
    stmt = sa.select(*keys, *columns).where(*_where(source, filters))
    if keys:
        stmt = stmt.group_by(*keys)
    return list(db.session.execute(stmt))


def _grid_sums(filters: Filters, names: list[str], by: list[str]) -> list[Any]:
    """The same sums for one grid: the roll-up's statement run live once per request, then summed here."""
    cache = g.setdefault("analytics_grid_facts", {})
    key = (filters.grid, filters.start, filters.end)
    if key not in cache:
        start, end = days_bounds(filters.start, filters.end)
        cache[key] = db.session.execute(daily_facts(start, end, grid_codes=[filters.grid])).mappings().all()
    groups: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in cache[key]:
        if (
            (filters.group and row["group_code"] != filters.group)
            or (filters.category and row["category_code"] != filters.category)
            or (filters.department_id and row["department_id"] != filters.department_id)
        ):
            continue
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(str(row["day"]))
        group_key = tuple(day if name == "day" else row[name] for name in by)
        totals = groups.setdefault(group_key, dict.fromkeys(names, 0))
        for name in names:
            totals[name] += int(row[name] or 0)
    if not by and not groups:
        groups[()] = dict.fromkeys(names, 0)
    return [SimpleNamespace(**dict(zip(by, group_key, strict=True)), **totals) for group_key, totals in groups.items()]


# --- Hotspots ---------------------------------------------------------------------------------------------------


@dataclass
class CountRow:
    code: str
    label: str
    count: int
    extra: dict[str, Any] = field(default_factory=dict)


def by_category(filters: Filters, limit: int = TOP) -> list[CountRow]:
    rows = _sums(filters, ["reports"], ["category_code"])
    rows = sorted((r for r in rows if r.reports), key=lambda r: (-r.reports, r.category_code))[:limit]
    names = _category_names([r.category_code for r in rows])
    return [CountRow(r.category_code, names.get(r.category_code, r.category_code), int(r.reports)) for r in rows]


def _category_names(codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {c.code: c.name for c in db.session.scalars(sa.select(Category).where(Category.code.in_(codes)))}


def _grid_labels(codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {g.code: g.label for g in db.session.scalars(sa.select(Grid).where(Grid.code.in_(codes)))}


def by_grid(filters: Filters, limit: int | None = TOP) -> list[CountRow]:
    count = sa.func.count().label("n")
    stmt = (
        sa.select(Report.grid_code, count)
        .where(*_report_where(filters, by_place=not filters.department_id), Report.grid_code.is_not(None))
        .group_by(Report.grid_code)
        .order_by(count.desc(), Report.grid_code)
    )
    if limit:
        stmt = stmt.limit(limit)
    rows = [CountRow(r.grid_code, r.grid_code, int(r.n)) for r in db.session.execute(stmt)]
    return with_grid_labels(rows) if limit else rows


def with_grid_labels(rows: list[CountRow]) -> list[CountRow]:
    """Each grid's full label (street, community, grid) and, in ``extra["name"]``, the grid's own name: charts
    label bars by the name (eight grids of one community share the same prefix) and show the path on hover."""
    grids = (
        {g.code: g for g in db.session.scalars(sa.select(Grid).where(Grid.code.in_([row.code for row in rows])))}
        if rows
        else {}
    )
    labelled = []
    for row in rows:
        grid = grids.get(row.code)
        label = grid.label if grid else row.code
        labelled.append(replace(row, label=label, extra={**row.extra, "name": (grid.name if grid else "") or label}))
    return labelled


@dataclass
class Recurrence:
    closed: int  # closed reports with a place (grid) received in the range
    recurred: int  # of those, how many saw the same category reported in the same grid within RECUR_WINDOW
    spots: list[CountRow]

    @property
    def rate(self) -> float | None:
        return self.recurred / self.closed if self.closed else None


def _closed_unindexed() -> sa.ColumnElement[bool]:
    """status = closed, written so that no index on status is used: without statistics SQLite would otherwise walk
    every closed report of the range (ix_reports_status_created) instead of the few of one place
    (ix_reports_grid_category_created, which has the status in it)."""
    return sa.func.coalesce(Report.status, "") == ReportStatus.CLOSED.value


def _closed_per_spot(filters: Filters, spots: list[sa.Row[Any]]) -> dict[tuple[str, str], int]:
    if not spots:
        return {}
    start, end = days_bounds(filters.start, filters.end)
    stmt = (
        sa.select(Report.grid_code, Report.category_code, sa.func.count())
        .where(
            Report.grid_code.in_({row.grid_code for row in spots}),
            Report.category_code.in_({row.category_code for row in spots}),
            Report.created_at >= start,
            Report.created_at < end,
            _closed_unindexed(),
        )
        .group_by(Report.grid_code, Report.category_code)
    )
    if filters.department_id:
        stmt = stmt.where(Report.department_id == filters.department_id)
    return {(grid, category): int(n) for grid, category, n in db.session.execute(stmt)}


def recurring(filters: Filters, limit: int = TOP) -> Recurrence:
    """复发率: of the closed reports with a place (grid) received in the range, the share after which the same
    category was reported again in the same grid within RECUR_WINDOW of closing; and the places where it happened
    most (from the roll-up's ``analytics_recurrences``, or live for one grid)."""
    if filters.grid:
        closed_stmt = sa.select(sa.func.count()).where(*_report_where(filters), _closed_unindexed())
    else:
        closed_stmt = sa.select(sa.func.coalesce(sa.func.sum(analytics_daily.c.closed), 0)).where(
            *_where(analytics_daily, filters), analytics_daily.c.street_code != ""
        )
    closed = int(db.session.scalar(closed_stmt) or 0)
    c = analytics_recurrences.c
    day: sa.ColumnElement[Any] = c.day
    if db.engine.dialect.name == "sqlite":  # read ix_analytics_recurrences_spot in spot order (see _report_where)
        day = sa.type_coerce(sa.func.coalesce(c.day, c.day), c.day.type)
    conditions = [day >= filters.start, day <= filters.end]
    if filters.grid:
        conditions.append(c.grid_code == filters.grid)
    elif filters.place_prefix:
        conditions.append(c.grid_code.startswith(filters.place_prefix, autoescape=True))
    if filters.group:
        conditions.append(c.group_code == filters.group)
    if filters.category:
        conditions.append(c.category_code == filters.category)
    if filters.department_id:
        conditions.append(c.department_id == filters.department_id)
    n = sa.func.count().label("n")
    per_spot = (
        sa.select(c.grid_code, c.category_code, n)
        .where(*conditions)
        .group_by(c.grid_code, c.category_code)
        .order_by(n.desc(), c.grid_code, c.category_code)
    )
    total = int(
        db.session.scalar(sa.select(sa.func.count()).select_from(analytics_recurrences).where(*conditions)) or 0
    )
    top = list(db.session.execute(per_spot.limit(limit)))
    grids = _grid_labels([r.grid_code for r in top])
    categories = _category_names([r.category_code for r in top])
    closed_at_spot = _closed_per_spot(filters, top)
    spots = [
        CountRow(
            row.grid_code,
            grids.get(row.grid_code, row.grid_code),
            int(row.n),
            {
                "category": row.category_code,
                "category_name": categories.get(row.category_code, ""),
                "closed": closed_at_spot.get((row.grid_code, row.category_code), 0),
            },
        )
        for row in top
    ]
    return Recurrence(closed, total, spots)


# --- Time peaks -------------------------------------------------------------------------------------------------


@dataclass
class Peaks:
    heatmap: list[list[int]]  # [weekday 0=Monday][hour]
    weekly: list[tuple[date, int]]  # (Monday, reports)

    @property
    def busiest(self) -> tuple[int, int, int] | None:
        best = max(((n, d, h) for d, row in enumerate(self.heatmap) for h, n in enumerate(row)), default=None)
        return (best[1], best[2], best[0]) if best and best[0] else None


def peaks(filters: Filters) -> Peaks:
    rows = _sums(filters, ["reports", *HOURS], ["day"])
    heatmap = [[0] * 24 for _ in range(7)]
    weeks: dict[date, int] = defaultdict(int)
    for row in rows:
        day = row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day))
        for hour, name in enumerate(HOURS):
            heatmap[day.weekday()][hour] += int(getattr(row, name))
        weeks[day - timedelta(days=day.weekday())] += int(row.reports)
    first = filters.start - timedelta(days=filters.start.weekday())
    weekly = []
    monday = first
    while monday <= filters.end:
        weekly.append((monday, weeks.get(monday, 0)))
        monday += timedelta(days=7)
    return Peaks(heatmap, weekly)


# --- Handling ---------------------------------------------------------------------------------------------------


def median_from_buckets(counts: list[int]) -> float | None:
    """The median duration (hours) estimated from bucket counts: linear within the bucket that holds it; in the
    open last bucket its lower edge (shown as "more than")."""
    total = sum(counts)
    if not total:
        return None
    half = total / 2
    seen = 0
    for bucket, count in enumerate(counts):
        if count and seen + count >= half:
            low = STAGE_EDGES[bucket - 1] if bucket else 0.0
            if bucket == len(STAGE_EDGES):
                return float(low)
            high = STAGE_EDGES[bucket]
            return low + (high - low) * (half - seen) / count
        seen += count
    return None


@dataclass
class DepartmentRow:
    department_id: int
    name: str
    dispatched: int
    closed_due: int
    on_time: int
    overdue_open: int
    returned: int
    rework: int
    rated: int
    stars: int
    medians: dict[str, float | None]
    counts: dict[str, int]

    @property
    def late(self) -> int:
        return self.closed_due - self.on_time + self.overdue_open

    @property
    def on_time_rate(self) -> float | None:
        finished_or_late = self.closed_due + self.overdue_open
        return self.on_time / finished_or_late if finished_or_late else None

    @property
    def satisfaction(self) -> float | None:
        return self.stars / self.rated if self.rated else None


HANDLING_COUNTERS = ["reports", "dispatched", "closed_due", "on_time", "returned", "rework", "rated", "stars"]
# Open cases whose deadline can pass (not on the long-term list, which has no deadline).
LATE_STATUSES = OPEN_STATUSES - {ReportStatus.PENDING_REVIEW, ReportStatus.ACCEPTED, ReportStatus.SUSPENDED}
STAGE_NAMES = [f"{stage}_b{bucket}" for stage in STAGES for bucket in range(BUCKETS)]


def overdue_open(filters: Filters, now: datetime | None = None) -> dict[int, int]:
    """Open cases past their deadline now, per department (this changes with the clock, so it is never rolled up)."""
    stmt = (
        sa.select(Report.department_id, sa.func.count())
        .where(
            *_report_where(filters),
            Report.status.in_(sorted(LATE_STATUSES)),
            Report.due_at < (now or utcnow()),
        )
        .group_by(Report.department_id)
    )
    return {int(department or 0): int(n) for department, n in db.session.execute(stmt)}


def handling(filters: Filters, now: datetime | None = None) -> list[DepartmentRow]:
    rows = _sums(filters, HANDLING_COUNTERS + STAGE_NAMES, ["department_id"])
    overdue = overdue_open(filters, now)
    ids = {int(r.department_id) for r in rows} | set(overdue)
    names = {d.id: d.name for d in db.session.scalars(sa.select(Department).where(Department.id.in_(ids)))}
    result = []
    by_id = {int(r.department_id): r for r in rows}
    for department_id in ids:
        row = by_id.get(department_id)
        values = {name: int(getattr(row, name)) if row is not None else 0 for name in HANDLING_COUNTERS + STAGE_NAMES}
        buckets = {stage: [values[f"{stage}_b{b}"] for b in range(BUCKETS)] for stage in STAGES}
        result.append(
            DepartmentRow(
                department_id=department_id,
                name=names.get(department_id) or _("Not dispatched yet"),
                dispatched=values["dispatched"],
                closed_due=values["closed_due"],
                on_time=values["on_time"],
                overdue_open=overdue.get(department_id, 0),
                returned=values["returned"],
                rework=values["rework"],
                rated=values["rated"],
                stars=values["stars"],
                medians={stage: median_from_buckets(buckets[stage]) for stage in STAGES},
                counts={stage: sum(buckets[stage]) for stage in STAGES},
            )
        )
    result.sort(key=lambda r: (r.department_id == 0, -r.dispatched, r.name))
    return result


def exact_medians(filters: Filters) -> dict[str, float | None]:
    """Exact medians of the review and dispatch stages, live (for tests of the bucket estimate)."""
    stages = {
        "review": hours_between(Report.created_at, Report.accepted_at),
        "dispatch": hours_between(Report.accepted_at, Report.dispatched_at),
    }
    result = {}
    for stage, expr in stages.items():
        values = [v for (v,) in db.session.execute(sa.select(expr).where(*_report_where(filters))) if v is not None]
        result[stage] = statistics.median(values) if values else None
    return result


# --- Participation ----------------------------------------------------------------------------------------------


@dataclass
class Participation:
    reports: int
    offline: int
    self_handled: int
    active_residents: int
    new_residents: int
    points_issued: int
    points_redeemed: int
    daily: list[tuple[date, int, int]]  # (day, online, offline)

    @property
    def online(self) -> int:
        return self.reports - self.offline


def active_residents(filters: Filters) -> int:
    stmt = sa.select(sa.func.count(sa.distinct(Report.reporter_id))).where(
        *_report_where(filters), Report.reporter_id.is_not(None)
    )
    return int(db.session.scalar(stmt) or 0)


def new_residents(filters: Filters) -> int:
    start, end = days_bounds(filters.start, filters.end)
    stmt = sa.select(sa.func.count()).where(
        User.created_at >= start, User.created_at < end, User.role.in_([Role.CITIZEN, Role.VOLUNTEER])
    )
    return int(db.session.scalar(stmt) or 0)


def points_moved(start: datetime, end: datetime) -> tuple[int, int]:
    """Points issued to residents (awards net of reversals) and redeemed in the store (net of refunds) in
    [start, end), read from the ledger's resident-account entries."""
    kind = LedgerTransaction.kind
    stmt = (
        sa.select(kind, sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(Account.kind == AccountKind.RESIDENT, LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
        .group_by(kind)
    )
    moved = {TransactionKind(k): int(v) for k, v in db.session.execute(stmt)}
    issued = moved.get(TransactionKind.AWARD, 0) + moved.get(TransactionKind.REVERSAL, 0)
    redeemed = -(moved.get(TransactionKind.REDEMPTION, 0) + moved.get(TransactionKind.REFUND, 0))
    return issued, redeemed


def participation(filters: Filters) -> Participation:
    totals = _sums(filters, ["reports", "offline", "self_handled"])[0]
    days = {
        (r.day if isinstance(r.day, date) else date.fromisoformat(str(r.day))): (int(r.reports), int(r.offline))
        for r in _sums(filters, ["reports", "offline"], ["day"])
    }
    daily = []
    day = filters.start
    while day <= filters.end:
        reports, offline = days.get(day, (0, 0))
        daily.append((day, reports - offline, offline))
        day += timedelta(days=1)
    issued, redeemed = points_moved(*days_bounds(filters.start, filters.end))
    return Participation(
        reports=int(totals.reports),
        offline=int(totals.offline),
        self_handled=int(totals.self_handled),
        active_residents=active_residents(filters),
        new_residents=new_residents(filters),
        points_issued=issued,
        points_redeemed=redeemed,
        daily=daily,
    )


# --- Filter choices ---------------------------------------------------------------------------------------------


@static_cache.cached("places")
def places() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(districts, streets) as (code, name) for the filter form; a copy per process (webapp.cache), bumped by any
    change of a grid."""
    districts = db.session.execute(
        sa.select(Grid.district_code, sa.func.max(Grid.district_name))
        .group_by(Grid.district_code)
        .order_by(Grid.district_code)
    ).all()
    streets = db.session.execute(
        sa.select(Grid.street_code, sa.func.max(Grid.street_name)).group_by(Grid.street_code).order_by(Grid.street_code)
    ).all()
    return tuple((c, n or c) for c, n in districts), tuple((c, n or c) for c, n in streets)


static_cache.bump_on_flush("places", Grid)


@dataclass(frozen=True)
class DepartmentChoice:
    """A department as the filter forms offer it (plain data: kept between requests)."""

    id: int
    code: str
    name_zh: str
    name_en: str

    @property
    def name(self) -> str:
        return (self.name_en or self.name_zh) if is_english() else self.name_zh


@static_cache.cached("departments")
def departments() -> tuple[DepartmentChoice, ...]:
    """The active departments; a copy per process, bumped by any change of a department."""
    return tuple(
        DepartmentChoice(d.id, d.code, d.name_zh, d.name_en)
        for d in db.session.scalars(sa.select(Department).where(Department.active).order_by(Department.code))
    )


static_cache.bump_on_flush("departments", Department)


def previous(filters: Filters) -> Filters:
    """The same filters over the period of equal length just before."""
    return replace(filters, start=filters.start - timedelta(days=filters.days), end=filters.start - timedelta(days=1))
