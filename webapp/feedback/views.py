from __future__ import annotations

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.db import db
from webapp.errors import DomainError
from webapp.feedback import ratings
from webapp.reports.services import get_report, page_context

bp = Blueprint("feedback", __name__)


@bp.post("/reports/<id:report_id>/rating")
@login_required
def rate(report_id: int) -> Response:
    report = get_report(report_id)
    if report is None:
        abort(404)
    try:
        ratings.rate(
            report,
            current_user,
            stars=request.form.get("stars", 0, type=int) or 0,
            comment=request.form.get("comment", ""),
            reopen=request.form.get("reopen") == "y",
        )
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        page = render_template("reports/detail.html", **page_context(report, current_user))
        return make_response(page, error.status)
    db.session.commit()
    flash(_("Thank you for your rating."), "success")
    return redirect(url_for("reports.detail", report_id=report_id), 303)
