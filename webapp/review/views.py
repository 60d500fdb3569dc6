"""The reviewer workspace (审核台): the queue and the case view with its actions. Reviewers and supervisors only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, make_response, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from webapp.accounts.access import roles_required
from webapp.accounts.models import Department, Role
from webapp.db import db
from webapp.errors import DomainError
from webapp.rendering import is_fragment_request, page_or_fragment
from webapp.reports import taxonomy
from webapp.reports.models import Report, Severity
from webapp.reports.status import ReportStatus
from webapp.review import emergency, services, workflow
from webapp.review.forms import AcceptForm, BulkForm, CaseForm, DispatchForm, ExtensionDecisionForm, RejectForm
from webapp.review.models import ExtensionRequest

bp = Blueprint("review", __name__, url_prefix="/review")
STAFF = (Role.REVIEWER, Role.ADMIN)


def _departments() -> list[SelectChoice]:
    rows = db.session.scalars(sa.select(Department).where(Department.active).order_by(Department.code))
    return [SelectChoice(str(d.id), d.name) for d in rows]


def _categories() -> list[SelectChoice]:
    return [SelectChoice(c.code, c.name, optgroup=g.name) for g in taxonomy.groups() for c in g.categories if c.active]


def _forms(report: Report) -> dict[str, Any]:
    accept = AcceptForm(prefix="accept", version=report.version)
    accept.category.choices = _categories()
    accept.department.choices = [SelectChoice("", "—"), *_departments()]
    reject = RejectForm(prefix="reject", version=report.version)
    reject.reason.choices = [SelectChoice(k, v) for k, v in services.REJECT_REASONS.items()]
    dispatch = DispatchForm(prefix="dispatch", version=report.version)
    dispatch.department.choices = _departments()
    if not accept.is_submitted():
        accept.category.data = report.category_code
        suggested = services.suggested_department(report)
        accept.department.data = str(suggested.id) if suggested else ""
        dispatch.department.data = accept.department.data
        accept.severity.data = (report.severity or Severity.GENERAL).value
    return {"accept_form": accept, "reject_form": reject, "dispatch_form": dispatch}


def _case_context(report: Report, **extra: Any) -> dict[str, Any]:
    context = {
        "report": report,
        "record": services.reporter_record(report.reporter),
        "nearby": services.nearby_cases(report),
        "extensions": services.pending_extensions(report),
        "suggested": services.suggested_department(report),
        "case_form": CaseForm(prefix="case", version=report.version),
        "can": lambda action: workflow.allowed(report, action, current_user),
        "next_url": _next_case_url(report),
    }
    context.update(_forms(report))
    context.update(extra)
    return context


def _next_case_url(report: Report) -> str | None:
    queue_name = request.args.get("queue") or ("check" if report.status is ReportStatus.AWAITING_CHECK else "review")
    following = services.next_in_queue(queue_name, report)
    return url_for("review.case", report_id=following.id, queue=queue_name) if following else None


def _bulk_form(**options: Any) -> BulkForm:
    form = BulkForm(**options)
    form.reason.choices = [SelectChoice(k, v) for k, v in services.REJECT_REASONS.items() if k != "duplicate"]
    return form


_BULK_FIELDS: dict[str, Markup] = {}


def _bulk_fields() -> Markup:
    """The queue's bulk actions (two labelled selects), the same for every reviewer: rendered once per language
    (building and rendering the form on every visit was about a tenth of the queue's server time)."""
    language = str(get_locale())
    rendered = _BULK_FIELDS.get(language)
    if rendered is None:
        form = _bulk_form(formdata=None, meta={"csrf": False})
        rendered = Markup(f"{form.action.label()} {form.action()}\n    {form.reason.label()} {form.reason()}")
        _BULK_FIELDS[language] = rendered
    return rendered


@bp.get("/")
@roles_required(*STAFF)
def queue() -> Response:
    name = request.args.get("queue", "review")
    if name not in services.QUEUES:
        name = "review"
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    filters = {
        "queue": name,
        "group": request.args.get("group") or "",
        "street": request.args.get("street") or "",
        "emergency": "1" if request.args.get("emergency") else "",
    }
    counts = services.queue_counts()
    result = services.queue(
        name,
        group=filters["group"] or None,
        street=filters["street"] or None,
        emergency_only=bool(filters["emergency"]),
        page=page,
        counts=counts,
    )
    return page_or_fragment(
        "review/queue.html",
        "review/_queue.html",
        result=result,
        filters=filters,
        counts=counts,
        groups=taxonomy.groups(),
        bulk_fields=_bulk_fields(),
        queues=services.QUEUES,
    )


@bp.get("/<id:report_id>")
@roles_required(*STAFF)
def case(report_id: int) -> Response:
    report = services.get_case(report_id)
    return page_or_fragment("review/case.html", "review/_case.html", **_case_context(report))


def _done(report: Report, message: str) -> Response:
    """After an action: on to the next case in the queue (or back to this one when the queue is empty)."""
    db.session.commit()
    flash(message, "success")
    target = _next_case_url(report) or url_for("review.case", report_id=report.id)
    if is_fragment_request():
        response = make_response("", 204)
        response.headers["HX-Location"] = target
        return response
    return redirect(target, 303)


def _refused(report_id: int, error: DomainError, **forms: Any) -> Response:
    """A refused action: show the case as it is now, with the reason, and the status of the refusal."""
    db.session.rollback()
    report = services.get_case(report_id)
    flash(str(error.message), "error")
    return page_or_fragment(
        "review/case.html", "review/_case.html", status=error.status, **_case_context(report, **forms)
    )


def _department(value: str | None) -> Department | None:
    if not value or not value.isdigit():
        return None
    department = db.session.get(Department, int(value))
    return department if department is not None and department.active else None


@bp.post("/<id:report_id>/accept")
@roles_required(*STAFF)
def accept(report_id: int) -> Response:
    report = services.get_case(report_id)
    forms = _forms(report)
    form: AcceptForm = forms["accept_form"]
    try:
        if not form.validate():
            raise services.ReviewError(_("Please check the category and the severity."), field="category")
        services.accept(
            report,
            current_user,
            category_code=form.category.data,
            severity=Severity(form.severity.data),
            department=_department(form.department.data),
            for_volunteers=form.for_volunteers.data,
            note=form.note.data or "",
            expected_version=form.expected_version,
        )
    except DomainError as error:
        return _refused(report_id, error)
    return _done(report, _("Case #%(id)d opened.", id=report.id))


@bp.post("/<id:report_id>/reject")
@roles_required(*STAFF)
def reject(report_id: int) -> Response:
    report = services.get_case(report_id)
    form: RejectForm = _forms(report)["reject_form"]
    try:
        if not form.validate():
            raise services.ReviewError(_("Please choose a reason from the list."), field="reason")
        services.reject(
            report,
            current_user,
            reason=form.reason.data,
            note=form.note.data or "",
            duplicate_of=form.duplicate_of.data,
            expected_version=form.expected_version,
        )
    except DomainError as error:
        return _refused(report_id, error)
    return _done(report, _("Report #%(id)d refused.", id=report.id))


@bp.post("/<id:report_id>/dispatch")
@roles_required(*STAFF)
def dispatch(report_id: int) -> Response:
    report = services.get_case(report_id)
    form: DispatchForm = _forms(report)["dispatch_form"]
    try:
        department = _department(form.department.data) if form.validate() else None
        if department is None:
            raise services.ReviewError(_("Please choose the department that handles it."), field="department")
        services.redispatch(report, current_user, department, form.note.data or "", form.expected_version)
    except DomainError as error:
        return _refused(report_id, error)
    return _done(report, _("Case #%(id)d dispatched.", id=report.id))


# Actions that need only the version and an optional note.
SIMPLE_ACTIONS = {
    "close": lambda r, u, f: services.close(r, u, f.note.data or "", f.expected_version),
    "rework": lambda r, u, f: services.send_back(r, u, f.note.data or "", f.expected_version),
    "refuse-result": lambda r, u, f: services.refuse_result(r, u, f.note.data or "", f.expected_version),
    "suspend": lambda r, u, f: services.suspend(r, u, f.note.data or "", f.expected_version),
    "resume": lambda r, u, f: services.resume(r, u, f.expected_version),
    "escalate": lambda r, u, f: services.escalate(r, u, f.note.data or ""),
    "acknowledge": lambda r, u, f: emergency.acknowledge(r, u),
}
SUCCESS = {
    "close": lambda i: _("Case #%(id)d closed.", id=i),
    "rework": lambda i: _("Case #%(id)d sent back for rework.", id=i),
    "refuse-result": lambda i: _("Report #%(id)d refused.", id=i),
    "suspend": lambda i: _("Case #%(id)d put on the long-term list.", id=i),
    "resume": lambda i: _("Case #%(id)d dispatched again.", id=i),
    "escalate": lambda i: _("Case #%(id)d escalated.", id=i),
    "acknowledge": lambda i: _("Emergency #%(id)d acknowledged.", id=i),
}


@bp.post("/<id:report_id>/<any(close, rework, 'refuse-result', suspend, resume, escalate, acknowledge):action>")
@roles_required(*STAFF)
def simple_action(report_id: int, action: str) -> Response:
    report = services.get_case(report_id)
    form = CaseForm(prefix="case")
    try:
        if not form.validate():
            raise workflow.AlreadyHandled()
        SIMPLE_ACTIONS[action](report, current_user, form)
    except DomainError as error:
        return _refused(report_id, error)
    return _done(report, SUCCESS[action](report.id))


@bp.post("/<id:report_id>/extension")
@roles_required(*STAFF)
def decide_extension(report_id: int) -> Response:
    report = services.get_case(report_id)
    form = ExtensionDecisionForm(prefix="ext")
    extension = (
        db.session.get(ExtensionRequest, int(form.request_id.data)) if (form.request_id.data or "").isdigit() else None
    )
    if extension is None or extension.report_id != report.id:
        abort(404)
    try:
        services.decide_extension(
            extension, current_user, approve=form.decision.data == "approve", note=form.note.data or ""
        )
    except DomainError as error:
        return _refused(report_id, error)
    return _done(report, _("Decision saved for case #%(id)d.", id=report.id))


@bp.post("/bulk")
@roles_required(*STAFF)
def bulk() -> Response:
    """Open or refuse several reports at once; each is a normal transition (and may be refused on its own)."""
    form = _bulk_form()
    ids = [int(i) for i in request.form.getlist("ids") if i.isdigit()][:100]
    if not form.validate() or not ids:
        flash(_("Choose at least one report and an action."), "error")
        return redirect(url_for("review.queue"), 303)
    done, refused = 0, 0
    for report_id in ids:
        report = db.session.get(Report, report_id)
        if report is None:
            continue
        try:
            with db.session.begin_nested():
                if form.action.data == "accept":
                    department = services.suggested_department(report)
                    services.accept(
                        report,
                        current_user,
                        category_code=report.category_code,
                        severity=Severity.GENERAL,
                        department=department,
                    )
                else:
                    services.reject(report, current_user, reason=form.reason.data or "not_city_problem")
            done += 1
        except DomainError:
            refused += 1
    db.session.commit()
    flash(
        _("%(done)d reports handled, %(refused)d could not be.", done=done, refused=refused),
        "success" if not refused else "info",
    )
    return redirect(url_for("review.queue"), 303)
