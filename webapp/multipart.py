"""Multipart form parsing without two regular expressions compiled per request.

Werkzeug's ``MultipartDecoder`` compiles two patterns that embed the request's boundary, which every client picks
at random, so ``re``'s cache never helps: compiling them, and the regular-expression search through a photo's
bytes for a line break followed by the boundary, cost about 0.6 ms of CPU per report (0.9 → 0.3 ms for a report's
body with a 170 KB photo). ``BoundaryDecoder`` is Werkzeug's decoder with those two patterns replaced by
``_BoundaryFinder``: ``bytes.find`` of ``--<boundary>``, then the same line-break and suffix rules as Werkzeug's
patterns, checked with one pattern compiled once. Everything else (states, limits, headers, partial boundaries
at the end of a chunk) is Werkzeug's own code; tests/unit/test_multipart.py checks that both decoders turn the
same bodies, cut into chunks anywhere, into the same events. ``install`` makes Werkzeug's form parser use it
(called by the application factory).
"""

from __future__ import annotations

import re

from werkzeug import formparser
from werkzeug.sansio import multipart

# What may follow ``--<boundary>`` (Werkzeug's patterns, without the line break before it): ``--`` for the last
# one, then optional horizontal white space and a line break (optional after the last one).
_SUFFIX = re.compile(rb"--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r)")


class _Found:
    """The part of ``re.Match`` Werkzeug's decoder uses: ``start()``, ``end()`` and ``group(1)`` (the suffix)."""

    __slots__ = ("_end", "_start", "_suffix")

    def __init__(self, start: int, end: int, suffix: bytes) -> None:
        self._start, self._end, self._suffix = start, end, suffix

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int) -> bytes:
        if index != 1:
            raise IndexError(index)
        return self._suffix


class _BoundaryFinder:
    """``search`` as Werkzeug's ``preamble_re`` (line break optional) or ``boundary_re`` (line break required):
    the leftmost ``[line break]--<boundary><suffix>`` starting at or after ``pos``."""

    __slots__ = ("_line_break_required", "_needle")

    def __init__(self, boundary: bytes, *, line_break_required: bool) -> None:
        self._needle = b"--" + boundary
        self._line_break_required = line_break_required

    def search(self, data: bytes | bytearray, pos: int = 0) -> _Found | None:
        needle = self._needle
        while (found := data.find(needle, pos)) >= 0:
            suffix = _SUFFIX.match(data, found + len(needle))
            if suffix is not None:
                start = found
                if found - 2 >= pos and data[found - 2 : found] == b"\r\n":
                    start = found - 2
                elif found - 1 >= pos and data[found - 1] in (0x0A, 0x0D):
                    start = found - 1
                if start < found or not self._line_break_required:
                    return _Found(start, suffix.end(), suffix.group())
            pos = found + 1
        return None


class BoundaryDecoder(multipart.MultipartDecoder):
    """Werkzeug's ``MultipartDecoder``, finding boundaries with ``_BoundaryFinder``."""

    def __init__(
        self, boundary: bytes, max_form_memory_size: int | None = None, *, max_parts: int | None = None
    ) -> None:
        # Werkzeug's own set-up, with a fixed boundary whose patterns ``re`` has cached; then the real one.
        super().__init__(b"-", max_form_memory_size, max_parts=max_parts)
        self.boundary = boundary
        self.preamble_re = _BoundaryFinder(boundary, line_break_required=False)  # type: ignore[assignment]
        self.boundary_re = _BoundaryFinder(boundary, line_break_required=True)  # type: ignore[assignment]


def install() -> None:
    """Make Werkzeug's form parser (``request.form``, ``request.files``) decode with ``BoundaryDecoder``."""
    formparser.MultipartDecoder = BoundaryDecoder  # type: ignore[misc]
