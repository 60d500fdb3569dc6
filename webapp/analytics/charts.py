"""Server-rendered SVG charts: bars, columns, an hour × weekday heatmap and a map of grids.

Each chart is an ``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>``; the pages add a table with the
same numbers and a CSV link. Colours are presentation attributes (the CSP allows no inline styles).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup, escape

from webapp.db import db
from webapp.geo.models import Grid

BAR = "#0b4f9c"
OFFLINE = "#d97706"
SCALE = ("#eef3fa", "#c6dbef", "#6baed6", "#2171b5", "#08306b")  # light to dark
EMPTY = "#f3f4f6"


def _open(chart_id: str, title: str, desc: str, width: float, height: float, viewbox: str = "") -> str:
    viewbox = viewbox or f"0 0 {width} {height}"
    return (
        f'<svg class="chart" id="{chart_id}" viewBox="{viewbox}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bars(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[tuple[str, float] | tuple[str, float, str]],
    fmt: str = "{:,.0f}",
) -> Markup:
    """Horizontal bars, largest first as given. A row's optional third item is its full name, shown on hover
    (e.g. a grid's street and community, while the bar is labelled by the grid's own name)."""
    width, row_height, label_width = 640, 26, 220
    height = max(row_height * len(rows) + 10, 40)
    top = max((row[1] for row in rows), default=0) or 1
    parts = [_open(chart_id, title, desc, width, height)]
    for index, row in enumerate(rows):
        label, value = row[0], row[1]
        full = row[2] if len(row) > 2 else label  # type: ignore[misc]
        y = 5 + index * row_height
        length = (width - label_width - 70) * value / top
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 17}" text-anchor="end" font-size="13" fill="#1f2937">'
            f"<title>{escape(full)}</title>{escape(_short(label, 16))}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row_height - 8}" fill="{BAR}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 17}" font-size="13" fill="#1f2937">'
            f"{escape(fmt.format(value))}</text>"
        )
    if not rows:
        parts.append('<text x="10" y="25" font-size="13" fill="#4b5563">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(
    chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, Sequence[float]]], colours: Sequence[str] = (BAR,)
) -> Markup:
    """Vertical (stacked) columns over time; every few labels shown so they never overlap."""
    width, height, left, bottom = 640, 220, 40, 30
    top = max((sum(values) for _, values in rows), default=0) or 1
    step = (width - left - 10) / max(len(rows), 1)
    parts = [_open(chart_id, title, desc, width, height)]
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" stroke="#9ca3af"/>')
    parts.append(f'<text x="{left - 4}" y="14" text-anchor="end" font-size="11" fill="#4b5563">{top:,.0f}</text>')
    every = max(1, math.ceil(len(rows) / 8))
    for index, (label, values) in enumerate(rows):
        x = left + index * step
        base = height - bottom
        for value, colour in zip(values, colours, strict=False):
            h = (height - bottom - 20) * value / top
            base -= h
            bar_width = max(step - 2, 1)
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{base:.1f}" width="{bar_width:.1f}" height="{h:.1f}" fill="{colour}"/>'
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11" fill="#4b5563">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _shade(value: float, top: float) -> str:
    if value <= 0 or top <= 0:
        return EMPTY
    return SCALE[min(int(value / top * len(SCALE)), len(SCALE) - 1)] if value < top else SCALE[-1]


def heatmap(chart_id: str, title: str, desc: str, matrix: Sequence[Sequence[int]], weekdays: Sequence[str]) -> Markup:
    cell, left, top_margin = 24, 60, 22
    width, height = left + 24 * cell + 10, top_margin + 7 * cell + 10
    top = max((max(row) for row in matrix), default=0)
    parts = [_open(chart_id, title, desc, width, height)]
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + hour * cell + 2}" y="15" font-size="11" fill="#4b5563">{hour:02d}</text>')
    for day, row in enumerate(matrix):
        y = top_margin + day * cell
        name = escape(weekdays[day])
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="12" fill="#1f2937">{name}</text>')
        for hour, value in enumerate(row):
            parts.append(
                f'<rect x="{left + hour * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{_shade(value, top)}"><title>{escape(weekdays[day])} {hour:02d}:00 · {value}</title></rect>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@lru_cache(maxsize=4)
def _grid_paths(version: tuple[Any, ...]) -> tuple[tuple[str, str, tuple[float, float, float, float]], ...]:
    """Every active grid as (code, SVG path in lon/lat·1000 units, bbox); cached until the grids change."""
    shapes = []
    for code, geometry in db.session.execute(sa.select(Grid.code, Grid.geometry).where(Grid.active)):
        data = json.loads(geometry)
        polygons = data["coordinates"] if data["type"] == "MultiPolygon" else [data["coordinates"]]
        path, xs, ys = [], [], []
        for polygon in polygons:
            ring = polygon[0]
            points = [(lon * 1000, -lat * 1000) for lon, lat in ring]
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
            path.append("M" + "L".join(f"{x:.2f},{y:.2f}" for x, y in points) + "Z")
        shapes.append((code, "".join(path), (min(xs), min(ys), max(xs), max(ys))))
    return tuple(shapes)


def grid_map(
    chart_id: str, title: str, desc: str, counts: dict[str, int], labels: dict[str, str], prefix: str = ""
) -> Markup:
    """The grids (of the chosen district or street) shaded by how many reports each had."""
    version = tuple(db.session.execute(sa.select(sa.func.count(), sa.func.max(Grid.imported_at))).one())
    shapes = [s for s in _grid_paths(version) if s[0].startswith(prefix)]
    if not shapes:
        return Markup(_open(chart_id, title, desc, 640, 40) + "</svg>")
    min_x = min(s[2][0] for s in shapes)
    min_y = min(s[2][1] for s in shapes)
    max_x = max(s[2][2] for s in shapes)
    max_y = max(s[2][3] for s in shapes)
    # Longitude degrees are shorter than latitude degrees away from the equator: squeeze x accordingly.
    squeeze = math.cos(math.radians(-(min_y + max_y) / 2000))
    width = (max_x - min_x) * squeeze or 1
    height = (max_y - min_y) or 1
    top = max(counts.values(), default=0)
    viewbox = f"{min_x * squeeze:.2f} {min_y:.2f} {width:.2f} {height:.2f}"
    parts = [_open(chart_id, title, desc, width, height, viewbox)]
    parts.append(f'<g transform="scale({squeeze:.5f} 1)" stroke="#ffffff" stroke-width="{width / 900:.4f}">')
    for code, path, _ in shapes:
        value = counts.get(code, 0)
        label = escape(labels.get(code, code))
        parts.append(f'<path d="{path}" fill="{_shade(value, top)}"><title>{label} · {value}</title></path>')
    parts.append("</g></svg>")
    return Markup("".join(parts))
