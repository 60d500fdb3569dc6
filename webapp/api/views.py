"""JSON API for the offline outbox and other clients (``/api/v1``), and ``/healthz``.

Errors are ``{"error": {"code", "message"}}`` with the right status (see webapp.errors). Every state change
needs the ``X-CSRFToken`` header; ``GET /api/v1/csrf`` hands out a fresh token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from webapp.accounts import services as accounts
from webapp.accounts import sessions
from webapp.db import db
from webapp.errors import DomainError, NotFound, error_response
from webapp.extensions import limiter
from webapp.reports import privacy, taxonomy
from webapp.reports import services as reports
from webapp.reports.intake import submission_rate_key, submit_from_request
from webapp.reports.models import Channel, Report

bp = Blueprint("api", __name__)


def report_summary(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "client_id": report.client_id,
        "url": url_for("reports.detail", report_id=report.id, _external=True),
        "status": report.status.value,
    }


def report_detail(report: Report) -> dict[str, Any]:
    """The report as the API shows it to the current user (what may be seen: webapp/reports/privacy.py)."""
    seen = privacy.view(report, current_user)
    photos = [
        url_for("reports.media_file", key=photo.display_key, _external=True)
        for photo in report.photos
        if photo.kind == "before" and seen.photos
    ]
    return _report_fields(
        report, lat=seen.lat, lon=seen.lon, address=seen.address, description=seen.description, photos=photos, seen=seen
    )


def _report_fields(report: Report, **shown: Any) -> dict[str, Any]:
    return {
        "id": report.id,
        "client_id": report.client_id,
        "status": report.status.value,
        "status_label": report.status.label,
        "category": report.category_code,
        "category_name": report.category.name,
        "lat": shown["lat"],
        "lon": shown["lon"],
        "address": shown["address"],
        "description": shown["description"],
        "created_at": report.created_at.isoformat(),
        "photos": shown["photos"],
        "events": [
            {
                "at": event.at.isoformat(),
                "from": event.from_status.value if event.from_status else None,
                "to": event.to_status.value,
                "by_role": event.actor_role,
                "note": shown["seen"].note(event.note),
            }
            for event in report.events
        ],
    }


def login_required_json() -> Response | None:
    if not current_user.is_authenticated:
        return error_response(401, "unauthorized", _("Please log in first."))
    return None


@bp.get("/healthz")
def healthz() -> Response:
    """For load balancers: the same database check as /admin/monitoring, kept cheap (no storage probe)."""
    from webapp.monitoring.services import ping_database

    if ping_database() is None:
        response = jsonify({"status": "error", "db": "unavailable"})
        response.status_code = 503
        return response
    return jsonify({"status": "ok", "db": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """For a load balancer deciding whether to send this server traffic: the database, the photo storage and the
    job queue all answer (``/healthz`` stays the cheap liveness check). 503 names what does not answer."""
    from webapp.monitoring.services import readiness

    checks = readiness()
    ready = all(state == "ok" for state in checks.values())
    response = jsonify({"status": "ok" if ready else "error", **checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/csrf")
def csrf_token() -> Response:
    response = jsonify({"csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/v1/session")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
def create_session() -> Response:
    body = request.get_json(silent=True)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("phone"), str)
        or not isinstance(body.get("password"), str)
    ):
        return error_response(400, "bad_request", _("Send JSON with a phone and a password."))
    user = accounts.authenticate(body["phone"], body["password"])
    if user is None:
        return error_response(401, "invalid_credentials", _("The mobile number or password is not correct."))
    sessions.log_in(user, remember=True)
    db.session.commit()
    # Logging in starts a new CSRF context for the session; hand the client its token straight away.
    return jsonify({"csrf_token": generate_csrf(), "user": {"id": user.id, "role": user.role.value}})


@bp.delete("/api/v1/session")
def delete_session() -> Response:
    """Ends this session: a saved copy of its cookies no longer works."""
    sessions.log_out(current_user)
    db.session.commit()
    return jsonify({"status": "logged_out"})


@bp.get("/api/v1/categories")
def categories() -> Response:
    """The category list for the offline form."""
    return jsonify(
        [
            {
                "code": group.code,
                "name": group.name,
                "categories": [{"code": c.code, "name": c.name} for c in group.categories if c.active],
            }
            for group in taxonomy.groups()
        ]
    )


@bp.post("/api/v1/reports")
@limiter.limit(lambda: current_app.config["RATELIMIT_SUBMIT"], key_func=submission_rate_key)
def create_report() -> Response:
    if (denied := login_required_json()) is not None:
        return denied
    if request.mimetype != "multipart/form-data":
        return error_response(415, "unsupported_media_type", _("Send the report as multipart/form-data."))
    try:
        report, created = submit_from_request(Channel.APP, client_id_required=True)
    except DomainError as error:
        db.session.rollback()
        extra: dict[str, Any] = {}
        if getattr(error, "errors", None):
            extra["fields"] = error.errors  # type: ignore[attr-defined]
        elif error.field:
            extra["fields"] = {error.field: str(error.message)}
        return error_response(error.status, error.code, error.message, extra)
    db.session.commit()
    response = jsonify(report_summary(report))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("api.get_report", report_id=report.id)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/api/v1/reports/<id:report_id>")
def get_report(report_id: int) -> Response:
    report = reports.get_report(report_id)
    if report is None:  # every report has a public page; what each viewer sees is reports/privacy.py's decision
        raise NotFound(_("This report does not exist."))
    return jsonify(report_detail(report))


@bp.get("/api/v1/me/reports")
def my_reports() -> Response:
    if (denied := login_required_json()) is not None:
        return denied
    return jsonify(
        [
            {
                "id": r.id,
                "client_id": r.client_id,
                "status": r.status.value,
                "created_at": r.created_at.isoformat(),
            }
            for r in reports.reports_by(current_user, limit=500)
        ]
    )


@bp.get("/api/v1/me/points")
def my_points() -> Response:
    """The logged-in resident's points balance."""
    from webapp.points.ledger import balance_of

    if (denied := login_required_json()) is not None:
        return denied
    response = jsonify({"balance": balance_of(current_user)})
    response.headers["Cache-Control"] = "private, no-store"
    return response
