"""Open311 GeoReport v2: the limits and constants every part uses, and the error every part raises."""

from __future__ import annotations

from webapp.reports import services as reports

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's resources last changed (discovery ``changeset``): bump it with any change to them.
CHANGESET = "2026-11-29T00:00:00Z"
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
DESCRIPTION_MAX = 4000
MAX_REQUEST_ID = 2**31 - 1  # the largest id the database holds (see webapp/converters.py)
DEFAULT_RATELIMIT = "30 per minute;1000 per day"
# Lengths of the optional POST fields (they are stored privately, see Open311Request).
FIELD_MAX = {
    "email": 254,
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "device_id": 100,
    "account_id": 100,
    "address_id": 200,
    "address_string": reports.ADDRESS_MAX,
    "media_url": 2000,
}


class Open311Error(Exception):
    """An error in the spec's format: ``status`` is the HTTP status, ``code`` the body's code (the same number
    unless more specific)."""

    def __init__(self, status: int, description: str, code: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code if code is not None else status
