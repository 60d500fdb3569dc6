"""Open data pages and downloads. Anyone may read them; downloads are rate-limited per address."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from webapp import csvfile
from webapp.extensions import lazy_gettext as _l
from webapp.extensions import limiter
from webapp.opendata import services
from webapp.pagination import Page
from webapp.rendering import is_fragment_request, page_or_fragment, render_fragment, shared_fragment
from webapp.reports import privacy, taxonomy

bp = Blueprint("opendata", __name__, url_prefix="/open-data")
PER_PAGE = 20

# What each export field holds (the schema page); services.FIELDS keeps the names and their order.
FIELD_HELP: dict[str, Any] = {
    "id": _l("The report's number."),
    "url": _l("Its public page."),
    "category_code": _l("The 5-digit category code (GB/T 47678.5; 9xxxx are local)."),
    "category_zh": _l("The category's name in Chinese."),
    "category_en": _l("The category's name in English."),
    "status": _l("accepted, dispatched, signed, in_progress, awaiting_check, closed, rework, returned or suspended."),
    "created_at": _l("When the report arrived (UTC, ISO 8601)."),
    "closed_at": _l("When the case was closed (UTC), empty while it is open."),
    "due_at": _l("The handling deadline (UTC), once the case was dispatched."),
    "on_time": _l("For closed cases with a deadline: true if closed by it."),
    "days_to_close": _l("For closed cases: days from the report to closing, one decimal."),
    "district": _l("District (区县)."),
    "street": _l("Street (街道)."),
    "community": _l("Community (社区); empty for sensitive categories."),
    "grid_code": _l("The 15-digit unit grid code (单元网格); empty for sensitive categories."),
    "lat": _l("Latitude, WGS84; for sensitive categories the centre of a ~500 m cell."),
    "lon": _l("Longitude, WGS84; for sensitive categories the centre of a ~500 m cell."),
    "location_coarsened": _l("true when the place was coarsened (sensitive category)."),
    "address": _l("The address or landmark given; empty for sensitive categories."),
    "description": _l(
        "What the resident wrote, numbers that could reach a person masked; empty for sensitive categories."
    ),
    "photos": _l(
        "Links to the photos, copies without any EXIF data (a list in JSON, separated by spaces in CSV); "
        "none for sensitive categories."
    ),
    "department": _l("The department handling the case."),
}


def download_limit() -> str:
    return current_app.config.get("RATELIMIT_OPEN_DATA", "20 per minute;200 per day")


# One budget for both formats, per address: JSON and CSV are the same data.
downloads_limit = limiter.shared_limit(download_limit, scope="open-data-downloads")


def _page_number() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)


def _context(filters: services.Filters, error: services.OpenDataError | None = None) -> dict[str, Any]:
    return {
        "filters": filters,
        "selected": set(filters.categories),
        "groups": taxonomy.groups(),
        "error": error,
        "licence": services.LICENCE,
        "licence_url": services.LICENCE_URL,
        "cell_m": privacy.CELL_M,
    }


@bp.get("")
def index() -> Response:
    try:
        filters = services.parse_filters(request.args)
    except services.OpenDataError as error:
        if is_fragment_request():
            raise  # the error handler shows the message in the page's alert area
        empty = Page([], 1, PER_PAGE, 0)
        return page_or_fragment(
            "opendata/index.html",
            "opendata/_list.html",
            400,
            result=empty,
            headline=services.headline(),
            **_context(services.Filters(), error),
        )
    page, fragment = _page_number(), is_fragment_request()

    def context() -> dict[str, Any]:
        result = services.page_of(filters.where(), page, PER_PAGE, count_key=filters)
        return {"result": result, "headline": None if fragment else services.headline(), **_context(filters)}

    rendered = shared_fragment(
        "open-data-list" if fragment else "open-data",
        (filters, page),
        lambda: render_fragment("opendata/_list.html" if fragment else "opendata/_index.html", **context()),
    )
    if rendered is not None:
        return page_or_fragment("opendata/index.html", "opendata/_list.html", rendered=rendered)
    return page_or_fragment("opendata/index.html", "opendata/_list.html", **context())


@bp.get("/schema")
def schema() -> str:
    return render_template(
        "opendata/schema.html",
        fields=[(name, FIELD_HELP[name]) for name in services.FIELDS],
        licence=services.LICENCE,
        licence_url=services.LICENCE_URL,
        cell_m=privacy.CELL_M,
        sensitive=sorted(privacy.sensitive_categories()),
        category_name=lambda code: c.name if (c := taxonomy.active_category(code)) else code,
    )


def _json_error(error: services.OpenDataError) -> Response:
    response = jsonify({"error": {"code": error.code, "message": str(error.message), "field": error.field}})
    response.status_code = error.status
    return response


@bp.get("/map.geojson")
@limiter.limit(lambda: current_app.config.get("RATELIMIT_OPEN_DATA_MAP", "60 per minute"))
def map_data() -> Response:
    try:
        filters = services.parse_filters(request.args)
    except services.OpenDataError as error:
        return _json_error(error)
    response = current_app.response_class(
        json.dumps(services.map_features(filters), ensure_ascii=False, separators=(",", ":")),
        mimetype="application/geo+json",
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _filename(filters: services.Filters, extension: str) -> str:
    parts = ["citizen-grid-reports"]
    if filters.start:
        parts.append(filters.start.isoformat())
    if filters.end:
        parts.append(filters.end.isoformat())
    return "_".join(parts) + "." + extension


def _download_headers(response: Response, filters: services.Filters, extension: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(filters, extension)}"'
    response.headers["Link"] = f'<{services.LICENCE_URL}>; rel="license"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _stream(
    filters: services.Filters, head: str, render: Callable[[list[services.PublicReport], bool], str], tail: str
) -> Iterator[str]:
    """The export, one batch of rows at a time. Each batch runs in its own short context (database session and
    URL building) that ends before the batch is sent: nothing is held open while a slow client reads, and a large
    export never sits in memory."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base_url = request.host_url  # read now: the body is sent after the request's own context has ended

    def body() -> Iterator[str]:
        yield head
        after, first = 0, True
        while True:
            with app.test_request_context("/", base_url=base_url):
                rows = services.batch_after(filters, after, services.BATCH)
                chunk = render(rows, first) if rows else ""
            if chunk:
                yield chunk
                first = False
            if len(rows) < services.BATCH:
                break
            after = rows[-1].id
        yield tail

    return body()


@bp.get("/reports.json")
@downloads_limit
def download_json() -> Response:
    try:
        filters = services.parse_filters(request.args)
    except services.OpenDataError as error:
        return _json_error(error)
    head = {
        "licence": services.LICENCE,
        "licence_url": services.LICENCE_URL,
        "attribution": _("Citizen Grid open data"),
        "fields": list(services.FIELDS),
        "filters": filters.as_args(),
    }

    def render(rows: list[services.PublicReport], first: bool) -> str:
        lines = ",\n".join(json.dumps(row.as_dict(), ensure_ascii=False) for row in rows)
        return ("\n" if first else ",\n") + lines

    body = _stream(filters, json.dumps(head, ensure_ascii=False)[:-1] + ', "reports": [', render, "\n]}\n")
    response = current_app.response_class(body, mimetype="application/json")
    return _download_headers(response, filters, "json")


@bp.get("/reports.csv")
@downloads_limit
def download_csv() -> Response:
    try:
        filters = services.parse_filters(request.args)
    except services.OpenDataError as error:
        return _json_error(error)

    def render(rows: list[services.PublicReport], first: bool) -> str:
        return "".join(csvfile.line(row.as_dict()[name] for name in services.FIELDS) for row in rows)

    body = _stream(filters, csvfile.BOM + csvfile.line(services.FIELDS), render, "")
    return _download_headers(csvfile.stream(body), filters, "csv")
