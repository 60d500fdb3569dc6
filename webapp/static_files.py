"""Static files, served from memory with gzip and long caching.

Every file is small (the largest, htmx, is 51 KB), so each one is read and gzipped once per change and kept in
memory. URLs made by ``static_url`` carry a content hash (``?v=…``) and may be cached for a year; other requests
get a short lifetime and revalidate with the ETag. In production a web server in front may do the same job.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, abort, request
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    mimetype: str
    etag: str


@lru_cache(maxsize=256)
def _load(path: str, mtime: float) -> StaticFile:
    body = Path(path).read_bytes()
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if mimetype == "application/javascript" or path.endswith(".js"):
        mimetype = "text/javascript"
    gzipped = gzip.compress(body, 9, mtime=0) if mimetype.startswith(COMPRESSIBLE) and len(body) > 500 else None
    return StaticFile(body, gzipped, mimetype, hashlib.sha256(body).hexdigest()[:16])


def install(app: Flask) -> None:
    folder = app.static_folder or ""

    def serve_static(filename: str) -> Response:
        path = safe_join(folder, filename)
        if path is None or not Path(path).is_file():
            abort(404)
        static = _load(path, Path(path).stat().st_mtime)
        use_gzip = static.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
        response = Response(static.gzipped if use_gzip else static.body, mimetype=static.mimetype)
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        response.set_etag(static.etag + ("-gz" if use_gzip else ""))
        if request.args.get("v"):
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        else:
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response.make_conditional(request)

    app.view_functions["static"] = serve_static
