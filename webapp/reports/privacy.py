"""What of a report a viewer may see, in one place. Every surface that shows a report outside the staff side asks
this module: the report pages and list (and their share preview), ``/api/v1/reports``, Open311 GeoReport v2 (list
and detail, JSON and XML), the open-data page, map, JSON/CSV/GeoJSON downloads, the campaign pages, ``/media/``
and the notifications sent to followers.

The rule
--------
* The reporter and the city's staff see everything (``view`` → ``ReportView.privileged``).
* Everyone else (anonymous visitors, other residents) sees a report **in full only once the review team has
  accepted it** (``is_reviewed``) **and when its category is not sensitive** (``is_sensitive``): the position
  (rounded to 5 decimals, about 1 m), the address, the description and the timeline notes with anything that
  looks like a phone or ID-card number masked (``mask_numbers``), and the EXIF-free display photos.
* Otherwise (waiting for review, not accepted, or a sensitive category) they see the category, the status, the
  progress steps and a coarse place: the centre of a ~500 m cell (``coarsen``), district and street. No address,
  grid, community, description, notes or photos; ``/media/`` refuses its photos to them. Distances to it
  ("is it one of these?" while reporting) are worked out from that coarse place only (``distance_seen``).
* A *sensitive* category (``Category.sensitive``, set in data/categories.json) points at a person, a home or a
  neighbour, or at a security installation. Whether a category is sensitive is asked through ``is_sensitive(code)``
  only.
* Safety-critical categories (gas leaks, open manholes …) are *not* sensitive unless listed: their exact place is
  in public space and warns people away from a hazard.
* Nothing about the reporter is published: no name (unless they chose to show it), phone, account or device.
* Photos get a URL that works without the app (presigned, a year-long public cache) only when
  ``photos_public``; everyone else's view of a photo is streamed through the app after ``photo_access``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from webapp.geo.distance import haversine_m
from webapp.reports import category_facts
from webapp.reports.status import ReportStatus

CELL_M = 500  # the side of the coarsening cell, in metres
_METRES_PER_DEGREE_LAT = 111_320.0
_CELL_LAT = CELL_M / _METRES_PER_DEGREE_LAT
# How far a report's real place may be from the centre of its cell: half the cell's diagonal (354 m), rounded up.
CELL_REACH_M = 360
# Runs of 7 or more digits (spaces or hyphens between them allowed): phone numbers, ID-card and plate numbers.
_NUMBER = re.compile(r"\d(?:[\s-]?\d){6,}[\dXx]?")


def is_sensitive(category_code: str | None) -> bool:
    """The category's ``sensitive`` fact (``Category.sensitive``), read from the category data file."""
    return category_facts.facts(category_code).sensitive


def sensitive_categories() -> frozenset[str]:
    """The codes of the sensitive categories (``"sensitive": true`` in data/categories.json)."""
    return category_facts.sensitive_codes()


# Reports the review team has not accepted (yet): waiting for review, or refused (duplicates, not city business…).
UNREVIEWED_STATUSES: frozenset[ReportStatus] = frozenset({ReportStatus.PENDING_REVIEW, ReportStatus.REJECTED})


def is_reviewed(status: ReportStatus | str) -> bool:
    """Whether a report in this status was accepted by the review team (its details may then be public)."""
    return ReportStatus(status) not in UNREVIEWED_STATUSES


def is_published(category_code: str | None, status: ReportStatus | str) -> bool:
    """Whether the public may see a report's details: accepted by review and not of a sensitive category."""
    return is_reviewed(status) and not is_sensitive(category_code)


def mask_numbers(text: str | None) -> str:
    """Runs of 7+ digits (phone, ID-card, plate numbers; spaces or hyphens between digits) become ``***``."""
    return _NUMBER.sub("***", text or "")


def coarsen(lat: float, lon: float) -> tuple[float, float]:
    """The centre of the ~500 m cell holding (lat, lon).

    Rows of cells are ``CELL_M`` high; within a row the cells are ``CELL_M`` wide at the row's middle latitude, so
    every point of a cell maps to the same centre and no point moves by more than about 360 m.
    """
    row = math.floor(lat / _CELL_LAT)
    centre_lat = (row + 0.5) * _CELL_LAT
    cell_lon = _CELL_LAT / max(math.cos(math.radians(centre_lat)), 0.01)
    column = math.floor(lon / cell_lon)
    centre_lon = (column + 0.5) * cell_lon
    return round(centre_lat, 5), round(centre_lon, 5)


@dataclass(frozen=True)
class PublicLocation:
    lat: float | None
    lon: float | None
    address: str
    coarsened: bool


def public_location(
    category_code: str | None,
    lat: float | None,
    lon: float | None,
    address: str,
    status: ReportStatus | str = ReportStatus.ACCEPTED,
) -> PublicLocation:
    """Where a report may be shown to the public (see the module's rule)."""
    if lat is None or lon is None:
        lat = lon = None
    if not is_published(category_code, status):
        if lat is not None and lon is not None:
            lat, lon = coarsen(lat, lon)
        return PublicLocation(lat, lon, "", True)
    if lat is not None and lon is not None:
        lat, lon = round(lat, 5), round(lon, 5)
    return PublicLocation(lat, lon, mask_numbers(address), False)


def public_description(
    category_code: str | None, description: str, status: ReportStatus | str = ReportStatus.ACCEPTED
) -> str:
    """The description for the public: none unless published; numbers that could reach a person masked."""
    if not is_published(category_code, status):
        return ""
    return mask_numbers(description)


def is_privileged(report: Any, viewer: Any) -> bool:
    """The reporter and the city's staff see a report as it was sent."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    return viewer.id == report.reporter_id or viewer.role.is_staff


@dataclass(frozen=True)
class ReportView:
    """What one viewer may see of one report. ``full``: the exact place, the description and the photos."""

    privileged: bool
    full: bool
    lat: float | None
    lon: float | None
    address: str
    description: str
    coarsened: bool
    # Why the details are withheld: "sensitive" (the category), "unreviewed" (not accepted by review yet) or "".
    reason: str = ""

    @property
    def photos(self) -> bool:
        return self.full

    def note(self, text: str | None) -> str:
        """A timeline note as this viewer may read it."""
        if self.privileged:
            return text or ""
        return mask_numbers(text) if self.full else ""


def view(report: Any, viewer: Any) -> ReportView:
    """What ``viewer`` (a user, or None for an anonymous visitor) may see of ``report``."""
    if is_privileged(report, viewer):
        return ReportView(True, True, report.lat, report.lon, report.address or "", report.description or "", False)
    place = public_location(report.category_code, report.lat, report.lon, report.address, report.status)
    description = public_description(report.category_code, report.description, report.status)
    reason = "sensitive" if is_sensitive(report.category_code) else "" if is_reviewed(report.status) else "unreviewed"
    return ReportView(
        False, not place.coarsened, place.lat, place.lon, place.address, description, place.coarsened, reason
    )


def viewer_class(viewer: Any) -> str | None:
    """The class of viewers who see every report alike (``view`` gives them the same for any report), so that a
    page rendered for one of them may be shown to the others: "public" for anonymous visitors. None for a
    logged-in user, who may be a report's reporter or staff (``is_privileged``) and sees pages of their own."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return "public"
    return None


def shown_in_full(report: Any, viewer: Any) -> bool:
    """Whether this viewer may see the exact place, the description and the photos of ``report``."""
    return view(report, viewer).full


@dataclass(frozen=True)
class SeenDistance:
    """How far a position is from a report as one viewer may know it: ``metres`` exactly when the viewer may see
    the exact place, otherwise None and ``within_m``, an upper bound in whole cells (500, 1000 m)."""

    metres: float | None
    within_m: int = 0


def distance_seen(report: Any, viewer: Any, lat: float, lon: float, radius_m: float) -> SeenDistance | None:
    """How far (lat, lon) is from ``report`` as ``viewer`` may know it; None when it is not within ``radius_m``.

    For a place hidden from this viewer, anything worked out from the exact place leaks it to someone who asks from
    positions of their choice: a distance, its rounding, a rank among others, even whether the report is listed at
    all (the edge of the radius circle). So only the public cell centre is used: the report is listed when its real
    place could be within ``radius_m`` (no duplicate is missed), with an upper bound instead of a distance, and the
    caller orders such reports by that bound and something not spatial.
    """
    seen = view(report, viewer)
    if seen.lat is None or seen.lon is None:
        return None
    metres = haversine_m(lat, lon, seen.lat, seen.lon)
    if seen.full:
        return SeenDistance(metres) if metres <= radius_m else None
    if metres - CELL_REACH_M > radius_m:
        return None
    return SeenDistance(None, math.ceil((metres + CELL_REACH_M) / CELL_M) * CELL_M)


def photos_public(report: Any) -> bool:
    """Whether a report's photos may get a URL that works without the app (a presigned object-store URL, a
    year-long public cache): the public sees the report in full."""
    return is_published(report.category_code, report.status)


def photo_access(report: Any, viewer: Any) -> str | None:
    """How ``/media/`` may serve a photo of ``report`` to ``viewer``: "public" (any cache), "private" (this
    viewer only, never a shared cache) or None (not at all)."""
    if photos_public(report):
        return "public"
    return "private" if is_privileged(report, viewer) else None
