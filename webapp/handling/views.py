"""The department workspace (处置) and the volunteers' pages (问题解决)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError
from webapp.extensions import limiter
from webapp.handling import services
from webapp.handling.forms import ExtensionForm
from webapp.pagination import Page
from webapp.rendering import page_or_fragment, remembered_render
from webapp.reports import taxonomy
from webapp.reports.forms import parse_submission, read_photos
from webapp.reports.intake import photo_limits, submission_rate_key
from webapp.reports.models import Channel, Report, TimeUnit
from webapp.reports.services import get_report
from webapp.review import emergency, workflow
from webapp.review.calendar import Light
from webapp.review.forms import CaseForm

bp = Blueprint("handling", __name__)


def _own_case(report_id: int) -> Report:
    """A department user sees only their department's cases: anything else is a 404, not a hint it exists."""
    report = get_report(report_id)
    if report is None or report.department_id is None or report.department_id != current_user.department_id:
        abort(404)
    return report


def _inbox_url() -> str:
    """The inbox page the worker came from (its page and light filter, read from the Referer, which the app's
    Referrer-Policy sends within the site), else its first page: a case reached on page 3 leads back to page 3."""
    came_from = urlsplit(request.referrer or "")
    inbox = url_for("handling.inbox")
    if came_from.netloc != request.host or came_from.path != inbox:
        return inbox
    args = parse_qs(came_from.query)
    kept: dict[str, Any] = {}
    if (light := args.get("light", [""])[0]) in {value.value for value in Light}:
        kept["light"] = light
    if (page := args.get("page", [""])[0]).isdigit() and 1 < int(page) <= 100_000:
        kept["page"] = int(page)
    return url_for("handling.inbox", **kept)


def _case_context(report: Report, **extra: Any) -> dict[str, Any]:
    return {
        "inbox_url": _inbox_url(),
        "report": report,
        "light": services.deadline_light(report),
        "case_form": CaseForm(prefix="case", version=report.version),
        "extension_form": ExtensionForm(prefix="ext", version=report.version),
        "can": lambda action: workflow.allowed(report, action, current_user),
        **extra,
    }


def _after(report: Report, message: str, endpoint: str) -> Response:
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(endpoint, report_id=report.id), 303)


def _refused(report_id: int, error: DomainError, page: str) -> Response:
    db.session.rollback()
    flash(str(error.message), "error")
    report = get_report(report_id)
    return page_or_fragment(
        page, page.replace("/case.html", "/_case.html"), status=error.status, **_case_context(report)
    )  # type: ignore[arg-type]


# --- Department ---------------------------------------------------------------------------------------------


@bp.get("/department/")
@roles_required(Role.DEPARTMENT)
def inbox() -> Response:
    only = request.args.get("light") or ""
    if only not in {value.value for value in Light}:
        only = ""
    filters = {"light": only} if only else {}  # kept in the pager's links
    if current_user.department is None:
        flash(_("Your account is not attached to a department yet. Please ask an administrator."), "error")
        empty = Page([], 1, services.INBOX_PER_PAGE, 0)
        return page_or_fragment("handling/inbox.html", "handling/_inbox.html", result=empty, only="", filters={})
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    result = services.inbox(current_user.department, only=only or None, page=page)
    return page_or_fragment(
        "handling/inbox.html", "handling/_inbox.html", result=result, only=only, filters=filters, card=inbox_card
    )


def inbox_card(item: services.InboxItem) -> Markup:
    """An inbox card, rendered once per what it shows (the case's columns and its light: ``InboxItem`` is plain
    and immutable), language and zone: the cards were most of the inbox's time, and many staff of a department
    open the same inbox all day."""
    return remembered_render("handling/_inbox_card.html", item, item=item)


@bp.get("/department/<id:report_id>")
@roles_required(Role.DEPARTMENT)
def case(report_id: int) -> Response:
    report = _own_case(report_id)
    return page_or_fragment("handling/case.html", "handling/_case.html", **_case_context(report))


@bp.post("/department/<id:report_id>/<any(sign, start, return, acknowledge):action>")
@roles_required(Role.DEPARTMENT)
def department_action(report_id: int, action: str) -> Response:
    report = _own_case(report_id)
    form = CaseForm(prefix="case")
    try:
        if not form.validate():
            raise workflow.AlreadyHandled()
        if action == "sign":
            services.sign(report, current_user, form.expected_version)
            message = _("Case #%(id)d received.", id=report.id)
        elif action == "start":
            services.start(report, current_user, form.expected_version)
            message = _("Work on case #%(id)d started.", id=report.id)
        elif action == "acknowledge":
            emergency.acknowledge(report, current_user)
            message = _("Emergency #%(id)d acknowledged.", id=report.id)
        else:
            services.return_case(report, current_user, form.note.data or "", form.expected_version)
            db.session.commit()
            flash(_("Case #%(id)d returned to the reviewers.", id=report.id), "success")
            return redirect(url_for("handling.inbox"), 303)
    except DomainError as error:
        return _refused(report_id, error, "handling/case.html")
    return _after(report, message, "handling.case")


@bp.post("/department/<id:report_id>/result")
@roles_required(Role.DEPARTMENT)
def department_result(report_id: int) -> Response:
    report = _own_case(report_id)
    return _post_result(report, "handling/case.html", "handling.case")


def _post_result(report: Report, page: str, endpoint: str) -> Response:
    form = CaseForm(prefix="case")
    try:
        if not form.validate():
            raise workflow.AlreadyHandled()
        photos = read_photos(request.files.getlist("photos"), current_app.config["PHOTO_MAX_BYTES"])
        services.post_result(
            report,
            current_user,
            note=form.note.data or "",
            photos=photos,
            storage=current_app.extensions["storage"],
            limits=photo_limits(),
            expected_version=form.expected_version,
        )
    except DomainError as error:
        return _refused(report.id, error, page)
    return _after(report, _("Result of case #%(id)d sent for checking.", id=report.id), endpoint)


@bp.post("/department/<id:report_id>/extension")
@roles_required(Role.DEPARTMENT)
def extension(report_id: int) -> Response:
    report = _own_case(report_id)
    form = ExtensionForm(prefix="ext")
    try:
        if not form.validate():
            raise services.HandlingError(_("Please ask for a sensible amount of extra time."), field="extra_value")
        services.request_extension(
            report,
            current_user,
            extra_value=form.extra_value.data,
            extra_unit=TimeUnit(form.extra_unit.data),
            reason=form.note.data or "",
        )
    except DomainError as error:
        return _refused(report_id, error, "handling/case.html")
    return _after(report, _("Your request for more time was sent to the reviewers."), "handling.case")


# --- Volunteers ---------------------------------------------------------------------------------------------


@bp.get("/volunteer/")
@roles_required(Role.VOLUNTEER)
def volunteer() -> Response:
    lat = request.args.get("lat", type=float)
    lon = request.args.get("lon", type=float)
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    return page_or_fragment(
        "handling/volunteer.html",
        "handling/_claimable.html",
        items=services.claimable(lat, lon),
        mine=services.my_claims(current_user),
        position=(lat, lon),
    )


def _volunteer_case(report_id: int) -> Report:
    """Volunteers see the cases they may take and the ones they took."""
    report = get_report(report_id)
    if report is None or not (report.handler_id == current_user.id or workflow.allowed(report, "claim", current_user)):
        abort(404)
    return report


@bp.get("/volunteer/<id:report_id>")
@roles_required(Role.VOLUNTEER)
def volunteer_case(report_id: int) -> Response:
    report = _volunteer_case(report_id)
    return page_or_fragment("handling/volunteer_case.html", "handling/_case.html", **_case_context(report))


@bp.post("/volunteer/<id:report_id>/claim")
@roles_required(Role.VOLUNTEER)
def claim(report_id: int) -> Response:
    report = _volunteer_case(report_id)
    form = CaseForm(prefix="case")
    try:
        if not form.validate():
            raise workflow.AlreadyHandled()
        services.claim(report, current_user, form.expected_version)
    except DomainError as error:
        return _refused(report_id, error, "handling/volunteer_case.html")
    return _after(report, _("You took case #%(id)d. Thank you!", id=report.id), "handling.volunteer_case")


@bp.post("/volunteer/<id:report_id>/result")
@roles_required(Role.VOLUNTEER)
def volunteer_result(report_id: int) -> Response:
    report = _volunteer_case(report_id)
    return _post_result(report, "handling/volunteer_case.html", "handling.volunteer_case")


@bp.route("/volunteer/fix", methods=["GET", "POST"])
@roles_required(Role.VOLUNTEER)
@limiter.limit(lambda: current_app.config["RATELIMIT_SUBMIT"], key_func=submission_rate_key, methods=["POST"])
def fix() -> Response:
    """Report and fix at once: before photos, after photos, and the result goes to 核查."""
    categories = [c for g in taxonomy.groups() for c in g.categories if c.active and c.volunteer_suitable]
    values = {
        key: request.form.get(key, "")
        for key in ("category", "lat", "lon", "location_source", "address", "description", "note")
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            data = parse_submission(
                request.form,
                request.files.getlist("photos"),
                channel=Channel.WEB,
                max_photo_bytes=current_app.config["PHOTO_MAX_BYTES"],
                client_id_required=False,
            )
            after = read_photos(request.files.getlist("after_photos"), current_app.config["PHOTO_MAX_BYTES"])
            report, _created = services.report_and_fix(
                current_user,
                data,
                after_photos=after,
                note=values["note"],
                storage=current_app.extensions["storage"],
                limits=photo_limits(),
            )
        except DomainError as error:
            db.session.rollback()
            errors = getattr(error, "errors", None) or {error.field or "form": str(error.message)}
            status = error.status
        else:
            db.session.commit()
            flash(_("Thank you! Report #%(id)d and your result were sent for checking.", id=report.id), "success")
            return redirect(url_for("reports.detail", report_id=report.id), 303)
    response = current_app.make_response(
        (render_template("handling/fix.html", categories=categories, values=values, errors=errors), status)
    )
    return response
