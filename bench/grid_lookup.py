"""Point-in-grid lookup speed: GridIndex (STRtree over prepared polygons) against a naive scan.

Builds 10,000 synthetic unit grids of about 100 m x 100 m (a 100 x 100 lattice near 太原, slightly irregular,
no gaps) in memory, then times random point lookups: 100,000 through ``GridIndex.locate``, the same points
through the vectorised ``GridIndex.locate_many``, and 1,000 through a naive baseline that loops over every
polygon with a bounding-box pre-check (what a lookup costs without a spatial index). It also checks that the
methods agree on the shared sample. Every report needs one lookup, so the target is microseconds.

Run from the repository root: .venv/bin/python bench/grid_lookup.py [--grids 10000] [--lookups 100000]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shapely  # noqa: E402
from shapely.geometry import Polygon  # noqa: E402

from webapp.geo.services import GridIndex, area_m2  # noqa: E402

SOUTH, WEST = 37.80, 112.45
DLAT = 100 / 111_195  # 100 m in degrees of latitude
DLON = 100 / (111_195 * math.cos(math.radians(SOUTH + 0.05)))


def synthetic_grids(count: int, seed: int = 1) -> tuple[list[tuple[str, Polygon]], tuple[float, float, float, float]]:
    """About ``count`` grids on a square lattice with jittered interior vertices; returns them and their extent."""
    side = max(1, round(math.sqrt(count)))
    rng = random.Random(seed)
    vertex = {}
    for r in range(side + 1):
        for c in range(side + 1):
            jitter_lat = rng.uniform(-0.1, 0.1) * DLAT if 0 < r < side else 0.0
            jitter_lon = rng.uniform(-0.1, 0.1) * DLON if 0 < c < side else 0.0
            vertex[r, c] = (WEST + c * DLON + jitter_lon, SOUTH + r * DLAT + jitter_lat)
    grids = []
    for r in range(side):
        for c in range(side):
            ring = [vertex[r, c], vertex[r, c + 1], vertex[r + 1, c + 1], vertex[r + 1, c]]
            grids.append((f"140109{r // 10:03d}{c // 10:03d}{r % 10 * 10 + c % 10 + 1:03d}", Polygon(ring)))
    return grids, (SOUTH, SOUTH + side * DLAT, WEST, WEST + side * DLON)


class NaiveIndex:
    """The baseline: test every grid, skipping those whose bounding box misses the point."""

    def __init__(self, grids: list[tuple[str, Polygon]]) -> None:
        self.grids = sorted((code, polygon, polygon.bounds) for code, polygon in grids)

    def locate(self, lat: float, lon: float) -> str | None:
        point = shapely.Point(lon, lat)
        for code, polygon, (min_lon, min_lat, max_lon, max_lat) in self.grids:
            if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat and polygon.covers(point):
                return code
        return None


def random_points(count: int, extent: tuple[float, float, float, float], seed: int = 2) -> list[tuple[float, float]]:
    """Points over the extent plus a 5 % margin, so a few fall outside every grid."""
    south, north, west, east = extent
    margin_lat, margin_lon = (north - south) * 0.05, (east - west) * 0.05
    rng = random.Random(seed)
    return [
        (rng.uniform(south - margin_lat, north + margin_lat), rng.uniform(west - margin_lon, east + margin_lon))
        for _ in range(count)
    ]


def per_lookup_us(seconds: float, count: int) -> float:
    return seconds / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--naive-lookups", type=int, default=1_000)
    args = parser.parse_args()

    grids, extent = synthetic_grids(args.grids)
    started = time.perf_counter()
    index = GridIndex(grids)
    build_s = time.perf_counter() - started
    naive = NaiveIndex(grids)
    points = random_points(args.lookups, extent)
    sample = points[: args.naive_lookups]
    area = sum(area_m2(polygon) for _, polygon in grids)
    print(f"{len(index):,} grids, mean area {area / len(grids):,.0f} m²; index built in {build_s * 1000:.0f} ms")

    started = time.perf_counter()
    found = [index.locate(lat, lon) for lat, lon in points]
    indexed_us = per_lookup_us(time.perf_counter() - started, len(points))

    lats, lons = [lat for lat, _ in points], [lon for _, lon in points]
    started = time.perf_counter()
    found_many = index.locate_many(lats, lons)
    many_us = per_lookup_us(time.perf_counter() - started, len(points))

    started = time.perf_counter()
    found_naive = [naive.locate(lat, lon) for lat, lon in sample]
    naive_us = per_lookup_us(time.perf_counter() - started, len(sample))

    inside = sum(code is not None for code in found)
    agree_naive = sum(a == b for a, b in zip(found, found_naive, strict=False))
    agree_many = sum(a == b for a, b in zip(found, found_many, strict=True))
    print(f"{len(points):,} random points, {inside:,} inside a grid")
    print(f"  GridIndex.locate        {indexed_us:9.2f} µs per lookup   ({len(points):,} lookups)")
    print(f"  GridIndex.locate_many   {many_us:9.2f} µs per lookup   ({len(points):,} points in one call)")
    print(f"  naive scan + bbox check {naive_us:9.2f} µs per lookup   ({len(sample):,} lookups)")
    print(f"  speed-up: {naive_us / indexed_us:,.0f}x (locate), {naive_us / many_us:,.0f}x (locate_many)")
    print(f"  agreement: naive {agree_naive}/{len(sample)}, locate_many {agree_many:,}/{len(points):,}")


if __name__ == "__main__":
    main()
