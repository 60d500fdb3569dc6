"""The supervisor dashboard (/dashboard) and the periodic reports (/dashboard/reports/…). Read-only.

Supervisors (admin) and reviewers may open it; department staff may not (their inbox shows their own cases, and
the dashboard compares departments with each other). Each panel is its own URL: the page loads them separately
with htmx so a slow panel never holds up the others, and each also opens as a full page without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from webapp import csvfile
from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.analytics import activities, charts, periodic, queries, rollup
from webapp.analytics.models import RECUR_WINDOW
from webapp.analytics.queries import Filters
from webapp.extensions import lazy_gettext as _l
from webapp.rendering import is_fragment_request, page_or_fragment
from webapp.reports import taxonomy

bp = Blueprint("analytics", __name__, url_prefix="/dashboard")
READERS = (Role.ADMIN, Role.REVIEWER)
PANELS = {
    "hotspots": _l("Hotspots"),
    "peaks": _l("Time peaks"),
    "handling": _l("Handling by department"),
    "participation": _l("Participation"),
    "activities": _l("Community activities"),
}
STAGE_LABELS = {
    "review": _l("Review"),
    "dispatch": _l("Dispatch"),
    "handling": _l("Handling"),
    "verification": _l("Verification"),
}


def weekdays() -> list[str]:
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def _category_options(chosen: str) -> Markup:
    """The sub-category filter's ~220 options, rendered once per language, taxonomy version and choice (they were
    a third of the dashboard page's server time)."""
    current = taxonomy.taxonomy()
    key = ("dashboard-category-options", str(get_locale()), chosen)
    rendered = current.rendered.get(key)
    if rendered is None:
        rendered = Markup(render_template("analytics/_category_options.html", groups=current.groups, chosen=chosen))
        current.rendered[key] = rendered
    return rendered  # type: ignore[no-any-return]


def _form_context(filters: Filters) -> dict[str, Any]:
    districts, streets = queries.places()
    return {
        "filters": filters,
        "districts": districts,
        "streets": streets,
        "groups": taxonomy.groups(),
        "category_options": _category_options(filters.category),
        "departments": queries.departments(),
        "panels": PANELS,
        "freshness": rollup.freshness(),
    }


@bp.get("/")
@roles_required(*READERS)
def index() -> Response:
    filters = queries.parse_filters(request.args)
    return page_or_fragment("analytics/dashboard.html", "analytics/_panels.html", **_form_context(filters))


def _panel_context(name: str, filters: Filters) -> dict[str, Any]:
    context: dict[str, Any] = {"filters": filters, "name": name, "title": PANELS[name]}
    if name == "hotspots":
        categories = queries.by_category(filters)
        every_grid = queries.by_grid(filters, limit=None)  # one pass: the map needs them all, the chart the top
        counts = {row.code: row.count for row in every_grid}
        grids = queries.with_grid_labels(every_grid[: queries.TOP])
        recurrence = queries.recurring(filters)
        context.update(
            categories=categories,
            grids=grids,
            recurrence=recurrence,
            window_days=RECUR_WINDOW.days,
            category_chart=charts.bars(
                "chart-categories",
                _("Reports by category"),
                _("The %(n)d categories with the most reports in the chosen period.", n=len(categories)),
                [(row.label, row.count) for row in categories],
            ),
            grid_chart=charts.bars(
                "chart-places",
                _("Reports by place"),
                _("The %(n)d grids with the most reports in the chosen period.", n=len(grids)),
                [(row.extra.get("name") or row.label, row.count, row.label) for row in grids],
            ),
            map_chart=charts.grid_map(
                "chart-map",
                _("Map of reports by grid"),
                _("Each grid shaded by its number of reports: the darker, the more."),
                counts,
                {row.code: row.label for row in grids},
                filters.grid or filters.place_prefix,
            ),
            grids_with_reports=len(counts),
        )
    elif name == "peaks":
        result = queries.peaks(filters)
        context.update(
            peaks=result,
            weekdays=weekdays(),
            heatmap_chart=charts.heatmap(
                "chart-heatmap",
                _("Reports by hour of day and day of week"),
                _("Darker cells: more reports received in that hour (local time)."),
                result.heatmap,
                weekdays(),
            ),
            weekly_chart=charts.columns(
                "chart-weekly",
                _("Reports per week"),
                _("Reports received each week, labelled by the week's Monday."),
                [(monday.strftime("%m-%d"), [n]) for monday, n in result.weekly],
            ),
        )
    elif name == "handling":
        rows = queries.handling(filters)
        context.update(
            rows=rows,
            stages=STAGE_LABELS,
            on_time_chart=charts.bars(
                "chart-on-time",
                _("On-time rate by department"),
                _("Share of cases closed by their deadline, of those closed or already overdue."),
                [(row.name, round(100 * row.on_time_rate, 1)) for row in rows if row.on_time_rate is not None],
                fmt="{:.1f} %",
            ),
        )
    elif name == "activities":
        result = activities.figures(filters)
        context.update(
            activities=result,
            follow_up_days=activities.FOLLOW_UP.days,
            activities_chart=charts.bars(
                "chart-activities",
                _("Attendance by kind of activity"),
                _("Residents who checked in at activities of each kind that started in the chosen period."),
                [(row.label, row.attended) for row in result.by_kind],
            ),
        )
    else:
        result = queries.participation(filters)
        context.update(
            participation=result,
            participation_chart=charts.columns(
                "chart-participation",
                _("Reports sent online and synced from offline, per day"),
                _("Blue: sent online; orange: saved on the phone without a network and sent later."),
                [(day.strftime("%m-%d"), [online, offline]) for day, online, offline in result.daily],
                colours=(charts.BAR, charts.OFFLINE),
            ),
        )
    return context


@bp.get("/panels/<name>")
@roles_required(*READERS)
def panel(name: str) -> Response:
    if name not in PANELS:
        abort(404)
    filters = queries.parse_filters(request.args)
    context = _form_context(filters) if not is_fragment_request() else {}
    context.update(_panel_context(name, filters))
    return page_or_fragment("analytics/panel.html", f"analytics/_{name}.html", **context)


# --- CSV --------------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _dataset(name: str, filters: Filters) -> tuple[list[str], list[list[Any]]]:
    if name == "categories":
        rows = queries.by_category(filters, limit=1000)
        return [_("Category code"), _("Category"), _("Reports")], [[r.code, r.label, r.count] for r in rows]
    if name == "places":
        rows = queries.by_grid(filters, limit=100_000)
        return [_("Grid code"), _("Grid"), _("Reports")], [[r.code, r.label, r.count] for r in rows]
    if name == "recurring":
        result = queries.recurring(filters, limit=100_000)
        header = [_("Grid code"), _("Grid"), _("Category code"), _("Category"), _("Closed"), _("Reported again")]
        return header, [
            [r.code, r.label, r.extra["category"], r.extra["category_name"], r.extra["closed"], r.count]
            for r in result.spots
        ]
    if name == "heatmap":
        result = queries.peaks(filters)
        return [_("Day of week"), *[f"{h:02d}" for h in range(24)]], [
            [day, *row] for day, row in zip(weekdays(), result.heatmap, strict=True)
        ]
    if name == "weekly":
        result = queries.peaks(filters)
        return [_("Week starting"), _("Reports")], [[monday.isoformat(), n] for monday, n in result.weekly]
    if name == "departments":
        header = [
            _("Department"),
            _("Dispatched"),
            _("On-time rate (%)"),
            _("Overdue"),
            _("Returned"),
            _("Rework"),
            _("Satisfaction (stars)"),
            *[_("Median %(stage)s (hours)", stage=label) for label in STAGE_LABELS.values()],
        ]
        return header, [
            [
                r.name,
                r.dispatched,
                _pct(r.on_time_rate),
                r.late,
                r.returned,
                r.rework,
                "" if r.satisfaction is None else f"{r.satisfaction:.2f}",
                *[_hours(r.medians[stage]) for stage in STAGE_LABELS],
            ]
            for r in queries.handling(filters)
        ]
    if name == "participation":
        p = queries.participation(filters)
        return [_("Day"), _("Sent online"), _("Synced from offline")], [
            [day.isoformat(), online, offline] for day, online, offline in p.daily
        ]
    if name == "activities":
        result = activities.figures(filters)
        header = [_("Kind"), _("Activities"), _("Signed up"), _("Attended"), _("Volunteer hours")]
        return header, [
            [row.label, row.activities, row.signed_up, row.attended, f"{row.minutes / 60:.1f}"]
            for row in result.by_kind
        ]
    abort(404)


@bp.get("/data/<name>.csv")
@roles_required(*READERS)
def data_csv(name: str) -> Response:
    filters = queries.parse_filters(request.args)
    header, rows = _dataset(name, filters)
    return csvfile.response(header, rows, f"dashboard-{name}-{filters.start}-{filters.end}.csv")


# --- Periodic reports -------------------------------------------------------------------------------------------


def _periodic(kind: str, raw: str | None) -> Response:
    summary = periodic.summary(periodic.parse_period(kind, raw))
    if request.args.get("format") == "csv":
        header, rows = periodic.csv_rows(summary)
        return csvfile.response(header, rows, f"report-{summary.period.key}.csv")
    return make_response(render_template("analytics/periodic.html", summary=summary))


@bp.get("/reports/weekly")
@roles_required(*READERS)
def weekly() -> Response:
    return _periodic("weekly", request.args.get("week"))


@bp.get("/reports/monthly")
@roles_required(*READERS)
def monthly() -> Response:
    return _periodic("monthly", request.args.get("month"))
