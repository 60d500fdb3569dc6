import math

import pytest

from webapp.geo.distance import bounding_box, haversine_m, valid_coordinates


def test_haversine_known_distances():
    assert haversine_m(37.8601, 112.5180, 37.8601, 112.5180) == 0
    # One degree of latitude is about 111.2 km.
    assert haversine_m(37.0, 112.0, 38.0, 112.0) == pytest.approx(111_195, rel=1e-3)
    # 太原 to 北京 is about 400 km.
    assert 390_000 < haversine_m(37.87, 112.55, 39.90, 116.40) < 420_000


def test_bounding_box_contains_the_circle():
    lat, lon, radius = 37.8601, 112.5180, 200
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius)
    for bearing in range(0, 360, 15):
        d_lat = radius * math.cos(math.radians(bearing)) / 111_195
        d_lon = radius * math.sin(math.radians(bearing)) / (111_195 * math.cos(math.radians(lat)))
        assert min_lat <= lat + d_lat * 0.999 <= max_lat
        assert min_lon <= lon + d_lon * 0.999 <= max_lon


@pytest.mark.parametrize(
    ("lat", "lon", "ok"),
    [
        (0, 0, True),
        (90, 180, True),
        (-90, -180, True),
        (200, 0, False),
        (0, 181, False),
        (float("nan"), 0, False),
        (float("inf"), 0, False),
    ],
)
def test_valid_coordinates(lat, lon, ok):
    assert valid_coordinates(lat, lon) is ok
