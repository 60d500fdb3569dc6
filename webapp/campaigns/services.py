"""Published campaigns: which are public, their area, their cases and the progress of those cases.

A campaign's cases are the reports received during it (its local days, both included), in its categories and in
its places (grid-code prefixes; no places: everywhere) — the same match ``points.awards.active_campaign`` uses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from webapp import cache as static_cache
from webapp.accounts.models import User
from webapp.campaigns.models import CampaignPage
from webapp.db import db, utcnow
from webapp.errors import NotFound
from webapp.geo.models import Grid
from webapp.localtime import local_date, midnight
from webapp.opendata import services as opendata
from webapp.pagination import Page
from webapp.points import campaigns as points_campaigns
from webapp.points.models import Campaign
from webapp.points.store import audit
from webapp.reports.models import Report
from webapp.reports.status import FINAL_STATUSES, ReportStatus

OUTLINE_MAX_GRIDS = 400  # beyond this the area is described in words only
AREA_NAMES_MAX = 30


# --- Publishing ---------------------------------------------------------------------------------------------


def page_of(campaign: Campaign) -> CampaignPage | None:
    return db.session.get(CampaignPage, campaign.id)


def is_published(campaign: Campaign) -> bool:
    page = page_of(campaign)
    return page is not None and page.published


def published_ids() -> set[int]:
    return set(db.session.scalars(sa.select(CampaignPage.campaign_id).where(CampaignPage.published)))


def set_published(admin: User, campaign: Campaign, published: bool) -> CampaignPage:
    """Show or hide a campaign's public page. Audited in the fund's log, like the campaign itself."""
    page = page_of(campaign) or CampaignPage(campaign_id=campaign.id, published=False)
    now = utcnow()
    if published and not page.published:
        page.published_at = now
    page.published = published
    page.updated_by_id = admin.id
    page.updated_at = now
    db.session.add(page)
    static_cache.bump("campaigns")
    audit(admin, "campaign_published" if published else "campaign_unpublished", campaign=campaign.id)
    db.session.flush()
    return page


def _published_query() -> sa.Select[tuple[Campaign]]:
    return (
        sa.select(Campaign)
        .join(CampaignPage, CampaignPage.campaign_id == Campaign.id)
        .where(CampaignPage.published)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    )


@dataclass(frozen=True)
class PublishedCampaign:
    """A published campaign as the listing, the home page and the report form show it (the process's copy)."""

    id: int
    name: str
    description: str
    categories: tuple[str, ...]
    places: tuple[str, ...]
    starts_on: date
    ends_on: date
    multiplier: int
    budget_points: int


@static_cache.cached("campaigns")
def published_campaigns() -> tuple[PublishedCampaign, ...]:
    """Every published campaign, newest first; kept per process until one is published, hidden or created."""
    return tuple(
        PublishedCampaign(
            id=c.id,
            name=c.name,
            description=c.description,
            categories=tuple(c.categories),
            places=tuple(c.places),
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            multiplier=c.multiplier,
            budget_points=c.budget_points,
        )
        for c in db.session.scalars(_published_query())
    )


@dataclass(frozen=True)
class Listing:
    current: list[PublishedCampaign]
    upcoming: list[PublishedCampaign]
    past: list[PublishedCampaign]


def public_campaigns(today: date | None = None) -> Listing:
    today = today or local_date(utcnow())
    current: list[PublishedCampaign] = []
    upcoming: list[PublishedCampaign] = []
    past: list[PublishedCampaign] = []
    for campaign in published_campaigns():
        state = points_campaigns.status(campaign, today)  # type: ignore[arg-type]
        {"active": current, "scheduled": upcoming, "ended": past}[state].append(campaign)
    upcoming.reverse()  # the soonest first
    return Listing(current, upcoming, past)


def current_public(today: date | None = None, limit: int = 3) -> list[PublishedCampaign]:
    """Published campaigns running today, for the home page and the report form."""
    today = today or local_date(utcnow())
    return [c for c in published_campaigns() if c.starts_on <= today <= c.ends_on][:limit]


def get_public(campaign_id: int) -> Campaign:
    """A published campaign, or NotFound (unpublished ones do not exist for the public)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not is_published(campaign):
        raise NotFound()
    return campaign


# --- Cases --------------------------------------------------------------------------------------------------


def case_where(campaign: Campaign) -> list[Any]:
    clauses: list[Any] = [
        Report.category_code.in_(campaign.categories),
        Report.created_at >= midnight(campaign.starts_on),
        Report.created_at < midnight(campaign.ends_on + timedelta(days=1)),
    ]
    if campaign.places:
        clauses.append(sa.or_(*(Report.grid_code.startswith(prefix, autoescape=True) for prefix in campaign.places)))
    return clauses


@dataclass(frozen=True)
class Progress:
    received: int  # every report of the campaign's kind, place and days
    waiting: int  # waiting for review
    in_progress: int  # accepted and not closed yet
    closed: int
    not_accepted: int  # rejected by the review team (duplicates, not a city matter …)
    closed_due: int  # closed cases that had a deadline
    on_time: int  # … closed by it

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.closed_due if self.closed_due else None

    def bar(self, width: int = 300) -> list[tuple[str, int, float, float]]:
        """Segments of a stacked bar: (kind, count, x, width) for the non-empty parts, in display order."""
        parts = [
            ("closed", self.closed),
            ("in_progress", self.in_progress),
            ("waiting", self.waiting),
            ("not_accepted", self.not_accepted),
        ]
        total = sum(n for _, n in parts)
        x = 0.0
        result = []
        for kind, n in parts:
            if n and total:
                w = width * n / total
                result.append((kind, n, round(x, 2), round(w, 2)))
                x += w
        return result


def progress(campaign: Campaign) -> Progress:
    where = case_where(campaign)
    by_status = dict(
        db.session.execute(sa.select(Report.status, sa.func.count()).where(*where).group_by(Report.status)).all()
    )
    closed_due, on_time = db.session.execute(
        sa.select(
            sa.func.count(Report.id),
            sa.func.count(Report.id).filter(Report.closed_at <= Report.due_at),
        ).where(*where, Report.status == ReportStatus.CLOSED, Report.due_at.is_not(None))
    ).one()
    waiting = by_status.get(ReportStatus.PENDING_REVIEW, 0)
    closed = by_status.get(ReportStatus.CLOSED, 0)
    not_accepted = by_status.get(ReportStatus.REJECTED, 0)
    in_progress = sum(n for status, n in by_status.items() if status not in FINAL_STATUSES) - waiting
    return Progress(
        received=sum(by_status.values()),
        waiting=waiting,
        in_progress=in_progress,
        closed=closed,
        not_accepted=not_accepted,
        closed_due=closed_due or 0,
        on_time=on_time or 0,
    )


FIGURES_SECONDS = 120  # progress and area of a public campaign page, kept per process (webapp.cache.remember)


def public_progress(campaign: Campaign) -> Progress:
    return static_cache.remember("campaign-progress", FIGURES_SECONDS, campaign.id, lambda: progress(campaign))


def public_area(campaign: Campaign) -> Area:
    return static_cache.remember("campaign-area", FIGURES_SECONDS, campaign.id, lambda: area(campaign))


def cases(campaign: Campaign, page: int, per_page: int = 10) -> Page[opendata.PublicReport]:
    """The campaign's published cases, newest first, as open data shows them."""
    return opendata.page_of([*case_where(campaign), Report.status.not_in(opendata.UNPUBLISHED)], page, per_page)


# --- Area ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    everywhere: bool
    grid_count: int
    names: list[tuple[str, int]]  # (street community, its grids), or (grid, 1) for a few grids
    view_box: str
    paths: list[str]  # SVG path data of the grids' outlines, empty when there are too many or none


def _grids_where(prefixes: list[str]) -> Any:
    return sa.and_(Grid.active, sa.or_(*(Grid.code.startswith(prefix, autoescape=True) for prefix in prefixes)))


def _rings(geometry: str) -> list[list[list[float]]]:
    data = json.loads(geometry)
    polygons = data["coordinates"] if data.get("type") == "MultiPolygon" else [data.get("coordinates", [])]
    return [polygon[0] for polygon in polygons if polygon]


def area(campaign: Campaign) -> Area:
    if not campaign.places:
        return Area(True, 0, [], "", [])
    where = _grids_where(campaign.places)
    grid_count = db.session.scalar(sa.select(sa.func.count()).select_from(Grid).where(where)) or 0
    if grid_count <= 5:
        names = [(grid.label, 1) for grid in db.session.scalars(sa.select(Grid).where(where).order_by(Grid.code))]
    else:
        rows = db.session.execute(
            sa.select(Grid.street_name, Grid.community_name, sa.func.count())
            .where(where)
            .group_by(Grid.street_name, Grid.community_name)
            .order_by(Grid.street_name, Grid.community_name)
            .limit(AREA_NAMES_MAX)
        )
        names = [(" ".join(p for p in (street, community) if p), n) for street, community, n in rows]
    if not 0 < grid_count <= OUTLINE_MAX_GRIDS:
        return Area(False, grid_count, names, "", [])
    rings = [
        ring for geometry in db.session.scalars(sa.select(Grid.geometry).where(where)) for ring in _rings(geometry)
    ]
    view_box, paths = outline(rings)
    return Area(False, grid_count, names, view_box, paths)


def outline(rings: list[list[list[float]]], width: float = 300) -> tuple[str, list[str]]:
    """SVG path data for lon/lat rings, north up, scaled to ``width`` (east–west distances true at mid-latitude)."""
    points = [point for ring in rings for point in ring]
    if not points:
        return "", []
    min_lon = min(p[0] for p in points)
    max_lon = max(p[0] for p in points)
    min_lat = min(p[1] for p in points)
    max_lat = max(p[1] for p in points)
    squeeze = math.cos(math.radians((min_lat + max_lat) / 2))
    span = max((max_lon - min_lon) * squeeze, max_lat - min_lat, 1e-9)
    scale = width / span
    height = max((max_lat - min_lat) * scale, 1.0)
    real_width = max((max_lon - min_lon) * squeeze * scale, 1.0)
    paths = []
    for ring in rings:
        coords = [f"{(lon - min_lon) * squeeze * scale:.1f},{(max_lat - lat) * scale:.1f}" for lon, lat, *_ in ring]
        paths.append("M" + "L".join(coords) + "Z")
    pad = 2
    return f"{-pad} {-pad} {real_width + 2 * pad:.1f} {height + 2 * pad:.1f}", paths
