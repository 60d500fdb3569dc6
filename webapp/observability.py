"""What an operator sees of the running app: request ids, structured logs and the optional error-reporting hook.

* **X-Request-ID**: a request's id is the ``X-Request-ID`` header the proxy sent (nginx ``$request_id``) when it is
  a plausible id (1–128 of ``A-Z a-z 0-9 . _ -``), otherwise a new random one; it is sent back on the response,
  written in every log line of the request and attached to error reports, so one id follows a request from nginx
  through every app server to Sentry.
* **LOG_FORMAT=json**: one JSON object per line on stderr — for every request an access line (``request_id``,
  ``user_id``, ``method``, ``route`` — the URL rule, so ``/reports/<id:report_id>`` rather than each id —
  ``path``, ``status``, ``duration_ms``) and every other log record of the app with the request id when there is
  one. Default ``text``: Flask's usual logging.
* **SENTRY_DSN**: when set, unhandled exceptions go to Sentry (or a compatible service, e.g. GlitchTip) through
  ``sentry-sdk`` — an optional extra (``pip install 'citizen-grid[sentry]'``), off by default, never sending
  personal data (``send_default_pii=False``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

ACCESS_LOGGER = "webapp.access"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and any ``extra`` fields given."""

    FIELDS = ("user_id", "method", "route", "path", "status", "duration_ms", "remote_addr")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id()
        if rid:
            line["request_id"] = rid
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _install_json_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Flask's own handler would print the same records a second time, as text.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)


def _install_sentry(app: Flask, dsn: str) -> None:
    try:
        import sentry_sdk
        from sentry_sdk.integrations.flask import FlaskIntegration
    except ImportError:
        app.logger.error(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install 'citizen-grid[sentry]' (no error reports)"
        )
        return
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config.get("SENTRY_ENVIRONMENT") or "production",
        send_default_pii=False,  # no cookies, no user details, no client addresses
        traces_sample_rate=0.0,
    )
    app.extensions["sentry"] = sentry_sdk


def init_app(app: Flask) -> None:
    json_logs = str(app.config.get("LOG_FORMAT", "text")).lower() == "json"
    if json_logs:
        _install_json_logging(app)
    access = logging.getLogger(ACCESS_LOGGER)
    if app.config.get("SENTRY_DSN"):
        _install_sentry(app, str(app.config["SENTRY_DSN"]))

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        sentry = app.extensions.get("sentry")
        if sentry is not None:
            sentry.set_tag("request_id", g.request_id)

    @app.after_request
    def send_request_id(response: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
        if json_logs:
            _access_line(access, response)
        return response


def _access_line(access: logging.Logger, response: Response) -> None:
    from flask_login import current_user

    started = g.get("request_started")
    try:
        user_id = current_user.id if current_user.is_authenticated else None
    except Exception:  # the user could not be loaded (e.g. the database is down): still log the request
        user_id = None
    access.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "user_id": user_id,
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule is not None else None,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "remote_addr": request.remote_addr,
        },
    )
