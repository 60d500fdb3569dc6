"""The notification centre: every change of my reports and, for staff, cases that need them."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.db import db
from webapp.notifications import services
from webapp.rendering import is_fragment_request, page_or_fragment

bp = Blueprint("notifications", __name__)


@bp.get("/me/notifications")
@login_required
def index() -> Response:
    entries = services.grouped(current_user)
    return page_or_fragment("notifications/index.html", "notifications/_list.html", entries=entries, text=services.text)


@bp.post("/me/notifications/read")
@login_required
def mark_read() -> Response:
    services.mark_all_read(current_user)
    db.session.commit()
    if is_fragment_request():
        return page_or_fragment(
            "notifications/index.html",
            "notifications/_list.html",
            entries=services.grouped(current_user),
            text=services.text,
        )
    flash(_("All notifications marked as read."), "info")
    return redirect(url_for("notifications.index"), 303)
