"""The Open311 blueprint: thin views over the services, queries, submission and formats modules."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, redirect, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from webapp.api.models import Open311Request, authenticate, key_prefix
from webapp.api.open311.base import CHANGESET, DEFAULT_RATELIMIT, MAX_REQUEST_ID, SPECIFICATION, Open311Error
from webapp.api.open311.formats import babel_locale, document, error_document, format_of_request, wants_english
from webapp.api.open311.queries import address_ids_of, find_requests, parse_query, request_fields
from webapp.api.open311.services import attributes_for, service_fields
from webapp.api.open311.submission import parse_submission, submit
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import csrf, limiter
from webapp.reports import services as reports
from webapp.reports import taxonomy

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FMT = "<any(xml, json):fmt>"


@bp.errorhandler(Open311Error)
def open311_error(error: Open311Error) -> Response:
    return error_document(format_of_request(), error)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    descriptions = {
        400: "the request could not be read",
        404: "resource not found",
        405: "method not allowed",
        413: "the request is too large",
        429: "too many requests for this api_key; slow down and retry later",
    }
    response = error_document(
        format_of_request(), Open311Error(status, descriptions.get(status, error.description or "error"))
    )
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    response.vary.add("Accept-Language")
    if request.method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"  # public, read-only data
    return response


@bp.before_request
def _refuse_nul() -> None:
    """A NUL character is never meaningful in a parameter, and PostgreSQL refuses it in text: a 400, not a 500."""
    values = [*(request.view_args or {}).values(), *request.args.values()]
    if request.method == "POST":
        values.extend(request.form.values())
        values.extend(request.form.keys())
    values.extend(request.args.keys())
    if any("\x00" in str(value) for value in values):
        raise Open311Error(400, "parameters must not contain NUL characters")


@bp.before_request
def _check_jurisdiction() -> None:
    """One jurisdiction per server: ``jurisdiction_id`` is ignored unless OPEN311_JURISDICTION is set, and then
    any other value is a 404, as the spec says for an unknown jurisdiction."""
    expected = current_app.config.get("OPEN311_JURISDICTION")
    given = (request.values.get("jurisdiction_id") or "").strip()
    if expected and given and given.lower() != str(expected).lower():
        raise Open311Error(404, f"jurisdiction_id {given[:100]!r} was not found; this server serves {expected!r}")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("open311.discovery", fmt="xml"))


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    base = url_for("open311.index", _external=True).rstrip("/")
    contact = current_app.config.get(
        "OPEN311_CONTACT", "Citizen Grid (全民网格) city management command centre, via the city's service desk"
    )
    key_service = current_app.config.get(
        "OPEN311_KEY_SERVICE",
        "Ask the city's Citizen Grid operators for an API key: an administrator issues one per client application "
        f"(admin page {url_for('api_keys.index', _external=True)}) and can revoke it at any time.",
    )
    return document(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": contact,
            "key_service": key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": base,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@bp.get(f"/services.{FMT}")
def services(fmt: str) -> Response:
    english = wants_english()
    with force_locale(babel_locale(english)):
        listed = [
            service_fields(category, english=english)
            for group in taxonomy.groups()
            for category in group.categories
            if category.active
        ]
    return document(fmt, "services", listed)


@bp.get(f"/services/<service_code>.{FMT}")
def service_definition(service_code: str, fmt: str) -> Response:
    category = taxonomy.get_category(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code!r} was not found")
    english = wants_english()
    attributes = [
        attribute.as_open311(order, english=english)
        for order, attribute in enumerate(attributes_for(category.code), start=1)
    ]
    return document(fmt, "service_definition", {"service_code": category.code, "attributes": attributes})


def _rate_key() -> str:
    prefix = key_prefix(request.form.get("api_key") or request.args.get("api_key"))
    return f"open311:{prefix}" if prefix else f"open311-ip:{request.remote_addr or '?'}"


@bp.post(f"/requests.{FMT}")
@limiter.limit(lambda: current_app.config.get("RATELIMIT_OPEN311", DEFAULT_RATELIMIT), key_func=_rate_key)
def create_request(fmt: str) -> Response:
    api_key = authenticate(request.form.get("api_key") or request.args.get("api_key"))
    if api_key is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    submission = parse_submission(request.form)
    try:
        report, _record = submit(api_key, submission)
    except DomainError as error:
        db.session.rollback()
        raise Open311Error(400, str(error.message)) from None
    db.session.commit()
    english = wants_english()
    with force_locale(babel_locale(english)):
        notice = _(
            "Received as report %(id)d. The city reviews it first; once dispatched it is handled within %(limit)s.",
            id=report.id,
            limit=report.category.time_limit_label,
        )
    response = document(
        fmt,
        "service_requests",
        [{"service_request_id": str(report.id), "service_notice": notice, "account_id": None}],
        status=201,
    )
    response.headers["Location"] = url_for("open311.get_request", request_id=str(report.id), fmt=fmt, _external=True)
    return response


csrf.exempt(create_request)


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str) -> Response:
    query = parse_query(request.args, utcnow())
    found = find_requests(query)
    english = wants_english()
    address_ids = address_ids_of(found)
    with force_locale(babel_locale(english)):
        listed = [request_fields(r, english=english, address_id=address_ids.get(r.id)) for r in found]
    return document(fmt, "service_requests", listed)


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> Response:
    valid = request_id.isascii() and request_id.isdigit() and 1 <= int(request_id[:11]) <= MAX_REQUEST_ID
    report = reports.get_report(int(request_id)) if valid else None
    if report is None:
        raise Open311Error(404, f"service_request_id {request_id!r} was not found")
    english = wants_english()
    address_ids = address_ids_of([report])
    with force_locale(babel_locale(english)):
        fields = request_fields(report, english=english, address_id=address_ids.get(report.id))
    return document(fmt, "service_requests", [fields])


@bp.get(f"/tokens/<token>.{FMT}")
def token(token: str, fmt: str) -> Response:
    record = (
        db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token)) if len(token) <= 36 else None
    )
    if record is None:
        raise Open311Error(404, f"token {token[:40]!r} was not found")
    return document(fmt, "service_requests", [{"service_request_id": str(record.report_id), "token": record.token}])


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under /open311/v2/ answers in the spec's error format, not with an HTML page."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "open311.unknown":
            allowed.append(method)
    if allowed:
        response = error_document(format_of_request(), Open311Error(405, "method not allowed"))
        response.headers["Allow"] = ", ".join(allowed)
        return response
    raise Open311Error(404, "resource not found")


csrf.exempt(unknown)  # so PUT and friends get a 405 in the spec's format, not a CSRF page
