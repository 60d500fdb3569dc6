"""What of a report may be published, in one place: the open-data page, its map, JSON and CSV downloads, the
public campaign pages and Open311 all read reports through ``public_location`` and ``is_sensitive``; the report
pages and ``/api/v1/reports/<id>`` through ``shown_in_full``.

The rule
--------
* A report in a *sensitive* category (``Category.sensitive``, set in data/categories.json) points at a person,
  a home or a neighbour, or at a security installation. Published, its position is snapped to the centre of a
  ~500 m cell (``coarsen``), and its address, grid, community, description and photos are left out; the district
  and street stay.
* Every other report keeps its position (rounded to 5 decimals, about 1 m), address, description (with anything
  that looks like a phone or ID number masked) and its EXIF-free display photos.
* Safety-critical categories (gas leaks, open manholes …) are *not* coarsened unless listed: their exact place is
  in public space and warns people away from a hazard.
* Nothing about the reporter is published: no name, phone, account or device.
* Photos get a public (cacheable, presigned) URL only when ``photos_public``: the report was accepted by the review
  team and is not sensitive. Everyone else's view of a photo is streamed through the app after ``shown_in_full``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from webapp.reports import category_facts
from webapp.reports.status import ReportStatus

CELL_M = 500  # the side of the coarsening cell, in metres
_METRES_PER_DEGREE_LAT = 111_320.0
_CELL_LAT = CELL_M / _METRES_PER_DEGREE_LAT
# Runs of 7 or more digits (spaces or hyphens between them allowed): phone numbers, ID-card and plate numbers.
_NUMBER = re.compile(r"\d(?:[\s-]?\d){6,}[\dXx]?")


def is_sensitive(category_code: str | None) -> bool:
    """The category's ``sensitive`` fact (``Category.sensitive``), read from the category data file."""
    return category_facts.facts(category_code).sensitive


def sensitive_categories() -> frozenset[str]:
    """The codes of the sensitive categories (``"sensitive": true`` in data/categories.json)."""
    return category_facts.sensitive_codes()


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


def public_location(category_code: str | None, lat: float | None, lon: float | None, address: str) -> PublicLocation:
    """Where a report may be shown to the public (see the module's rule)."""
    if lat is None or lon is None:
        lat = lon = None
    if is_sensitive(category_code):
        if lat is not None and lon is not None:
            lat, lon = coarsen(lat, lon)
        return PublicLocation(lat, lon, "", True)
    if lat is not None and lon is not None:
        lat, lon = round(lat, 5), round(lon, 5)
    return PublicLocation(lat, lon, address or "", False)


def public_description(category_code: str | None, description: str) -> str:
    """The description for open data: none for sensitive categories; numbers that could reach a person masked."""
    if is_sensitive(category_code):
        return ""
    return _NUMBER.sub("***", description or "")


def shown_in_full(report: Any, viewer: Any) -> bool:
    """Whether a report page may show this viewer the exact place, the description and the photos.

    Reports of sensitive categories show them only to their reporter and to staff; everyone else sees the category,
    the status, the progress and the coarsened place, as in the open data.
    """
    if not is_sensitive(report.category_code):
        return True
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    return viewer.id == report.reporter_id or viewer.role.is_staff


def photos_public(report: Any) -> bool:
    """Whether a report's photos may be given a URL that works without the app (a presigned object-store URL, a
    year-long public cache): accepted by the review team (not waiting for review, not refused) and not sensitive.
    Photos of other reports are streamed through the app to whoever ``shown_in_full`` allows."""
    if is_sensitive(report.category_code):
        return False
    return report.status not in (ReportStatus.PENDING_REVIEW, ReportStatus.REJECTED)
