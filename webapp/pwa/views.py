"""The installable web app: service worker, manifest, offline page and the outbox page.

The service worker's source lives in ``service_worker/sw.js``. It is served from ``/sw.js`` (so its scope is the
whole site) with the precache list and a cache name derived from the content of the precached files filled in:
a release that changes any of them changes ``sw.js``, the browser installs the new worker, and the new worker
deletes the old caches.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import gettext as _

from webapp.rendering import static_url

bp = Blueprint("pwa", __name__)

SW_SOURCE = Path(__file__).resolve().parents[2] / "service_worker" / "sw.js"

# Static files every offline page needs (fingerprinted URLs are filled in by static_url).
SHELL_STATIC = [
    "css/app.css",
    "vendor/htmx-2.0.11.min.js",
    "js/app.js",
    "js/outbox.js",
    "js/outbox-page.js",
    "js/exif-gps.js",
    "js/report-form.js",
    "js/qr-scanner.js",
    "js/activity-scan.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
]
# Pages kept for offline use. They are refreshed from the network whenever the phone is online.
SHELL_PAGES = ["pwa.offline", "reports.new", "pwa.outbox", "activities.scanner"]


def precache_urls() -> list[str]:
    return [
        *(url_for(endpoint) for endpoint in SHELL_PAGES),
        *(static_url(path) for path in SHELL_STATIC),
        url_for("api.categories"),
        url_for("pwa.manifest"),
    ]


# Templates of the precached pages: their markup is part of the release too.
SHELL_TEMPLATES = ["base.html", "reports/new.html", "pwa/offline.html", "pwa/outbox.html", "activities/scan.html"]


@cache
def _release(files: tuple[tuple[str, float], ...]) -> str:
    digest = hashlib.sha256()
    for path, _mtime in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def release_id() -> str:
    """Changes whenever the service worker or anything it precaches changes (hashed once per file version)."""
    static = Path(current_app.static_folder or "")
    templates = Path(current_app.template_folder or "")
    paths = [SW_SOURCE, *(static / name for name in SHELL_STATIC), *(templates / name for name in SHELL_TEMPLATES)]
    return _release(tuple((str(path), path.stat().st_mtime) for path in paths))


@bp.get("/sw.js")
def service_worker() -> Response:
    source = SW_SOURCE.read_text(encoding="utf-8")
    release = release_id()
    config = {
        "release": release,
        "cacheName": f"citizen-grid-shell-{release}",
        "precache": precache_urls(),
        "offlineUrl": url_for("pwa.offline"),
        "scanUrl": url_for("activities.scanner"),  # what a scanned check-in code opens without a network
        "pages": [url_for(endpoint) for endpoint in SHELL_PAGES],
        "outboxScript": static_url("js/outbox.js"),
    }
    body = source.replace("self.__CITIZEN_GRID__", json.dumps(config), 1)
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    body = {
        "id": "/",
        "name": _("Citizen Grid"),
        "short_name": _("Citizen Grid"),
        "description": _("Report city problems with a photo and follow them until they are fixed."),
        "lang": "zh-Hans",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#0b4f9c",
        "icons": [
            {
                "src": static_url("icons/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static_url("icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": static_url("icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [{"name": _("Report a problem"), "url": url_for("reports.new")}],
    }
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline() -> str:
    return render_template("pwa/offline.html")


@bp.get("/outbox")
def outbox() -> str:
    """Reports saved on this phone and not yet confirmed by the server; the list is drawn from IndexedDB."""
    return render_template("pwa/outbox.html")
