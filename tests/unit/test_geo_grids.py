"""Unit grids: GeoJSON import (all or nothing, upsert), point lookup, index caching, the demo file and the CLI."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import shapely
import sqlalchemy as sa
from flask_babel import force_locale

from webapp.accounts.models import Department
from webapp.db import db, utcnow
from webapp.geo import services as geo
from webapp.geo.models import Grid
from webapp.geo.services import GridIndex, ImportResult, InvalidGeoJSON, import_grids, locate

DEMO_FILE = Path(geo.__file__).parent / "data" / "demo_grids.geojson"
DEMO_REPORT_POINTS = [
    (37.8601, 112.5180),
    (37.8553, 112.5232),
    (37.8528, 112.5105),
    (37.8579, 112.5264),
    (37.8612, 112.5221),
    (37.8541, 112.5159),
]
# A 100 m step near 太原 (37.86° N), in degrees.
LAT0, LON0 = 37.86, 112.51
DLAT = 100 / 111_195
DLON = 100 / (111_195 * math.cos(math.radians(LAT0)))
CODE_A, CODE_B, CODE_C = "140109001001001", "140109001001002", "140109001001003"


def square(col: int, row: int = 0, *, cols: int = 1) -> dict[str, Any]:
    """A ~100 m (x cols) grid cell at lattice position (col, row) east/north of (LAT0, LON0); counter-clockwise."""
    west, south = LON0 + col * DLON, LAT0 + row * DLAT
    east, north = west + cols * DLON, south + DLAT
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(grid_code: str, geometry: dict[str, Any] | None = None, /, **properties: Any) -> dict[str, Any]:
    """A valid feature for ``grid_code`` (by default the cell at column sequence - 1); properties override."""
    values = {
        "code": grid_code,
        "name": f"第{grid_code[-3:]}网格",
        "district_code": grid_code[:6],
        "district_name": "万柏林区",
        "street_code": grid_code[6:9],
        "street_name": "千峰街道",
        "community_code": grid_code[9:12],
        "community_name": "长风西社区",
        "department": "JD-QF",
    }
    values.update(properties)
    return {"type": "Feature", "properties": values, "geometry": geometry or square(int(grid_code[-3:]) - 1)}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def add_departments(*codes: str) -> dict[str, Department]:
    departments = {code: Department(code=code, name_zh=f"{code} 街道办") for code in codes}
    db.session.add_all(departments.values())
    db.session.flush()
    return departments


def grids_snapshot() -> list[tuple[Any, ...]]:
    rows = db.session.execute(sa.select(Grid.code, Grid.name, Grid.geometry, Grid.active).order_by(Grid.code))
    return [tuple(row) for row in rows]


def english(message: Any) -> str:
    with force_locale("en"):
        return str(message)


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Each test sees the database as it is now (interval 0), and leaves no cached index behind for later tests."""
    monkeypatch.setattr(geo, "VERSION_CHECK_SECONDS", 0.0)
    geo.invalidate_grid_index()
    yield
    geo.invalidate_grid_index()


# --- Import ----------------------------------------------------------------------------------------------------


def test_import_creates_grids_with_derived_fields(ctx):
    departments = add_departments("JD-QF")
    result = import_grids(collection(feature(CODE_A), feature(CODE_B, department=None)))
    assert result == ImportResult(created=2, updated=0, deactivated=0, unchanged=0)

    grid = db.session.get(Grid, CODE_A)
    assert grid.name == "第001网格" and grid.active
    assert (grid.district_code, grid.street_code, grid.community_code) == ("140109", "140109001", "140109001001")
    assert (grid.district_name, grid.street_name, grid.community_name) == ("万柏林区", "千峰街道", "长风西社区")
    assert grid.department_id == departments["JD-QF"].id
    assert db.session.get(Grid, CODE_B).department_id is None
    assert grid.min_lat == pytest.approx(LAT0) and grid.max_lat == pytest.approx(LAT0 + DLAT)
    assert grid.min_lon == pytest.approx(LON0) and grid.max_lon == pytest.approx(LON0 + DLON)
    assert grid.area_m2 == pytest.approx(10_000, rel=0.01)
    assert json.loads(grid.geometry)["type"] == "Polygon"
    assert grid.imported_at is not None


def test_import_accepts_bytes_text_multipolygon_and_full_level_codes(ctx):
    add_departments("JD-QF")
    multi = {
        "type": "MultiPolygon",
        "coordinates": [square(0)["coordinates"], square(2)["coordinates"]],
    }
    data = collection(feature(CODE_A, multi, street_code="140109001", community_code="140109001001"))
    assert import_grids(json.dumps(data).encode("utf-8")).created == 1
    grid = db.session.get(Grid, CODE_A)
    assert grid.area_m2 == pytest.approx(20_000, rel=0.01)
    assert grid.street_code == "140109001" and grid.community_code == "140109001001"
    assert import_grids(json.dumps(data, ensure_ascii=False)).unchanged == 1


def test_reimport_updates_by_code_and_counts_changes(ctx):
    add_departments("JD-QF", "JD-XH")
    import_grids(collection(feature(CODE_A), feature(CODE_B)))
    first_imported = db.session.get(Grid, CODE_B).imported_at

    result = import_grids(
        collection(
            feature(CODE_A, name="新名字", department="JD-XH"),  # changed
            feature(CODE_B),  # identical
            feature(CODE_C),  # new
        )
    )
    assert result == ImportResult(created=1, updated=1, deactivated=0, unchanged=1)
    grid = db.session.get(Grid, CODE_A)
    assert grid.name == "新名字" and grid.department.code == "JD-XH"
    assert db.session.get(Grid, CODE_B).imported_at == first_imported
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Grid)) == 3


def test_grids_missing_from_the_file_are_kept_or_deactivated(ctx):
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A), feature(CODE_B), feature(CODE_C)))

    kept = import_grids(collection(feature(CODE_A)))
    assert kept.deactivated == 0 and db.session.get(Grid, CODE_C).active

    result = import_grids(collection(feature(CODE_A)), deactivate_missing=True)
    assert result == ImportResult(created=0, updated=0, deactivated=2, unchanged=1)
    assert not db.session.get(Grid, CODE_B).active and not db.session.get(Grid, CODE_C).active
    assert locate(LAT0 + DLAT / 2, LON0 + 2.5 * DLON) is None  # inside grid C, now inactive

    again = import_grids(collection(feature(CODE_C)))  # a grid in the file becomes active again
    assert again.updated == 1 and db.session.get(Grid, CODE_C).active
    assert locate(LAT0 + DLAT / 2, LON0 + 2.5 * DLON) == CODE_C


def _without(name: str) -> dict[str, Any]:
    bad = feature(CODE_B)
    del bad["properties"][name]
    return bad


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[LON0, LAT0], [LON0 + DLON, LAT0 + DLAT], [LON0 + DLON, LAT0], [LON0, LAT0 + DLAT], [LON0, LAT0]]],
}
SWAPPED = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in square(1)["coordinates"][0]]]}

# (what is wrong, the second feature of the file, a fragment of the English message)
SLIVER = {"type": "Polygon", "coordinates": [[[1, 1], [2, 2], [1, 1]]]}
BAD_FEATURES = [
    ("missing property", _without("street_name"), 'property "street_name" is missing'),
    ("bad code length", feature(CODE_B, code="14010900100100"), "exactly 15 digits"),
    ("code with letters", feature(CODE_B, code="14010900100100X"), "exactly 15 digits"),
    ("code not text", feature(CODE_B, code=140109001001002), "must be a string"),
    ("district mismatch", feature(CODE_B, district_code="140105"), "district_code must be 140109"),
    ("street mismatch", feature(CODE_B, street_code="002"), "street_code must be 001"),
    ("community mismatch", feature(CODE_B, community_code="0011"), "community_code must be 001"),
    ("empty street name", feature(CODE_B, street_name="  "), 'property "street_name" is empty'),
    ("name too long", feature(CODE_B, name="网" * 81), "longer than 80"),
    ("unknown department", feature(CODE_B, department="JD-NONE"), "department JD-NONE does not exist"),
    ("self-intersecting", feature(CODE_B, BOWTIE), "polygon is self-intersecting: "),
    ("point", feature(CODE_B, {"type": "Point", "coordinates": [LON0, LAT0]}), "geometry type Point"),
    ("no geometry", {**feature(CODE_B), "geometry": None}, "geometry is missing"),
    ("lat/lon swapped", feature(CODE_B, SWAPPED), "out of range"),
    ("malformed coordinates", feature(CODE_B, {"type": "Polygon", "coordinates": [[[1, "a"]]]}), "malformed"),
    ("too few points", feature(CODE_B, SLIVER), "not valid: Too few points"),
    ("duplicate code", feature(CODE_A, square(5)), "duplicate code, also used by feature 0"),
    ("not a feature", {"type": "Polygon", "coordinates": []}, "not a GeoJSON Feature"),
]


@pytest.mark.parametrize(("bad", "fragment"), [case[1:] for case in BAD_FEATURES], ids=[c[0] for c in BAD_FEATURES])
def test_a_bad_feature_is_named_and_nothing_is_written(ctx, bad, fragment):
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A)))
    before = grids_snapshot()

    # The first feature would update A; the second is bad; the third would create C.
    data = collection(feature(CODE_A, name="改过的名字"), copy.deepcopy(bad), feature(CODE_C))
    with pytest.raises(InvalidGeoJSON) as raised:
        import_grids(data)

    error = raised.value
    assert error.status == 422 and error.code == "invalid_geojson" and error.feature_index == 1
    message = english(error.message)
    assert message.startswith("feature 1 (code "), message
    code = bad.get("properties", {}).get("code")
    if isinstance(code, str):
        assert f"(code {code})" in message and error.feature_code == code
    assert fragment in message, message
    assert grids_snapshot() == before


def test_self_intersection_message_says_where(ctx):
    add_departments("JD-QF")
    with pytest.raises(InvalidGeoJSON) as raised:
        import_grids(collection(feature(CODE_A), feature(CODE_B), feature(CODE_C, BOWTIE)))
    message = english(raised.value.message)
    assert message.startswith(f"feature 2 (code {CODE_C}): polygon is self-intersecting: Self-intersection[")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"type": "FeatureCollection", "features": [', "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ("[]", "found list"),
        ({"type": "Feature", "properties": {}, "geometry": None}, "found Feature"),
        ({"type": "FeatureCollection", "features": []}, "has no features"),
        ({"type": "FeatureCollection"}, 'no "features" list'),
    ],
    ids=["bad JSON", "not UTF-8", "array", "a single feature", "empty", "no features member"],
)
def test_a_bad_file_is_refused(ctx, data, fragment):
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A)))
    before = grids_snapshot()
    with pytest.raises(InvalidGeoJSON) as raised:
        import_grids(data)
    assert raised.value.feature_index is None
    assert fragment in english(raised.value.message)
    assert grids_snapshot() == before


# --- Lookup ----------------------------------------------------------------------------------------------------


def test_locate_inside_outside_and_on_borders(ctx):
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A), feature(CODE_B), feature(CODE_C)))
    assert locate(LAT0 + DLAT / 2, LON0 + DLON / 2) == CODE_A
    assert locate(LAT0 + DLAT / 2, LON0 + 1.5 * DLON) == CODE_B
    assert locate(LAT0 + 2 * DLAT, LON0 + DLON / 2) is None  # north of the row
    assert locate(LAT0 + DLAT / 2, LON0 - DLON / 2) is None  # west of it
    assert locate(math.nan, LON0) is None
    # The border between A and B belongs to the smaller code; the outer edge to the only grid there.
    border_lon = json.loads(db.session.get(Grid, CODE_B).geometry)["coordinates"][0][0][0]
    assert locate(LAT0 + DLAT / 2, border_lon) == CODE_A
    assert locate(LAT0, LON0 + 2.5 * DLON) == CODE_C


def test_shared_border_and_corner_are_deterministic():
    """Same answer whatever order the grids come in: the smallest code covering the point wins."""
    cells = {
        "140109001001001": (0, 1),
        "140109001001002": (1, 1),
        "140109001001003": (0, 0),
        "140109001001004": (1, 0),
    }
    items = [(code, shapely.geometry.shape(square(col, row))) for code, (col, row) in cells.items()]
    corner = (LAT0 + DLAT, LON0 + DLON)  # shared by all four
    lower_border = (LAT0 + DLAT / 2, LON0 + DLON)  # between 003 (west) and 004 (east)
    for ordering in (items, items[::-1], items[1:] + items[:1]):
        index = GridIndex(ordering)
        assert len(index) == 4
        assert index.locate(*corner) == "140109001001001"
        assert index.locate(*lower_border) == "140109001001003"
    assert len(GridIndex([])) == 0 and GridIndex([]).locate(*corner) is None


def test_locate_many_agrees_with_locate():
    items = [(f"140109001001{n:03d}", shapely.geometry.shape(square(n % 5, n // 5))) for n in range(1, 26)]
    index = GridIndex(items)
    lats = [LAT0 + i * DLAT / 3 for i in range(-2, 20)]
    lons = [LON0 + i * DLON / 2 for i in range(-2, 20)]
    assert index.locate_many(lats, lons) == [index.locate(lat, lon) for lat, lon in zip(lats, lons, strict=True)]
    assert index.locate_many([], []) == []


def test_index_is_rebuilt_after_an_import_in_this_process(ctx, monkeypatch):
    monkeypatch.setattr(geo, "VERSION_CHECK_SECONDS", 3600.0)  # only the import itself can refresh it
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A)))
    point = (LAT0 + DLAT / 2, LON0 + 5.5 * DLON)
    assert locate(*point) is None
    before = geo.grid_index()
    assert len(before) == 1

    import_grids(collection(feature(CODE_A, square(5))))  # grid A moves over the point
    assert locate(*point) == CODE_A
    assert geo.grid_index() is not before

    unchanged = geo.grid_index()
    assert import_grids(collection(feature(CODE_A, square(5)))).unchanged == 1
    assert geo.grid_index() is unchanged  # nothing changed, nothing rebuilt


def test_index_notices_changes_from_another_process_after_the_interval(ctx, monkeypatch):
    add_departments("JD-QF")
    import_grids(collection(feature(CODE_A)))
    point = (LAT0 + DLAT / 2, LON0 + 5.5 * DLON)
    monkeypatch.setattr(geo, "VERSION_CHECK_SECONDS", 3600.0)
    assert locate(*point) is None
    # Another process moves the grid (as an import there would: new geometry and imported_at).
    db.session.execute(
        sa.update(Grid)
        .where(Grid.code == CODE_A)
        .values(geometry=json.dumps(square(5)), imported_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    assert locate(*point) is None  # within the interval this process keeps its index
    monkeypatch.setattr(geo, "VERSION_CHECK_SECONDS", 0.0)
    assert locate(*point) == CODE_A


def test_rolled_back_import_does_not_stay_in_the_index(ctx, monkeypatch):
    monkeypatch.setattr(geo, "VERSION_CHECK_SECONDS", 3600.0)
    add_departments("JD-QF")
    db.session.commit()
    import_grids(collection(feature(CODE_A)))
    assert locate(LAT0 + DLAT / 2, LON0 + DLON / 2) == CODE_A  # this session sees its own import
    db.session.rollback()
    assert locate(LAT0 + DLAT / 2, LON0 + DLON / 2) is None


def test_commit_after_an_import_invalidates_the_index_again(ctx, monkeypatch):
    """Other threads build from committed data, so the commit must make them look again."""
    calls: list[int] = []
    monkeypatch.setattr(geo, "invalidate_grid_index", lambda: calls.append(1))
    add_departments("JD-QF")
    db.session.commit()
    assert calls == []
    import_grids(collection(feature(CODE_A)))
    assert calls == [1]
    db.session.commit()
    assert calls == [1, 1]
    db.session.commit()  # a later commit without an import does not
    assert calls == [1, 1]


# --- Demo data -------------------------------------------------------------------------------------------------


def test_demo_grids_import_cleanly_and_cover_the_demo_reports(ctx):
    departments = add_departments("JD-QF", "JD-XH", "JD-HP")
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    assert "illustrative" in data["description"].lower() and "illustrative" in data["name"].lower()

    result = import_grids(DEMO_FILE.read_bytes())
    grids = db.session.scalars(sa.select(Grid)).all()
    assert result.created == len(data["features"]) == len(grids) and 200 <= len(grids) <= 1000
    assert {grid.department_id for grid in grids} == {department.id for department in departments.values()}
    assert {grid.street_code for grid in grids} == {"140109001", "140109002", "140109003"}
    assert all(grid.district_name == "万柏林区" and 5_000 < grid.area_m2 < 15_000 for grid in grids)
    for street in ("140109001", "140109002", "140109003"):
        communities = {grid.community_code for grid in grids if grid.street_code == street}
        assert 2 <= len(communities) <= 3

    # No gaps or overlaps: the grids add up to the whole rectangle.
    polygons = [shapely.from_geojson(grid.geometry) for grid in grids]
    rectangle = shapely.box(112.505, 37.845, 112.530, 37.870)
    assert shapely.union_all(polygons).symmetric_difference(rectangle).area < 1e-12
    assert sum(polygon.area for polygon in polygons) == pytest.approx(rectangle.area, rel=1e-9)

    for lat, lon in DEMO_REPORT_POINTS:
        assert locate(lat, lon) is not None, (lat, lon)


# --- CLI -------------------------------------------------------------------------------------------------------


def test_cli_imports_a_file(app, tmp_path):
    with app.app_context():
        add_departments("JD-QF")
        db.session.commit()
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(collection(feature(CODE_A), feature(CODE_B))), encoding="utf-8")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["import-grids", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged, 0 deactivated" in result.output

    path.write_text(json.dumps(collection(feature(CODE_A))), encoding="utf-8")
    result = runner.invoke(args=["import-grids", str(path), "--deactivate-missing"])
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 1 unchanged, 1 deactivated" in result.output
    with app.app_context():
        assert [(grid.code, grid.active) for grid in db.session.scalars(sa.select(Grid).order_by(Grid.code))] == [
            (CODE_A, True),
            (CODE_B, False),
        ]


def test_cli_refuses_a_bad_or_missing_file(app, tmp_path):
    with app.app_context():
        add_departments("JD-QF")
        db.session.commit()
    runner = app.test_cli_runner()
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(collection(feature(CODE_A), feature(CODE_B, BOWTIE))), encoding="utf-8")

    result = runner.invoke(args=["import-grids", str(path)])
    assert result.exit_code != 0
    assert CODE_B in result.output and "Nothing was imported" in result.output

    missing = runner.invoke(args=["import-grids", str(tmp_path / "nope.geojson")])
    assert missing.exit_code != 0 and "Cannot read" in missing.output
    not_json = tmp_path / "not.geojson"
    not_json.write_text("grids?", encoding="utf-8")
    assert runner.invoke(args=["import-grids", str(not_json)]).exit_code != 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Grid)) == 0
