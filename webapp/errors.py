"""Domain errors and HTTP error handling.

Services raise ``DomainError`` subclasses with a message in the user's language. The handlers below turn them,
and every HTTP error, into a page for browsers, a fragment for htmx and JSON for ``/api``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from webapp.db import db
from webapp.extensions import lazy_gettext as _l
from webapp.extensions import limiter, login_manager
from webapp.rendering import is_fragment_request

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A refused request: ``status`` is the HTTP status, ``code`` a stable machine-readable name."""

    status = 422
    code = "invalid"
    default_message: Any = _l("The request could not be processed.")

    def __init__(self, message: Any = None, *, field: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.field = field
        super().__init__(str(self.message))


class InvalidFields(DomainError):
    """One or more fields are wrong; ``errors`` maps each field to its message (the first one is the headline)."""

    code = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, field=first_field)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _l("Not found.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = _l("You are not allowed to do this.")


# Messages for plain HTTP errors, in the user's language.
HTTP_MESSAGES: dict[int, Any] = {
    400: _l("The request was not understood. Please check what you entered and try again."),
    401: _l("Please log in first."),
    403: _l("You are not allowed to open this page."),
    404: _l("This page does not exist."),
    405: _l("This action is not allowed here."),
    413: _l("The upload is too large."),
    415: _l("This kind of file is not supported."),
    422: _l("Some of what you entered is not valid."),
    429: _l("Too many attempts. Please wait a moment and try again."),
    500: _l("Something went wrong on our side. Your data is safe; please try again later."),
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def error_response(status: int, code: str, message: Any, extra: dict[str, Any] | None = None) -> Response:
    """The one way an error leaves the app: JSON for the API, a fragment for htmx, a page otherwise."""
    message = str(message)
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if extra:
            body.update(extra)
        response = jsonify({"error": body})
        response.status_code = status
        return response
    if is_fragment_request():
        response = make_response(render_template("errors/_error.html", status=status, message=message), status)
        # htmx does not swap 4xx/5xx by default; show the message in the page's alert area instead.
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(render_template("errors/error.html", status=status, message=message), status)
    response.vary.add("HX-Request")
    return response


def unauthorized() -> Response:
    """Not logged in: 401 JSON for the API, a redirect to the login page (via HX-Redirect for htmx) otherwise."""
    message = _("Please log in first.")
    login_url = url_for("accounts.login", next=request.full_path.rstrip("?"))
    if wants_json():
        return error_response(401, "unauthorized", message)
    if is_fragment_request():
        response = error_response(401, "unauthorized", message)
        response.headers["HX-Redirect"] = login_url
        return response
    flash(message, "info")
    return redirect(login_url)


def register_error_handlers(app: Flask) -> None:
    login_manager.unauthorized_handler(unauthorized)

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        extra = {"field": error.field} if error.field else None
        return error_response(error.status, error.code, error.message, extra)

    @app.errorhandler(StaleDataError)
    def stale_data(error: StaleDataError) -> Response:
        # A row changed under us between reading and writing it (optimistic locking): somebody else was faster.
        db.session.rollback()
        return error_response(409, "already_handled", _("Someone else has just changed this. Please reload the page."))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return error_response(
            400,
            "csrf_failed",
            _("This page has expired. Please go back, reload the page and try again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 429:
            message: Any = HTTP_MESSAGES[429]
        elif status == 413:
            limit_mb = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
            message = _("The upload is too large: at most %(mb)d MB in all.", mb=limit_mb)
        else:
            message = HTTP_MESSAGES.get(status, error.description)
        response = error_response(status, HTTP_CODES.get(status, "error"), message)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        if status == 429 and (breached := limiter.current_limit) is not None:
            response.headers["Retry-After"] = str(max(1, int(breached.reset_at - time.time())))
        return response

    @app.before_request
    def refuse_nul_characters() -> Response | None:
        # PostgreSQL cannot store or even compare text containing NUL, so such input would end as a database error.
        if request.blueprint == "open311":
            return None  # Open311 answers in its own error format and checks this itself
        fields = [request.path, *request.args.keys(), *(v for _, vs in request.args.lists() for v in vs)]
        if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            fields += [*request.form.keys(), *(v for _, vs in request.form.lists() for v in vs)]
        if any("\x00" in field for field in fields):
            return error_response(400, "bad_request", HTTP_MESSAGES[400])
        return None

    @app.after_request
    def count_server_errors(response: Response) -> Response:
        # Every 5xx answer, whatever produced it (a handler below, abort(503), a view), counts on /admin/monitoring.
        if response.status_code >= 500:
            from webapp.monitoring import recorder

            recorder.record("http_5xx", status=response.status_code, path=request.path)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        db.session.rollback()
        from webapp.monitoring import recorder

        recorder.record("exception", status=500, path=request.path, detail=type(error).__name__)
        if app.testing:  # let tests see the traceback of any 500
            raise error
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", HTTP_MESSAGES[500])
