from __future__ import annotations

import uuid
from typing import NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from webapp.db import db
from webapp.errors import DomainError
from webapp.extensions import limiter
from webapp.files import file_response
from webapp.rendering import is_fragment_request, page_or_fragment, render_fragment, shared_fragment
from webapp.reports import services, taxonomy
from webapp.reports.intake import submission_rate_key, submit_from_request
from webapp.reports.models import Channel
from webapp.reports.posters import services as posters
from webapp.reports.signals import report_opened
from webapp.reports.status import ReportStatus

bp = Blueprint("reports", __name__)


def _home_context() -> dict[str, object]:
    mine = services.reports_by(current_user, limit=3) if current_user.is_authenticated else []
    shown = {report.id for report in mine}  # each report once: mine are not repeated under "recently reported"
    latest = services.public_reports(per_page=5 + len(mine), with_total=False).items
    return {"recent": [r for r in latest if r.id not in shown][:5], "mine": mine}


@bp.get("/")
def home() -> str:
    rendered = shared_fragment("home", None, lambda: render_fragment("reports/_home.html", **_home_context()))
    if rendered is not None:
        return render_template("reports/home.html", rendered=rendered)
    return render_template("reports/home.html", **_home_context())


def _category_choices(chosen: str | None) -> Markup:
    """The form's category groups (about 220 radio buttons), rendered once per language, taxonomy version and
    chosen category: rendering them took about half of the form's server time."""
    current = taxonomy.taxonomy()
    info = current.by_code.get(chosen or "")
    code = info.code if info is not None and info.active else ""
    key = ("report-form-choices", str(get_locale()), code)
    rendered = current.rendered.get(key)
    if rendered is None:
        rendered = Markup(
            render_template(
                "reports/_category_choices.html",
                groups=current.groups,
                chosen=code,
                chosen_group=info.group_code if info is not None and code else "",
            )
        )
        current.rendered[key] = rendered
    return rendered


def _render_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    poster = posters.find_by_code(values.get("poster"))
    values["poster"] = poster.code if poster is not None else ""
    response = make_response(
        render_template(
            "reports/new.html",
            category_choices=_category_choices(values.get("category")),
            values=values,
            errors=errors,
            selected=taxonomy.active_category(values.get("category")),
            poster=poster,
        ),
        status,
    )
    return response


@bp.get("/reports/new")
def new() -> Response:
    """The report form. It is public so a phone can keep it offline; sending needs a logged-in resident."""
    values = {key: request.args.get(key, "") for key in ("category", "lat", "lon", "address", "poster")}
    values["client_id"] = str(uuid.uuid4())
    if values["poster"] and values["lat"] and values["lon"]:
        values["location_source"] = "map"  # the poster's place, pinned when it was made
    return _render_form(values, {})


@bp.post("/reports/new")
@login_required
@limiter.limit(lambda: current_app.config["RATELIMIT_SUBMIT"], key_func=submission_rate_key)
def create() -> Response:
    values = {
        key: request.form.get(key, "")
        for key in ("category", "lat", "lon", "address", "description", "client_id", "location_source", "poster")
    }
    try:
        report, created = submit_from_request(Channel.WEB, client_id_required=False)
    except DomainError as error:
        db.session.rollback()
        errors = getattr(error, "errors", None) or {error.field or "form": str(error.message)}
        if not values["client_id"]:
            values["client_id"] = str(uuid.uuid4())
        return _render_form(values, errors, error.status)
    db.session.commit()
    if created:
        flash(_("Thank you! Your report has been sent. Its number is %(id)d.", id=report.id), "success")
    else:
        flash(_("This report had already arrived; nothing was sent twice."), "info")
    return redirect(url_for("reports.detail", report_id=report.id), 303)


@bp.get("/reports")
def index() -> Response:
    group = request.args.get("group") or None
    category = request.args.get("category") or None
    status = request.args.get("status") or None
    if status not in (None, *services.STATUS_FILTERS):
        status = None
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    filters = {"group": group or "", "category": category or "", "status": status or ""}

    def listing() -> dict[str, object]:
        result = services.public_reports(
            group=group,
            category=category,
            status=status,
            page=page,
            per_page=current_app.config["REPORTS_PER_PAGE"],
        )
        return {"result": result, "filters": filters}

    rendered = shared_fragment(
        "report-list", (group, category, status, page), lambda: render_fragment("reports/_list.html", **listing())
    )
    context = listing() if rendered is None else {"filters": filters}
    if not is_fragment_request():
        context.update(groups=taxonomy.groups(), statuses=list(ReportStatus))
    return page_or_fragment("reports/index.html", "reports/_list.html", rendered=rendered, **context)


def _visible_report(report_id: int, *, for_page: bool = False) -> services.Report:
    report = services.get_report_for_page(report_id) if for_page else services.get_report(report_id)
    if report is None:  # every report has a public page; what each viewer sees is decided by reports/privacy.py
        abort(404)
    return report


class ReportPage(NamedTuple):
    """A report's page as the public sees it, rendered once to be kept (``webapp.cache.fragment``)."""

    title: str
    head: Markup
    content: Markup


@bp.get("/reports/<id:report_id>")
def detail(report_id: int) -> str:
    def public_page() -> ReportPage:
        report = _visible_report(report_id, for_page=True)
        context = services.page_context(report, None)
        return ReportPage(
            f"{report.category.name} #{report.id}",
            render_fragment("reports/_detail_head.html", **context),
            render_fragment("reports/_detail.html", **context),
        )

    # The previews hold absolute URLs: one copy per host name the page was asked under.
    rendered = shared_fragment("report-page", (report_id, request.host_url), public_page)
    if rendered is not None:
        return render_template("reports/detail.html", rendered=rendered)
    report = _visible_report(report_id, for_page=True)
    # A signed-in reader (anonymous visitors share the page above): their news about this report is read now.
    opened = report_opened.send(report, viewer=current_user) if current_user.is_authenticated else []
    if any(wrote for _receiver, wrote in opened):
        db.session.commit()  # before rendering, so the menu's unread count already leaves this report out
    return render_template("reports/detail.html", **services.page_context(report, current_user))


@bp.post("/reports/<id:report_id>/follow")
@login_required
def follow(report_id: int) -> Response:
    """ "Me too": follow an existing report instead of filing a duplicate."""
    report = _visible_report(report_id)
    services.follow(current_user, report)
    db.session.commit()
    if is_fragment_request():
        return page_or_fragment(
            "reports/detail.html",
            "reports/_followed.html",
            report=report,
            followers=services.follower_count(report),
        )
    flash(_("You now follow this report; you will see every step here and in “My reports”."), "success")
    return redirect(url_for("reports.detail", report_id=report.id), 303)


@bp.post("/reports/<id:report_id>/unfollow")
@login_required
def unfollow(report_id: int) -> Response:
    report = _visible_report(report_id)
    services.unfollow(current_user, report)
    db.session.commit()
    flash(_("You no longer follow this report."), "info")
    return redirect(url_for("reports.detail", report_id=report.id), 303)


@bp.get("/reports/nearby")
def nearby() -> Response:
    """Open reports of the same category close to the chosen place, shown before submitting."""
    category = request.args.get("category", "")
    lat = request.args.get("lat", type=float)
    lon = request.args.get("lon", type=float)
    found: list[services.Nearby] = []
    if category and lat is not None and lon is not None:
        found = services.nearby_open_reports(
            category,
            lat,
            lon,
            current_user,
            radius_m=current_app.config["DUPLICATE_RADIUS_M"],
            limit=current_app.config["DUPLICATE_LIMIT"],
        )
    return page_or_fragment("reports/nearby.html", "reports/_nearby.html", found=found)


@bp.get("/categories/search")
def category_search() -> Response:
    query = request.args.get("q", "")
    return page_or_fragment(
        "reports/category_search.html",
        "reports/_category_results.html",
        query=query,
        results=taxonomy.search(query),
        selected=request.args.get("category", ""),
    )


@bp.get("/me/reports")
@login_required
def mine() -> Response:
    return page_or_fragment(
        "reports/mine.html",
        "reports/_mine_list.html",
        reports=services.reports_by(current_user),
        followed=services.followed_by(current_user),
    )


@bp.get("/media/<path:key>")
def media_file(key: str) -> Response:
    """Stored photos, for whoever may see them (``services.photo_access``): public ones may be redirected to the
    object store and cached for a year (keys are content hashes); the others are streamed, privately cached."""
    access = services.photo_access(key, current_user) if key.endswith(".jpg") else None
    if access is None:
        abort(404)
    return file_response(key, public=access == "public")
