"""gunicorn settings for production (``make serve``): ``HOST``, ``PORT`` and ``WEB_CONCURRENCY`` from the
environment. The app itself reads everything else from the environment (README, Configuration)."""

from __future__ import annotations

import os

wsgi_app = "webapp.wsgi:app"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
# Photo uploads from slow mobile networks: give a request time before the worker is recycled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 30
# With LOG_FORMAT=json the app writes one JSON line per request (webapp.observability) instead.
accesslog = None if os.environ.get("LOG_FORMAT", "").lower() == "json" else "-"
errorlog = "-"
# X-Forwarded-* are handled by the app (TRUSTED_PROXIES), not by gunicorn.
forwarded_allow_ips = "127.0.0.1"


def on_starting(server):  # type: ignore[no-untyped-def]
    """Check the settings once in the master, before any worker starts, so a refusal is one clear message and a
    non-zero exit status (each worker checks again when it loads webapp.wsgi)."""
    os.environ["WEB_CONCURRENCY"] = str(server.cfg.workers)
    from webapp.production import create_production_app

    create_production_app(server.cfg.workers)
