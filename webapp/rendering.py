"""One URL, two answers: the full page for a navigation, the fragment for an htmx request; and CSV downloads."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from flask import Response, current_app, make_response, render_template, request, url_for


def is_fragment_request() -> bool:
    """True for htmx requests that swap part of a page (boosted navigations and history restores want pages)."""
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def page_or_fragment(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render ``fragment`` for htmx requests and ``page`` otherwise; caches must keep the two apart."""
    template = fragment if is_fragment_request() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


@cache
def _content_hash(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def static_url(filename: str) -> str:
    """URL of a static file with a content hash in it, so browsers may keep it for a year."""
    path = Path(current_app.static_folder or "") / filename
    version = _content_hash(str(path), path.stat().st_mtime) if path.exists() else "0"
    return url_for("static", filename=filename, v=version)


