"""URL converters shared by every blueprint."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter


class DatabaseId(IntegerConverter):
    """``<id:name>``: a positive integer that fits a database id, so /reports/99999999999999999999 is a 404."""

    def __init__(self, map, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(map, min=1, max=2**31 - 1)


CONVERTERS = {"id": DatabaseId}
