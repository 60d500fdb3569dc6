"""Open311 POST requests: reading the form and filing the report through submit_report."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.datastructures import MultiDict

from webapp.api.models import ApiKey, Open311Request
from webapp.api.open311.base import DESCRIPTION_MAX, FIELD_MAX, Open311Error
from webapp.api.open311.services import attribute_params, attribute_summary, attributes_for, validate_attributes
from webapp.db import db
from webapp.reports import services as reports
from webapp.reports import taxonomy
from webapp.reports.models import Category, Channel, Report

# --- Creating requests ------------------------------------------------------------------------------------------


@dataclass
class Submission:
    category: Category
    description: str
    lat: float | None
    lon: float | None
    address_string: str
    address_id: str
    answers: dict[str, str | list[str]]
    extra: dict[str, str]  # email, names, phone, device_id, account_id, media_url: kept privately


def _coordinate(raw: str, name: str, bound: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84 degrees)") from None
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Error(400, f"{name} is out of range (WGS84: lat -90..90, long -180..180)")
    return value


def parse_submission(form: MultiDict[str, str]) -> Submission:
    """Check a POST requests body against the spec; every problem is a 400 (404 for an unknown service)."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    category = taxonomy.get_category(code)
    if category is None:
        raise Open311Error(404, f"service_code {code!r} was not found")

    lat_raw, lon_raw = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    address_string = (form.get("address_string") or "").strip()
    address_id = (form.get("address_id") or "").strip()
    if bool(lat_raw) != bool(lon_raw):
        raise Open311Error(400, "lat and long must be given together")
    lat = _coordinate(lat_raw, "lat", 90) if lat_raw else None
    lon = _coordinate(lon_raw, "long", 180) if lon_raw else None
    if lat is None and not address_string and not address_id:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")

    description = (form.get("description") or "").replace("\r\n", "\n").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description is too long: at most {DESCRIPTION_MAX} characters")

    extra: dict[str, str] = {}
    for name, limit in FIELD_MAX.items():
        value = (form.get(name) or "").strip()
        if len(value) > limit:
            raise Open311Error(400, f"{name} is too long: at most {limit} characters")
        extra[name] = value
    media_url = extra.pop("media_url")
    if media_url:
        parts = urlsplit(media_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Open311Error(400, "media_url must be an http or https URL")
    extra["media_url"] = media_url
    del extra["address_id"], extra["address_string"]

    answers = validate_attributes(attributes_for(category.code), attribute_params(form))
    return Submission(category, description, lat, lon, address_string, address_id, answers, extra)


def submit(api_key: ApiKey, submission: Submission) -> tuple[Report, Open311Request]:
    """File the request as a report of the key's service user (flushes, no commit)."""
    summary = attribute_summary(attributes_for(submission.category.code), submission.answers)
    description = "\n\n".join(part for part in (submission.description, summary) if part)
    data = reports.NewReport(
        client_id=str(uuid.uuid4()),  # GeoReport v2 has no idempotency key: each POST is a new report
        category_code=submission.category.code,
        description=description,
        lat=submission.lat,
        lon=submission.lon,
        # Only an address_id (e.g. FixMyStreet's "#NOTPINPOINTED#"): keep it as the address reviewers see.
        address=submission.address_string or submission.address_id[: reports.ADDRESS_MAX],
        photos=[],
        channel=Channel.OPEN311,
    )
    report, _created = reports.submit_report(api_key.service_user, data, storage=current_app.extensions["storage"])
    record = Open311Request(
        report=report,
        api_key=api_key,
        token=str(uuid.uuid4()),
        attributes_json=json.dumps(submission.answers, ensure_ascii=False),
        address_id=submission.address_id,
        created_at=report.created_at,
        **submission.extra,
    )
    api_key.last_used_at = report.created_at
    db.session.add(record)
    db.session.flush()
    return report, record
