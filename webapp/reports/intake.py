"""From an HTTP request to ``submit_report``: the one path shared by the report form and ``POST /api/v1/reports``."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from webapp.reports import services
from webapp.reports.forms import parse_submission
from webapp.reports.models import Channel, Report


def photo_limits() -> services.PhotoLimits:
    config = current_app.config
    return services.PhotoLimits(
        max_bytes=config["PHOTO_MAX_BYTES"],
        max_pixels=config["PHOTO_MAX_PIXELS"],
        per_report=config["PHOTOS_PER_REPORT"],
    )


def submission_rate_key() -> str:
    """Submissions are rate-limited per resident (per address when not logged in)."""
    return f"user:{current_user.id}" if current_user.is_authenticated else request.remote_addr or "?"


def submit_from_request(channel: Channel, *, client_id_required: bool) -> tuple[Report, bool]:
    """Parse the submitted fields and photos and submit them for the logged-in resident (flushes, no commit)."""
    data = parse_submission(
        request.form,
        request.files.getlist("photos"),
        channel=channel,
        max_photo_bytes=current_app.config["PHOTO_MAX_BYTES"],
        client_id_required=client_id_required,
    )
    return services.submit_report(current_user, data, storage=current_app.extensions["storage"], limits=photo_limits())
