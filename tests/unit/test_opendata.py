"""Open data: the privacy rule (coarsening, what is left out), export rows, filters and headline statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import make_report, make_user
from tests.unit.cases import LAT, LON, RUBBISH, make_case, make_department, make_grid
from webapp.db import db
from webapp.geo.distance import haversine_m
from webapp.opendata import services
from webapp.opendata.services import FIELDS, Filters, OpenDataError
from webapp.reports import privacy
from webapp.reports.models import ReportPhoto
from webapp.reports.status import ReportStatus

NOISE = "06028"  # 噪声扰民: sensitive (points at a neighbour)
STAIRWELL = "91001"  # 楼道堆物: sensitive (a building, a floor)
UTC_NOON = datetime(2026, 5, 12, 4, 0, tzinfo=UTC)  # 12:00 in China


# --- Coarsening ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lat", "lon"), [(37.8601, 112.5180), (22.5431, 114.0579), (45.75, 126.65), (-33.86, 151.2)])
def test_coarsening_moves_a_point_to_its_cell_centre_at_most_about_360_m(lat, lon):
    c_lat, c_lon = privacy.coarsen(lat, lon)
    assert haversine_m(lat, lon, c_lat, c_lon) <= 360
    assert privacy.coarsen(c_lat, c_lon) == (c_lat, c_lon)  # a centre is its own cell's centre


def test_points_of_one_cell_share_a_centre_and_neighbouring_cells_do_not():
    centre = privacy.coarsen(LAT, LON)
    nearby = [privacy.coarsen(LAT + d_lat, LON + d_lon) for d_lat in (-0.001, 0, 0.001) for d_lon in (-0.001, 0, 0.001)]
    # Points 100 m apart mostly fall in one cell; none of their centres is closer than a cell to another's.
    centres = set(nearby)
    assert centre in centres and len(centres) <= 4
    for a in centres:
        for b in centres - {a}:
            assert haversine_m(*a, *b) >= 450
    far = privacy.coarsen(LAT + 0.01, LON)  # 1.1 km north
    assert far != centre and haversine_m(*far, *centre) >= 900


def test_the_rule_keeps_ordinary_reports_and_hides_sensitive_ones():
    plain = privacy.public_location(RUBBISH, 37.860123456, 112.518987654, "千峰南路 12 号")
    assert plain == privacy.PublicLocation(37.86012, 112.51899, "千峰南路 12 号", False)
    hidden = privacy.public_location(NOISE, LAT, LON, "兴华小区 3 栋 2 单元 502")
    assert hidden.coarsened and hidden.address == "" and (hidden.lat, hidden.lon) == privacy.coarsen(LAT, LON)
    assert privacy.public_location(NOISE, None, None, "x") == privacy.PublicLocation(None, None, "", True)
    assert privacy.public_location(RUBBISH, LAT, None, "") == privacy.PublicLocation(None, None, "", False)


def test_sensitive_categories_exist_and_safety_hazards_are_not_coarsened(ctx):
    from webapp.reports import taxonomy

    for code in privacy.sensitive_categories():
        assert taxonomy.get_category(code) is not None, code
    assert not privacy.is_sensitive("90002")  # a gas leak: its exact place warns people away


def test_descriptions_lose_numbers_that_reach_a_person():
    text = "请联系 138 0013 8000 或 0351-6123456，身份证 14010919800101123X，3 楼"
    assert privacy.public_description(RUBBISH, text) == "请联系 *** 或 ***，身份证 ***，3 楼"
    assert privacy.public_description(STAIRWELL, "三楼楼道堆满纸箱") == ""


# --- Rows ---------------------------------------------------------------------------------------------------


def test_an_export_row_has_exactly_the_published_fields_and_nothing_personal(ctx, storage):
    reporter = make_user(phone="13912345678", name="王阿姨", public=True)
    report = make_report(reporter, storage, description="联系我 13912345678", address="千峰南路 12 号")
    report.status = ReportStatus.ACCEPTED
    db.session.flush()
    [row] = list(services.iter_rows(Filters()))
    values = row.as_dict()
    assert tuple(values) == FIELDS
    assert set(FIELDS) == {
        "id", "url", "category_code", "category_zh", "category_en", "status", "created_at", "closed_at", "due_at",
        "on_time", "days_to_close", "district", "street", "community", "grid_code", "lat", "lon",
        "location_coarsened", "address", "description", "photos", "department",
    }  # fmt: skip
    flat = repr(values)
    assert "13912345678" not in flat and "王阿姨" not in flat and "reporter" not in flat
    assert values["description"] == "联系我 ***" and values["address"] == "千峰南路 12 号"
    photo = db.session.query(ReportPhoto).filter_by(report_id=report.id).one()
    assert values["photos"] == [f"http://localhost/media/{photo.display_key}"]  # the EXIF-free display copy
    assert values["status"] == "accepted" and values["location_coarsened"] is False


def test_a_sensitive_row_is_coarse_and_without_address_description_grid_or_photos(ctx, storage):
    grid = make_grid()
    report = make_report(category_code=NOISE, storage=storage, description="502 每晚唱歌", address="3 栋 502")
    report.status = ReportStatus.DISPATCHED
    report.grid_code = grid.code
    db.session.flush()
    [row] = list(services.iter_rows(Filters()))
    values = row.as_dict()
    assert tuple(values) == FIELDS
    assert (values["lat"], values["lon"]) == privacy.coarsen(report.lat, report.lon)
    assert values["location_coarsened"] is True
    assert values["address"] == values["description"] == values["grid_code"] == values["community"] == ""
    assert values["photos"] == []
    assert values["district"] == grid.district_name


def test_reports_waiting_for_review_or_not_accepted_are_not_published(ctx):
    make_case(status=ReportStatus.PENDING_REVIEW)
    make_case(status=ReportStatus.REJECTED)
    shown = make_case(status=ReportStatus.IN_PROGRESS)
    assert [row.id for row in services.iter_rows(Filters())] == [shown.id]
    assert services.page_of(Filters().where(), 1, 20).total == 1


def test_exports_read_in_batches_oldest_first_and_filter_by_day_and_category(ctx):
    days = [datetime(2026, 5, d, 4, tzinfo=UTC) for d in (1, 2, 3, 4, 5)]
    made = [make_case(status=ReportStatus.ACCEPTED, created_at=day) for day in days]
    litter = make_case(status=ReportStatus.ACCEPTED, category_code="06010", created_at=days[2])
    assert [row.id for row in services.iter_rows(Filters(), batch=2)] == [r.id for r in [*made, litter]]
    window = Filters(start=date(2026, 5, 2), end=date(2026, 5, 3), categories=(RUBBISH,))
    assert [row.id for row in services.iter_rows(window, batch=1)] == [made[1].id, made[2].id]
    # A local day: 2026-05-02 00:30 in China is still 2026-05-01 in UTC.
    late = make_case(status=ReportStatus.ACCEPTED, created_at=datetime(2026, 5, 1, 16, 30, tzinfo=UTC))
    assert late.id in [row.id for row in services.iter_rows(window)]


def test_closed_rows_say_whether_they_were_on_time_and_how_long_they_took(ctx):
    created = datetime(2026, 5, 1, 2, tzinfo=UTC)
    make_case(
        status=ReportStatus.CLOSED,
        created_at=created,
        due_at=created + timedelta(days=2),
        closed_at=created + timedelta(days=1, hours=12),
    )
    [row] = list(services.iter_rows(Filters()))
    assert (row.on_time, row.days_to_close) == (True, 1.5)


# --- Filters ------------------------------------------------------------------------------------------------


def test_filters_are_parsed_and_bad_ones_refused_with_400(ctx):
    from werkzeug.datastructures import MultiDict

    filters = services.parse_filters(MultiDict([("start", "2026-05-01"), ("category", RUBBISH), ("category", NOISE)]))
    assert filters == Filters(date(2026, 5, 1), None, (RUBBISH, NOISE))
    assert filters.as_args() == {"start": "2026-05-01", "category": [RUBBISH, NOISE]}
    for args, field in [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "end"),
        ({"category": "99999"}, "category"),
        ({"category": "rubbish"}, "category"),
    ]:
        with pytest.raises(OpenDataError) as error:
            services.parse_filters(MultiDict(args))
        assert error.value.status == 400 and error.value.field == field


# --- Headline -----------------------------------------------------------------------------------------------


def test_headline_statistics_of_a_month_by_hand(ctx):
    department = make_department()
    may = lambda day, hour=4: datetime(2026, 5, day, hour, tzinfo=UTC)  # noqa: E731
    # Closed in May: 1 day (on time), 3 days (late), 5 days (no deadline); median 3 days, on time 1 of 2.
    make_case(status=ReportStatus.CLOSED, created_at=may(1), closed_at=may(2), due_at=may(3), department=department)
    make_case(status=ReportStatus.CLOSED, created_at=may(3), closed_at=may(6), due_at=may(4))
    make_case(status=ReportStatus.CLOSED, created_at=datetime(2026, 4, 28, 4, tzinfo=UTC), closed_at=may(3))
    make_case(status=ReportStatus.PENDING_REVIEW, created_at=may(20), category_code="06010")
    make_case(status=ReportStatus.REJECTED, created_at=may(21), category_code="06010")
    make_case(status=ReportStatus.ACCEPTED, created_at=may(22), category_code="06010")
    make_case(status=ReportStatus.ACCEPTED, created_at=datetime(2026, 4, 30, 17, tzinfo=UTC))  # 1 May in China
    make_case(status=ReportStatus.CLOSED, created_at=may(1), closed_at=datetime(2026, 6, 1, 1, tzinfo=UTC))  # June
    headline = services.headline(today=date(2026, 5, 25))
    assert headline.month == date(2026, 5, 1)
    assert headline.received == 7
    assert (headline.closed, headline.closed_due, headline.on_time) == (3, 2, 1)
    assert headline.on_time_rate == 0.5
    assert headline.median_days == 3.0
    assert [(code, n) for code, _, n in headline.top_categories] == [(RUBBISH, 4), ("06010", 3)]


def test_headline_of_an_empty_month(ctx):
    headline = services.headline(today=date(2026, 2, 1))
    assert (headline.received, headline.closed, headline.median_days, headline.on_time_rate) == (0, 0, None, None)
    assert headline.top_categories == []


def test_map_features_are_geojson_with_published_positions_only(ctx):
    make_case(status=ReportStatus.ACCEPTED)
    make_case(status=ReportStatus.ACCEPTED, category_code=NOISE)
    make_case(status=ReportStatus.ACCEPTED, lat=None, lon=None)
    make_case(status=ReportStatus.PENDING_REVIEW)
    data = services.map_features(Filters())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 2
    by_code = {f["properties"]["category_code"]: f for f in data["features"]}
    assert by_code[RUBBISH]["geometry"]["coordinates"] == [LON, LAT]
    assert by_code[NOISE]["geometry"]["coordinates"] == list(reversed(privacy.coarsen(LAT, LON)))
    assert set(by_code[NOISE]["properties"]) == {"id", "category_code", "status", "url", "coarsened"}
