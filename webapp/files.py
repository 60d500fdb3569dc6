"""How stored files reach the browser, in one place.

Files the public may see (``public=True``) are redirected to the object store's presigned URL when the storage has
one (S3), so no app worker is busy sending bytes, or streamed with a year-long cache otherwise: keys are content
hashes, so a file never changes. Files the public may not see are streamed through the app, after the caller has
checked the permission, with a private cache header; they never get a URL that works without the app. Files are
streamed in chunks, never read whole into memory.
"""

from __future__ import annotations

from flask import Response, abort, current_app, redirect, request

from webapp.storage import Storage, key_digest

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, max-age=3600"


def file_response(key: str, *, public: bool, mimetype: str = "image/jpeg", storage: Storage | None = None) -> Response:
    storage = storage or current_app.extensions["storage"]
    digest = key_digest(key)
    if public:
        url = storage.public_url(key)
        if url is not None:
            response = redirect(url, 302)
            # The redirect may be cached while the URL is handed out again (see S3Storage.url_reuse).
            reuse = int(getattr(storage, "url_reuse", 0))
            response.headers["Cache-Control"] = f"public, max-age={reuse}" if reuse else "no-cache"
            return response
    if digest is not None and request.if_none_match.contains(digest):
        response = Response(status=304)
    else:
        try:
            size, chunks = storage.stream(key)
        except (FileNotFoundError, ValueError):
            abort(404)
        response = Response(chunks, mimetype=mimetype, direct_passthrough=True)
        response.content_length = size
    if digest is not None:
        response.set_etag(digest)
    response.headers["Cache-Control"] = PUBLIC_CACHE if public else PRIVATE_CACHE
    if not public:
        response.vary.add("Cookie")
    return response
