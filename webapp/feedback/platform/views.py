"""Pages of platform feedback (意见反馈): the public form, "my feedback", the private status link, admin triage."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, current_app, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError, error_response
from webapp.extensions import limiter
from webapp.feedback.forms import FeedbackForm, TriageForm
from webapp.feedback.models import FeedbackKind, FeedbackStatus, PlatformFeedback, ReplyChannel
from webapp.feedback.platform import services as platform
from webapp.files import file_response
from webapp.rendering import is_fragment_request, page_or_fragment
from webapp.reports.intake import submission_rate_key

bp = Blueprint("platform_feedback", __name__)


def _viewer():  # type: ignore[no-untyped-def]
    return current_user if current_user.is_authenticated else None


def _form_page(form: FeedbackForm, status: int = 200) -> Response:
    if _viewer() is None:  # a reply in the app needs an account
        form.reply_via.choices = [c for c in form.reply_via.choices if c.value != ReplyChannel.APP.value]  # type: ignore[union-attr]
    if not form.client_id.data:
        form.client_id.data = str(uuid.uuid4())
    return page_or_fragment("feedback/new.html", "feedback/_form.html", status, form=form, text_max=platform.TEXT_MAX)


@bp.get("/feedback")
def new() -> Response:
    form = FeedbackForm(formdata=None)
    form.reply_via.data = ReplyChannel.APP.value if _viewer() else ReplyChannel.NONE.value
    form.client_id.data = str(uuid.uuid4())
    return _form_page(form)


@bp.post("/feedback")
@limiter.limit(lambda: current_app.config["RATELIMIT_SUBMIT"], key_func=submission_rate_key)
def create() -> Response:
    form = FeedbackForm()
    if not form.validate():
        return _form_page(form, 422)
    upload = form.screenshot.data
    data = platform.NewFeedback(
        kind=form.kind.data or "",
        text=form.text.data or "",
        reply_via=form.reply_via.data or "",
        client_id=form.client_id.data or "",
        phone=form.phone.data or "",
        screenshot=upload.read() if upload and getattr(upload, "filename", "") else None,
    )
    try:
        feedback, created = platform.submit(
            _viewer(),
            data,
            storage=current_app.extensions["storage"],
            max_bytes=current_app.config["PHOTO_MAX_BYTES"],
            max_pixels=current_app.config["PHOTO_MAX_PIXELS"],
        )
    except DomainError as error:
        db.session.rollback()
        errors = getattr(error, "errors", None) or {error.field or "text": str(error.message)}
        for name, message in errors.items():
            target = getattr(form, name, None)
            if target is None or name == "client_id":
                form.form_errors.append(message)
            else:
                target.errors = [*target.errors, message]
        if isinstance(error, platform.FeedbackConflict):
            form.client_id.data = str(uuid.uuid4())
        return _form_page(form, error.status)
    db.session.commit()
    if created:
        flash(_("Thank you for your feedback! Its number is %(ref)s.", ref=feedback.reference), "success")
    else:
        flash(_("This feedback had already arrived; nothing was sent twice."), "info")
    if feedback.user_id is not None:
        return redirect(url_for("platform_feedback.detail", feedback_id=feedback.id), 303)
    return redirect(url_for("platform_feedback.by_link", token=feedback.token), 303)


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/feedback/mine")
@login_required
def mine() -> Response:
    return page_or_fragment("feedback/mine.html", "feedback/_mine.html", items=platform.mine(current_user))


def _status_page(feedback: PlatformFeedback, *, link: str | None) -> Response:
    response = make_response(
        page_or_fragment(
            "feedback/status.html",
            "feedback/_status.html",
            feedback=feedback,
            link=link,
            points=platform.points_awarded(feedback),
        )
    )
    return _private(response)


@bp.get("/feedback/<id:feedback_id>")
@login_required
def detail(feedback_id: int) -> Response:
    feedback = platform.get(feedback_id)
    if feedback is None or not platform.can_view(current_user, feedback):
        abort(404)  # someone else's feedback does not exist for this user
    if current_user.role is Role.ADMIN and feedback.user_id != current_user.id:
        return redirect(url_for("platform_feedback.admin_item", feedback_id=feedback.id))
    return _status_page(feedback, link=None)


@bp.get("/feedback/s/<token>")
def by_link(token: str) -> Response:
    """The private status page of feedback sent without an account (the token is the only key)."""
    feedback = platform.by_token(token)
    if feedback is None:
        abort(404)
    return _status_page(feedback, link=url_for("platform_feedback.by_link", token=token, _external=True))


def _screenshot(feedback: PlatformFeedback | None, size: str) -> Response:
    if feedback is None or not feedback.screenshot_key:
        abort(404)
    key = feedback.screenshot_thumb_key if size == "thumb" else feedback.screenshot_key
    if not key:
        abort(404)
    return file_response(key, public=False)  # only the sender and admins: streamed, never a public URL


@bp.get("/feedback/<id:feedback_id>/screenshot/<any(full, thumb):size>")
@login_required
def screenshot(feedback_id: int, size: str) -> Response:
    feedback = platform.get(feedback_id)
    if feedback is None or not platform.can_view(current_user, feedback):
        abort(404)
    return _screenshot(feedback, size)


@bp.get("/feedback/s/<token>/screenshot/<any(full, thumb):size>")
def screenshot_by_link(token: str, size: str) -> Response:
    return _screenshot(platform.by_token(token), size)


# --- Admin triage -------------------------------------------------------------------------------------------------


def _enum_arg(enum_cls, name: str):  # type: ignore[no-untyped-def]
    value = request.args.get(name) or ""
    try:
        return enum_cls(value)
    except ValueError:
        return None


@bp.get("/admin/feedback")
@roles_required(Role.ADMIN)
def admin_index() -> Response:
    status = _enum_arg(FeedbackStatus, "status")
    kind = _enum_arg(FeedbackKind, "kind")
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    filters = {"status": status.value if status else "", "kind": kind.value if kind else ""}
    return page_or_fragment(
        "feedback/admin_index.html",
        "feedback/_admin_list.html",
        result=platform.triage_list(status=status, kind=kind, page=page),
        filters=filters,
        counts=platform.status_counts(),
        statuses=list(FeedbackStatus),
        kinds=list(FeedbackKind),
    )


def _item_page(feedback: PlatformFeedback, form: TriageForm, status: int = 200, notice: str = "") -> Response:
    return _private(
        page_or_fragment(
            "feedback/admin_item.html",
            "feedback/_admin_item.html",
            status,
            notice=notice,
            feedback=feedback,
            form=form,
            actions=platform.allowed_actions(feedback),
            points=platform.points_awarded(feedback),
        )
    )


@bp.get("/admin/feedback/<id:feedback_id>")
@roles_required(Role.ADMIN)
def admin_item(feedback_id: int) -> Response:
    feedback = platform.get(feedback_id)
    if feedback is None:
        abort(404)
    return _item_page(feedback, TriageForm(formdata=None))


@bp.post("/admin/feedback/<id:feedback_id>")
@roles_required(Role.ADMIN)
def admin_action(feedback_id: int) -> Response:
    feedback = platform.get(feedback_id)
    if feedback is None:
        abort(404)
    form = TriageForm()
    if not form.validate():
        return _item_page(feedback, form, 422)
    action = request.form.get("action", "")
    try:
        platform.perform(feedback, action, current_user, form.message.data or "")
    except DomainError as error:
        db.session.rollback()
        db.session.refresh(feedback)
        if is_fragment_request() and error.status != 422:
            return error_response(error.status, error.code, error.message)  # shown in the page's alert area
        if error.field == "message":
            form.message.errors = [*form.message.errors, str(error.message)]
        else:
            form.form_errors.append(str(error.message))
        return _item_page(feedback, form, error.status)
    db.session.commit()
    done = platform.ACTIONS[action]
    message = _("Feedback %(ref)s: %(status)s.", ref=feedback.reference, status=platform.status_label(done.target))
    if is_fragment_request():
        return _item_page(feedback, TriageForm(formdata=None), notice=message)
    flash(message, "success")
    return redirect(url_for("platform_feedback.admin_item", feedback_id=feedback.id), 303)


@bp.app_context_processor
def _labels() -> dict[str, object]:
    def platform_labels() -> dict[str, dict]:  # type: ignore[type-arg]
        return {"kind": platform.KIND_LABELS, "status": platform.STATUS_LABELS, "channel": platform.CHANNEL_LABELS}

    return {"platform_labels": platform_labels}
