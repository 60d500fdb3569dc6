"""Every CSV file the app writes, in one place.

* UTF-8 with a byte-order mark, so spreadsheet programs (Excel, WPS) read the Chinese text correctly; CRLF lines.
* A text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return) gets a leading ``'``: residents' and staff's text is data, never a formula. Numbers stay numbers
  (a negative amount is not text).
* Rows are written as they come (``lines`` is a generator); the open-data export streams them batch by batch
  (``stream``), so a large export is never built in memory.

Used by the open-data download, the dashboard and periodic-report CSVs, the fund reconciliation and a resident's
participation export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Response, current_app

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MIMETYPE = "text/csv"  # werkzeug adds "; charset=utf-8" once


def cell(value: Any) -> str:
    """One value as a safe CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = " ".join(str(item) for item in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def line(row: Iterable[Any]) -> str:
    """One CSV line (with its CRLF) of safe cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([cell(value) for value in row])
    return buffer.getvalue()


def lines(header: Iterable[Any] | None, rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The whole file, a line at a time: the byte-order mark, the header, the rows."""
    yield BOM
    if header is not None:
        yield line(header)
    for row in rows:
        yield line(row)


def text(header: Iterable[Any] | None, rows: Iterable[Iterable[Any]]) -> str:
    return "".join(lines(header, rows))


def response(header: Iterable[Any] | None, rows: Iterable[Iterable[Any]], filename: str) -> Response:
    """A CSV download of rows the request has at hand (written while the request's context is there: labels are
    translated, the database session is open). Exports that read in batches use ``stream``."""
    result = current_app.response_class(text(header, rows), mimetype=MIMETYPE)
    result.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return result


def stream(chunks: Iterable[str], filename: str | None = None) -> Response:
    """A streamed CSV download from formatted ``chunks`` (``BOM`` and ``line`` output) produced by a generator that
    needs no request context, e.g. the open-data export reading in batches with short sessions of its own."""
    result = current_app.response_class(chunks, mimetype=MIMETYPE)
    if filename:
        result.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return result
