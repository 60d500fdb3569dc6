"""Unit grids (单元网格): importing them from GeoJSON and finding the grid that contains a point.

Import is all-or-nothing: every feature is checked before anything is written, and the first problem is reported
with the feature's position and code, so an operator can fix the file and run the import again. Grids are never
deleted (reports keep pointing at them); grids missing from a new file can be marked inactive instead.

Lookup goes through ``GridIndex``, an STRtree over prepared polygons kept in memory per process (µs per lookup).
The cached index is rebuilt when this process imports grids and, at most ``VERSION_CHECK_SECONDS`` later, when
another process has changed them (a cheap count + newest ``imported_at`` query detects it). Code that changes
grids by other means should set ``imported_at`` or call ``invalidate_grid_index()``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from flask import current_app
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy.orm import Session

from webapp.accounts.models import Department
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l
from webapp.geo.distance import EARTH_RADIUS_M
from webapp.geo.models import Grid

log = logging.getLogger(__name__)

# How often (seconds) a process asks the database whether the grids changed elsewhere; tests set it to 0.
VERSION_CHECK_SECONDS = 30.0

GRID_CODE_RE = re.compile(r"[0-9]{15}")
# Text properties: (name, maximum length from the model, may be empty).
TEXT_PROPERTIES = (
    ("name", 80, True),
    ("district_name", 40, False),
    ("street_name", 40, False),
    ("community_name", 40, False),
)
POLYGON_TYPES = ("Polygon", "MultiPolygon")


class InvalidGeoJSON(DomainError):
    """A grid file that cannot be imported; nothing was written. ``feature_index`` is 0-based (``features[i]``)."""

    status = 422
    code = "invalid_geojson"
    default_message = _l("The file is not a valid grid GeoJSON file.")

    def __init__(
        self, message: Any = None, *, feature_index: int | None = None, feature_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.feature_index = feature_index
        self.feature_code = feature_code


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    deactivated: int
    unchanged: int = 0  # grids in the file whose stored data was already identical


class _FeatureError(Exception):
    """Internal: a problem with one feature; import_grids adds the feature's index and code."""

    def __init__(self, problem: Any) -> None:
        super().__init__(str(problem))
        self.problem = problem


# --- Import ----------------------------------------------------------------------------------------------------


def import_grids(data: dict[str, Any] | bytes | str, *, deactivate_missing: bool = False) -> ImportResult:
    """Create or update grids from a GeoJSON FeatureCollection; flushes, the caller commits.

    Raises InvalidGeoJSON (and writes nothing) on the first bad feature. Grids absent from the file stay as
    they are, or become inactive with ``deactivate_missing``.
    """
    collection = _parse_collection(data)
    departments = dict(db.session.execute(sa.select(Department.code, Department.id)).tuples().all())
    rows: list[dict[str, Any]] = []
    first_index: dict[str, int] = {}
    for index, feature in enumerate(collection["features"]):
        raw_code = _raw_code(feature)
        try:
            row = _validate_feature(feature, departments)
            if row["code"] in first_index:
                raise _FeatureError(
                    _l("duplicate code, also used by feature %(first)d", first=first_index[row["code"]])
                )
        except _FeatureError as error:
            raise InvalidGeoJSON(
                _l(
                    "feature %(index)d (code %(code)s): %(problem)s",
                    index=index,
                    code=raw_code or "?",
                    problem=error.problem,
                ),
                feature_index=index,
                feature_code=raw_code,
            ) from None
        first_index[row["code"]] = index
        rows.append(row)

    existing = {grid.code: grid for grid in db.session.scalars(sa.select(Grid))}
    now = utcnow()
    created = updated = unchanged = deactivated = 0
    for row in rows:
        grid = existing.get(row["code"])
        if grid is None:
            db.session.add(Grid(**row, active=True, imported_at=now))
            created += 1
            continue
        changes = {key: value for key, value in {**row, "active": True}.items() if getattr(grid, key) != value}
        if not changes:
            unchanged += 1
            continue
        for key, value in changes.items():
            setattr(grid, key, value)
        grid.imported_at = now
        updated += 1
    if deactivate_missing:
        for code, grid in existing.items():
            if code not in first_index and grid.active:
                grid.active = False
                deactivated += 1
    db.session.flush()
    if created or updated or deactivated:
        db.session.info["geo.grids_changed"] = True
        invalidate_grid_index()
    return ImportResult(created=created, updated=updated, deactivated=deactivated, unchanged=unchanged)


def _parse_collection(data: dict[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidGeoJSON(_l("The file is not UTF-8 text.")) from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise InvalidGeoJSON(_l("The file is not valid JSON: %(error)s", error=str(error))) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise InvalidGeoJSON(_l("Expected a GeoJSON FeatureCollection, found %(found)s.", found=_short(found)))
    features = data.get("features")
    if not isinstance(features, list):
        raise InvalidGeoJSON(_l('The FeatureCollection has no "features" list.'))
    if not features:
        raise InvalidGeoJSON(_l("The FeatureCollection has no features."))
    return data


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _raw_code(feature: Any) -> str | None:
    """The feature's code as written, for messages (it may be the invalid part)."""
    properties = feature.get("properties") if isinstance(feature, dict) else None
    code = properties.get("code") if isinstance(properties, dict) else None
    return None if code is None else _short(code)


def _validate_feature(feature: Any, departments: dict[str, int]) -> dict[str, Any]:
    """Check one feature; return the Grid column values or raise _FeatureError."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _FeatureError(_l("not a GeoJSON Feature"))
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        raise _FeatureError(_l("the feature has no properties"))

    def text(name: str) -> str:
        if name not in properties or properties[name] is None:
            raise _FeatureError(_l('property "%(name)s" is missing', name=name))
        value = properties[name]
        if not isinstance(value, str):
            raise _FeatureError(
                _l('property "%(name)s" must be a string, got %(value)s', name=name, value=_short(value))
            )
        return value.strip()

    code = text("code")
    if not GRID_CODE_RE.fullmatch(code):
        raise _FeatureError(_l("code must be exactly 15 digits, got %(value)s", value=_short(code)))
    district_code = text("district_code")
    if district_code != code[:6]:
        raise _FeatureError(
            _l(
                "district_code must be %(expected)s (the first 6 digits of the code), got %(value)s",
                expected=code[:6],
                value=_short(district_code),
            )
        )
    street = _level_code(text("street_code"), code, "street_code", 6, 9)
    community = _level_code(text("community_code"), code, "community_code", 9, 12)
    values: dict[str, Any] = {
        "code": code,
        "district_code": district_code,
        "street_code": street,
        "community_code": community,
    }
    for name, max_length, may_be_empty in TEXT_PROPERTIES:
        value = text(name)
        if not value and not may_be_empty:
            raise _FeatureError(_l('property "%(name)s" is empty', name=name))
        if len(value) > max_length:
            raise _FeatureError(_l('property "%(name)s" is longer than %(max)d characters', name=name, max=max_length))
        values[name] = value

    department = properties.get("department")
    if department in (None, ""):
        values["department_id"] = None
    elif not isinstance(department, str) or department.strip() not in departments:
        raise _FeatureError(_l("department %(value)s does not exist", value=_short(department)))
    else:
        values["department_id"] = departments[department.strip()]

    geometry = _validate_geometry(feature.get("geometry"))
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    values.update(
        geometry=json.dumps(mapping(geometry), separators=(",", ":")),
        min_lat=min_lat,
        max_lat=max_lat,
        min_lon=min_lon,
        max_lon=max_lon,
        area_m2=round(area_m2(geometry), 1),
    )
    return values


def _level_code(value: str, code: str, name: str, start: int, end: int) -> str:
    """Street and community codes: the level's own 3 digits (or the whole prefix); stored as the prefix."""
    if value == code[start:end] or value == code[:end]:
        return code[:end]
    raise _FeatureError(
        _l(
            "%(name)s must be %(expected)s (digits %(first)d–%(last)d of the code), got %(value)s",
            name=name,
            expected=code[start:end],
            first=start + 1,
            last=end,
            value=_short(value),
        )
    )


def _validate_geometry(geometry: Any) -> BaseGeometry:
    if not isinstance(geometry, dict):
        raise _FeatureError(_l("geometry is missing"))
    kind = geometry.get("type")
    if kind not in POLYGON_TYPES:
        raise _FeatureError(
            _l("geometry type %(type)s is not supported; use Polygon or MultiPolygon", type=_short(kind))
        )
    coordinates = geometry.get("coordinates")
    depth = 3 if kind == "Polygon" else 4  # Polygon: rings > positions > numbers
    for position in _positions(coordinates, depth):
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _FeatureError(
                _l(
                    "coordinate %(point)s is out of range: longitude must be within -180..180 and latitude within "
                    "-90..90 (GeoJSON order is [longitude, latitude])",
                    point=_short(position),
                )
            )
    try:
        polygon = shapely.force_2d(shape({"type": kind, "coordinates": coordinates}))
    except (ValueError, TypeError, IndexError, shapely.errors.ShapelyError) as error:
        raise _FeatureError(_l("coordinates are malformed: %(error)s", error=str(error))) from None
    if polygon.is_empty:
        raise _FeatureError(_l("polygon is empty"))
    if not polygon.is_valid:
        reason = explain_validity(polygon)
        if "self-intersection" in reason.lower():
            raise _FeatureError(_l("polygon is self-intersecting: %(reason)s", reason=reason))
        raise _FeatureError(_l("polygon is not valid: %(reason)s", reason=reason))
    if polygon.area <= 0:
        raise _FeatureError(_l("polygon has no area"))
    return polygon


def _positions(value: Any, depth: int) -> Iterable[list[float]]:
    """Yield the [lon, lat(, alt)] positions of nested coordinate arrays, checking their shape on the way."""
    if depth == 1:
        if (
            not isinstance(value, list | tuple)
            or len(value) not in (2, 3)
            or not all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in value)
        ):
            raise _FeatureError(_l("coordinates are malformed: %(value)s is not a position", value=_short(value)))
        yield list(value)
        return
    if not isinstance(value, list | tuple) or not value:
        raise _FeatureError(
            _l("coordinates are malformed: expected a non-empty array, got %(value)s", value=_short(value))
        )
    for item in value:
        yield from _positions(item, depth - 1)


def area_m2(geometry: BaseGeometry) -> float:
    """Area in m² of a lon/lat geometry, projected to local metres around its centroid.

    x = R·cos(lat₀)·Δlon, y = R·Δlat (radians, R the mean Earth radius): an equirectangular projection whose scale
    is exact at the centroid's latitude. Over a grid (100 m) or even a district (10 km) the error is far below
    0.1 %, less than the sphere-vs-ellipsoid difference.
    """
    centre = geometry.centroid
    lon0, lat0 = centre.x, centre.y
    scale = np.array([EARTH_RADIUS_M * math.cos(math.radians(lat0)), EARTH_RADIUS_M]) * (math.pi / 180)
    offset = np.array([lon0, lat0])
    return float(shapely.transform(geometry, lambda xy: (xy - offset) * scale).area)


# --- Lookup ----------------------------------------------------------------------------------------------------


class GridIndex:
    """Point-in-grid lookup over an STRtree of prepared polygons; no database needed to build one.

    A point on a shared border (or where grids overlap) belongs to the grid with the smallest code, so every
    process gives the same answer.
    """

    def __init__(self, items: Iterable[tuple[str, BaseGeometry]]) -> None:
        pairs = sorted((code, geometry) for code, geometry in items if geometry is not None and not geometry.is_empty)
        self._codes: list[str] = [code for code, _ in pairs]
        self._geometries = np.empty(len(pairs), dtype=object)
        self._geometries[:] = [geometry for _, geometry in pairs]
        shapely.prepare(self._geometries)
        if len(pairs):
            # GEOS builds a prepared polygon's point locator lazily on first use, which is not thread-safe;
            # one query per polygon here builds them all before the index is shared between threads.
            shapely.covers(self._geometries, shapely.point_on_surface(self._geometries))
        self._tree = shapely.STRtree(self._geometries)

    @classmethod
    def from_geojson(cls, rows: Iterable[tuple[str, str]]) -> GridIndex:
        """Build from (code, GeoJSON geometry text) pairs as stored in the grids table; bad geometries are skipped."""
        rows = list(rows)
        geometries = shapely.from_geojson([text for _, text in rows], on_invalid="ignore") if rows else []
        items = []
        for (code, _), geometry in zip(rows, geometries, strict=True):
            if geometry is None or geometry.is_empty:
                log.warning("Grid %s has an unreadable geometry; it is left out of the index", code)
                continue
            items.append((code, geometry))
        return cls(items)

    def __len__(self) -> int:
        return len(self._codes)

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the grid containing the point (borders included), or None."""
        if not (math.isfinite(lat) and math.isfinite(lon)) or not self._codes:
            return None
        point = shapely.Point(lon, lat)
        for position in sorted(self._tree.query(point).tolist()):  # bbox candidates, smallest code first
            if self._geometries[position].covers(point):
                return self._codes[position]
        return None

    def locate_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """``locate`` for many points at once (vectorised; for back-filling reports after an import)."""
        if len(lats) != len(lons):
            raise ValueError("lats and lons differ in length")
        result: list[str | None] = [None] * len(lats)
        if not self._codes or not len(lats):
            return result
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        point_index, grid_index = self._tree.query(points, predicate="covered_by")
        order = np.lexsort((grid_index, point_index))  # by point, then smallest grid position (= smallest code)
        point_index, grid_index = point_index[order], grid_index[order]
        first = np.unique(point_index, return_index=True)[1]
        for point, grid in zip(point_index[first].tolist(), grid_index[first].tolist(), strict=True):
            result[point] = self._codes[grid]
        return result


@dataclass
class _IndexCache:
    index: GridIndex | None = None
    token: tuple[Any, ...] | None = None
    generation: int = -1
    checked_at: float = -math.inf

    def __post_init__(self) -> None:
        self.lock = threading.Lock()


_generation = 0  # bumped by invalidate_grid_index(): every cached index re-checks the database on next use
_caches_lock = threading.Lock()


def invalidate_grid_index() -> None:
    """Make every cached index in this process check the database on its next use."""
    global _generation
    _generation += 1


def grid_index() -> GridIndex:
    """The current app's index of active grids, cached in this process and rebuilt when the grids change."""
    extensions = current_app.extensions
    cache: _IndexCache | None = extensions.get("geo.grid_index")
    if cache is None:
        with _caches_lock:
            cache = extensions.setdefault("geo.grid_index", _IndexCache())
    index = cache.index
    if (
        index is not None
        and cache.generation == _generation
        and time.monotonic() - cache.checked_at < VERSION_CHECK_SECONDS
    ):
        return index
    with cache.lock:
        generation = _generation
        token = _grids_version()
        if cache.index is None or token != cache.token:
            rows = db.session.execute(sa.select(Grid.code, Grid.geometry).where(Grid.active)).tuples().all()
            cache.index = GridIndex.from_geojson(rows)
            cache.token = token
        cache.generation = generation
        cache.checked_at = time.monotonic()
        return cache.index


def _grids_version() -> tuple[Any, ...]:
    """A cheap token that changes whenever grids are added, changed (imported_at) or (de)activated."""
    active = sa.func.coalesce(sa.func.sum(sa.case((Grid.active, 1), else_=0)), 0)
    row = db.session.execute(sa.select(sa.func.count(), active, sa.func.max(Grid.imported_at)).select_from(Grid)).one()
    return tuple(row)


def locate(lat: float, lon: float) -> str | None:
    """The code of the active grid containing the point, or None (outside every grid)."""
    return grid_index().locate(lat, lon)


@sa.event.listens_for(Session, "after_commit")
@sa.event.listens_for(Session, "after_rollback")
def _grids_changed_in_session(session: Session) -> None:
    """An import's commit (other threads now see it) or rollback (this one no longer does) changes the grids."""
    if session.info.pop("geo.grids_changed", False):
        invalidate_grid_index()
