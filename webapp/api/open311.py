"""Open311 GeoReport v2 under ``/open311/v2/`` (https://wiki.open311.org/GeoReport_v2/), XML and JSON.

Resources: ``discovery``, ``services``, ``services/<code>`` (service definitions), ``requests`` (GET and POST),
``requests/<id>`` and ``tokens/<token>``; the format is the suffix (``.xml`` or ``.json``). JSON follows the
spec's convention: lists are top-level arrays (services, requests, the POST answer, tokens, errors); discovery
and a service definition are objects. Errors are ``errors/error/{code, description}`` with the HTTP status
(403 api key, 404 unknown resource or service_code, 400 anything else), in the requested format.

* Services are our active categories. ``service_code`` is the 5-digit category code, always a string;
  ``service_name`` and ``group`` are Chinese unless ``locale``/``lang`` or Accept-Language asks for English.
  Every service is ``realtime``: a POST answers with the new ``service_request_id`` at once; a token is still
  stored per request so ``tokens/<token>`` works for clients that poll.
* POST ``requests`` needs ``api_key`` (issued at ``/admin/api-keys`` or by ``flask --app webapp create-api-key``),
  is rate-limited per key (``RATELIMIT_OPEN311``) and is not CSRF-protected (it is authenticated by the key,
  never by a cookie). The report is filed by the key's service user through ``submit_report`` with channel
  ``open311``, without photos, and goes through review like any other report. Every POST is a new report:
  GeoReport v2 has no idempotency key (``device_id`` names a device, not a request), so ``client_id`` is a fresh
  UUID.
* ``media_url`` is stored as text, never fetched and never shown: GET shows only our own, EXIF-free photos.
  The reporter's e-mail, names, phone, device and account ids are kept privately and never appear in GET.
* ``jurisdiction_id`` is optional (one jurisdiction per server); with OPEN311_JURISDICTION set, another value is a
  404. API keys are issued and revoked by admins at ``/admin/api-keys`` (or ``flask create-api-key``).
* GET ``requests`` filters: ``service_request_id`` (comma list; overrides every other filter), ``service_code``
  and ``status`` (comma lists), ``start_date``/``end_date`` on requested_datetime and the extension
  ``updated_after``/``updated_before`` on updated_datetime (W3C date-times with a timezone; a window spans at
  most 90 days; one bound alone opens a 90-day window from it), ``page``/``page_size`` (at most 200). Without
  a date filter the window is the last 90 days; without paging at most 1000 requests, newest first.
* Status: ``closed`` for our closed and rejected (不予受理) reports, ``open`` for every other state;
  ``status_notes`` is the last step's label and note, or the refusal reason.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, redirect, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from webapp import localtime
from webapp.api.models import ApiKey, Open311Request, authenticate, key_prefix
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import csrf, limiter
from webapp.reports import category_facts, privacy, taxonomy
from webapp.reports import services as reports
from webapp.reports.models import Category, Channel, Report
from webapp.reports.status import FINAL_STATUSES, ReportStatus
from webapp.review.services import REJECT_REASONS
from webapp.review.workflow import action_label

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this endpoint's resources last changed (discovery ``changeset``): bump it with any change to them.
CHANGESET = "2026-11-29T00:00:00Z"
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
DESCRIPTION_MAX = 4000
WINDOW = timedelta(days=90)
DEFAULT_LIMIT = 1000  # requests returned without paging ("last 90 days or first 1000, whichever is smaller")
MAX_PAGE_SIZE = 200
MAX_IDS = 1000
MAX_REQUEST_ID = 2**31 - 1  # the largest id the database holds (see webapp/routing.py)
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


# --- Service definitions: the extra questions a few services ask ------------------------------------------------

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (§3.4). Texts are kept in both languages; keys are stable."""

    code: str
    datatype: str
    description_zh: str
    description_en: str
    required: bool = False
    variable: bool = True  # False: informational text, no input
    values: tuple[tuple[str, str, str], ...] = ()  # (key, name_zh, name_en) for the list types
    datatype_description_zh: str = ""
    datatype_description_en: str = ""
    max_length: int = 200

    @property
    def keys(self) -> list[str]:
        return [key for key, _zh, _en in self.values]

    def value_name(self, key: str, *, english: bool = False) -> str:
        for value_key, zh, en in self.values:
            if value_key == key:
                return en if english else zh
        return key

    def as_open311(self, order: int, *, english: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": (self.datatype_description_en if english else self.datatype_description_zh) or None,
            "order": order,
            "description": self.description_en if english else self.description_zh,
        }
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            data["values"] = [{"key": key, "name": en if english else zh} for key, zh, en in self.values]
        return data


@cache
def attribute_definitions() -> dict[str, Attribute]:
    """Every question a service may ask, by code, from the category data file (``open311_attributes``)."""
    return {
        code: Attribute(
            code=code,
            datatype=spec["datatype"],
            description_zh=spec["description_zh"],
            description_en=spec["description_en"],
            required=bool(spec.get("required", False)),
            variable=bool(spec.get("variable", True)),
            values=tuple((key, zh, en) for key, zh, en in spec.get("values", ())),
            datatype_description_zh=spec.get("datatype_description_zh", ""),
            datatype_description_en=spec.get("datatype_description_en", ""),
            max_length=int(spec.get("max_length", 200)),
        )
        for code, spec in category_facts.open311_attribute_definitions().items()
    }


def attributes_for(service_code: str) -> tuple[Attribute, ...]:
    """The questions of a service: its category's ``open311_attributes`` (``Category.open311_attributes``)."""
    definitions = attribute_definitions()
    return tuple(definitions[code] for code in category_facts.facts(service_code).open311_attributes)


_ATTRIBUTE_PARAM = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def attribute_params(form: MultiDict[str, str]) -> dict[str, list[str]]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` as ``{code: [values]}``."""
    found: dict[str, list[str]] = {}
    for key in form:
        match = _ATTRIBUTE_PARAM.match(key)
        if match:
            found.setdefault(match.group(1), []).extend(value.strip() for value in form.getlist(key))
    return found


def validate_attributes(attributes: Sequence[Attribute], given: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """The answers to a service's questions, checked; unknown attribute codes are ignored (clients such as
    FixMyStreet always send a few of their own)."""
    answers: dict[str, str | list[str]] = {}
    for attribute in attributes:
        if not attribute.variable:
            continue
        name = f"attribute[{attribute.code}]"
        values = [value for value in given.get(attribute.code, []) if value]
        if not values:
            if attribute.required:
                raise Open311Error(400, f"{name} is required for this service")
            continue
        if attribute.datatype == "multivaluelist":
            keys = list(dict.fromkeys(values))
            unknown = [key for key in keys if key not in attribute.keys]
            if unknown:
                raise Open311Error(400, f"{name}: unknown value {unknown[0]!r}; use one of {', '.join(attribute.keys)}")
            answers[attribute.code] = keys
            continue
        if len(values) > 1:
            raise Open311Error(400, f"{name} takes one value")
        value = values[0]
        if attribute.datatype == "singlevaluelist" and value not in attribute.keys:
            raise Open311Error(400, f"{name}: unknown value {value!r}; use one of {', '.join(attribute.keys)}")
        if attribute.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise Open311Error(400, f"{name} must be a number")
        if attribute.datatype == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise Open311Error(400, f"{name} must be an ISO 8601 date-time") from None
        limit = 1000 if attribute.datatype == "text" else attribute.max_length
        if len(value) > limit:
            raise Open311Error(400, f"{name} is too long: at most {limit} characters")
        answers[attribute.code] = value
    return answers


def attribute_summary(attributes: Sequence[Attribute], answers: Mapping[str, str | list[str]]) -> str:
    """The answers as lines for the report's description, in Chinese, the language of the staff who handle it."""
    lines = []
    for attribute in attributes:
        answer = answers.get(attribute.code)
        if not answer:
            continue
        keys = answer if isinstance(answer, list) else [answer]
        shown = "、".join(attribute.value_name(key) for key in keys) if attribute.values else str(answer)
        lines.append(f"{attribute.description_zh}：{shown}")
    return "\n".join(lines)


# --- Status and times -------------------------------------------------------------------------------------------


def open311_status(status: ReportStatus) -> str:
    """GeoReport v2 knows only open and closed: a closed or refused (不予受理) report is closed."""
    return "closed" if status in FINAL_STATUSES else "open"


def status_notes(report: Report) -> str | None:
    """Why the report stands as it does: the refusal reason, else the last step's label and note (both are
    public on the report page's timeline too)."""
    if report.status is ReportStatus.REJECTED and report.reject_reason in REJECT_REASONS:
        text = str(REJECT_REASONS[report.reject_reason])
        if report.duplicate_of_id is not None:
            text += f" #{report.duplicate_of_id}"
        return text
    if not report.events:
        return None
    event = report.events[-1]
    label = action_label(event.action)
    return f"{label}: {event.note}" if event.note else label


def w3c(value: datetime | None) -> str | None:
    """A W3C date-time with the timezone offset, in the city's time zone, e.g. 2026-05-01T09:30:00+08:00."""
    if value is None:
        return None
    return value.astimezone(localtime.zone()).isoformat(timespec="seconds")


_W3C_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_W3C_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def parse_w3c(raw: str, name: str) -> datetime:
    """A date (midnight UTC) or a date-time with a timezone; anything else is a 400."""
    value = raw.strip()
    # A "+" that was not URL-encoded arrives as a space.
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    try:
        if _W3C_DATE.match(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if _W3C_DATETIME.match(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        pass
    raise Open311Error(400, f"{name} must be a W3C date-time with a timezone, e.g. 2010-01-01T00:00:00Z")


# --- Reading requests -------------------------------------------------------------------------------------------


@dataclass
class RequestQuery:
    ids: list[int] | None = None
    service_codes: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def _comma_list(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _window(
    low_raw: str | None, high_raw: str | None, low_name: str, high_name: str
) -> tuple[datetime | None, datetime | None]:
    low = parse_w3c(low_raw, low_name) if (low_raw or "").strip() else None
    high = parse_w3c(high_raw, high_name) if (high_raw or "").strip() else None
    if low is not None and high is not None:
        if high < low:
            raise Open311Error(400, f"{high_name} is before {low_name}")
        if high - low > WINDOW:
            raise Open311Error(400, f"{low_name} to {high_name} may span at most 90 days")
    elif low is not None:
        high = low + WINDOW
    elif high is not None:
        low = high - WINDOW
    return low, high


def _positive_int(raw: str, name: str, maximum: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name} must be a whole number") from None
    if not 1 <= value <= maximum:
        raise Open311Error(400, f"{name} must be between 1 and {maximum}")
    return value


def parse_query(args: Mapping[str, str], now: datetime) -> RequestQuery:
    query = RequestQuery(limit=DEFAULT_LIMIT)
    ids = _comma_list(args.get("service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"service_request_id: at most {MAX_IDS} ids")
        if not all(item.isascii() and item.isdigit() and len(item) <= 10 for item in ids):
            raise Open311Error(400, "service_request_id must be a comma-separated list of request ids")
        # Ids beyond the database's integer range cannot exist (and PostgreSQL would refuse to compare them).
        query.ids = list(dict.fromkeys(int(item) for item in ids if 1 <= int(item) <= MAX_REQUEST_ID))
        return query  # overrides every other filter
    query.service_codes = _comma_list(args.get("service_code"))
    statuses = {status.lower() for status in _comma_list(args.get("status"))}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or both (comma-separated)")
    query.statuses = statuses
    query.start, query.end = _window(args.get("start_date"), args.get("end_date"), "start_date", "end_date")
    query.updated_after, query.updated_before = _window(
        args.get("updated_after"), args.get("updated_before"), "updated_after", "updated_before"
    )
    if query.start is None and query.updated_after is None:
        query.start = now - WINDOW  # the default window: the last 90 days
    page_raw, size_raw = (args.get("page") or "").strip(), (args.get("page_size") or "").strip()
    if page_raw or size_raw:
        page = _positive_int(page_raw, "page", 10**6) if page_raw else 1
        query.limit = _positive_int(size_raw, "page_size", MAX_PAGE_SIZE) if size_raw else MAX_PAGE_SIZE
        query.offset = (page - 1) * query.limit
    return query


def find_requests(query: RequestQuery) -> list[Report]:
    stmt = sa.select(Report).options(
        selectinload(Report.photos), selectinload(Report.events), selectinload(Report.department)
    )
    if query.ids is not None:
        stmt = stmt.where(Report.id.in_(query.ids))
    else:
        if query.service_codes:
            stmt = stmt.where(Report.category_code.in_(query.service_codes))
        if query.statuses == {"open"}:
            stmt = stmt.where(Report.status.not_in(FINAL_STATUSES))
        elif query.statuses == {"closed"}:
            stmt = stmt.where(Report.status.in_(FINAL_STATUSES))
        if query.start is not None:
            stmt = stmt.where(Report.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Report.created_at <= query.end)
        if query.updated_after is not None:
            stmt = stmt.where(Report.updated_at >= query.updated_after)
        if query.updated_before is not None:
            stmt = stmt.where(Report.updated_at <= query.updated_before)
    stmt = stmt.order_by(Report.created_at.desc(), Report.id.desc()).offset(query.offset).limit(query.limit)
    return list(db.session.scalars(stmt))


def _photo_url(report: Report) -> str | None:
    """Our own EXIF-free display copy of the first photo; a client's media_url is never shown."""
    photos = report.before_photos
    return url_for("reports.media_file", key=photos[0].display_key, _external=True) if photos else None


def request_fields(report: Report, *, english: bool, address_id: str | None = None) -> dict[str, Any]:
    """One request as GeoReport v2 shows it. Nothing about the reporter, ever."""
    category = report.category
    department = report.department
    closed = report.status in FINAL_STATUSES
    # The open-data privacy rule (coarse place, no address for sensitive categories) holds here too.
    place = privacy.public_location(report.category_code, report.lat, report.lon, report.address)
    updated = (report.closed_at or report.updated_at) if report.status is ReportStatus.CLOSED else report.updated_at
    return {
        "service_request_id": str(report.id),
        "status": open311_status(report.status),
        "status_notes": status_notes(report),
        "service_name": category.name_en if english else category.name_zh,
        "service_code": category.code,
        "description": report.description[:DESCRIPTION_MAX],
        "agency_responsible": ((department.name_en or department.name_zh) if english else department.name_zh)
        if department is not None
        else None,
        "service_notice": None,
        "requested_datetime": w3c(report.created_at),
        "updated_datetime": w3c(updated),
        "expected_datetime": None if closed else w3c(report.due_at),
        "address": place.address or None,
        "address_id": address_id or None,
        "zipcode": None,
        "lat": place.lat,
        "long": place.lon,
        "media_url": None if place.coarsened else _photo_url(report),
    }


def _address_ids(reports_: Iterable[Report]) -> dict[int, str]:
    ids = [report.id for report in reports_ if report.channel is Channel.OPEN311]
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Open311Request.report_id, Open311Request.address_id).where(
            Open311Request.report_id.in_(ids), Open311Request.address_id != ""
        )
    )
    return {report_id: address_id for report_id, address_id in rows}


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


# --- Formats ----------------------------------------------------------------------------------------------------

# In XML a list is an element holding one element per item (§3.1, the "Spark convention" in reverse).
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}
# Characters XML 1.0 cannot carry at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("", str(value))


def _xml_fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        item_tag = LIST_ITEMS[element.tag]
        for item in value:
            _xml_fill(ET.SubElement(element, item_tag), item)
    else:
        element.text = _xml_text(value)


def to_xml(root: str, value: Any) -> str:
    element = ET.Element(root)
    _xml_fill(element, value)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")


def document(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """``value`` as XML (``root`` names the top element) or JSON (a list stays a top-level array)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if fmt == "json" else to_xml(root, value)
    return Response(body.encode("utf-8"), status=status, content_type=FORMATS.get(fmt, FORMATS["xml"]))


def error_document(fmt: str, error: Open311Error) -> Response:
    return document(fmt, "errors", [{"code": error.code, "description": error.description}], error.status)


def _format_of_request() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in FORMATS:
        return str(fmt)
    return "json" if request.path.endswith(".json") else "xml"


def wants_english() -> bool:
    """Chinese unless ``locale``/``lang`` or the Accept-Language header asks for English."""
    raw = (request.values.get("locale") or request.values.get("lang") or "").strip().lower()
    if raw:
        return raw.startswith("en")
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh")
    return best.startswith("en")


def _babel_locale(english: bool) -> str:
    return "en" if english else current_app.config["BABEL_DEFAULT_LOCALE"]


# --- Views ------------------------------------------------------------------------------------------------------

FMT = "<any(xml, json):fmt>"


@bp.errorhandler(Open311Error)
def open311_error(error: Open311Error) -> Response:
    return error_document(_format_of_request(), error)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    descriptions = {
        400: "the request could not be read",
        404: "resource not found",
        405: "method not allowed",
        413: "the request is too large",
        429: "too many requests for this api_key; slow down and retry later",
    }
    response = error_document(
        _format_of_request(), Open311Error(status, descriptions.get(status, error.description or "error"))
    )
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    response.vary.add("Accept-Language")
    if request.method in ("GET", "HEAD"):
        response.headers["Access-Control-Allow-Origin"] = "*"  # public, read-only data
    return response


@bp.before_request
def _refuse_nul() -> None:
    """A NUL character is never meaningful in a parameter, and PostgreSQL refuses it in text: a 400, not a 500."""
    values = [*(request.view_args or {}).values(), *request.args.values()]
    if request.method == "POST":
        values.extend(request.form.values())
        values.extend(request.form.keys())
    values.extend(request.args.keys())
    if any("\x00" in str(value) for value in values):
        raise Open311Error(400, "parameters must not contain NUL characters")


@bp.before_request
def _check_jurisdiction() -> None:
    """One jurisdiction per server: ``jurisdiction_id`` is ignored unless OPEN311_JURISDICTION is set, and then
    any other value is a 404, as the spec says for an unknown jurisdiction."""
    expected = current_app.config.get("OPEN311_JURISDICTION")
    given = (request.values.get("jurisdiction_id") or "").strip()
    if expected and given and given.lower() != str(expected).lower():
        raise Open311Error(404, f"jurisdiction_id {given[:100]!r} was not found; this server serves {expected!r}")


@bp.get("/")
def index() -> Response:
    return redirect(url_for("open311.discovery", fmt="xml"))


@bp.get(f"/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    base = url_for("open311.index", _external=True).rstrip("/")
    contact = current_app.config.get(
        "OPEN311_CONTACT", "Citizen Grid (全民网格) city management command centre, via the city's service desk"
    )
    key_service = current_app.config.get(
        "OPEN311_KEY_SERVICE",
        "Ask the city's Citizen Grid operators for an API key: an administrator issues one per client application "
        f"(admin page {url_for('api_keys.index', _external=True)}) and can revoke it at any time.",
    )
    return document(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": contact,
            "key_service": key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": base,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


def _service(category: Category, *, english: bool) -> dict[str, Any]:
    group = category.group
    return {
        "service_code": category.code,
        "service_name": category.name_en if english else category.name_zh,
        "description": _service_description(category, english=english),
        "metadata": bool(attributes_for(category.code)),
        "type": "realtime",
        "keywords": ", ".join((category.keywords_en if english else category.keywords_zh).split()),
        "group": group.name_en if english else group.name_zh,
    }


def _service_description(category: Category, *, english: bool) -> str:
    name = category.name_en if english else category.name_zh
    return _("%(name)s. Handled within %(limit)s once dispatched.", name=name, limit=category.time_limit_label)


@bp.get(f"/services.{FMT}")
def services(fmt: str) -> Response:
    english = wants_english()
    with force_locale(_babel_locale(english)):
        listed = [
            _service(category, english=english)
            for group in taxonomy.groups()
            for category in group.categories
            if category.active
        ]
    return document(fmt, "services", listed)


@bp.get(f"/services/<service_code>.{FMT}")
def service_definition(service_code: str, fmt: str) -> Response:
    category = taxonomy.get_category(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code!r} was not found")
    english = wants_english()
    attributes = [
        attribute.as_open311(order, english=english)
        for order, attribute in enumerate(attributes_for(category.code), start=1)
    ]
    return document(fmt, "service_definition", {"service_code": category.code, "attributes": attributes})


def _rate_key() -> str:
    prefix = key_prefix(request.form.get("api_key") or request.args.get("api_key"))
    return f"open311:{prefix}" if prefix else f"open311-ip:{request.remote_addr or '?'}"


@bp.post(f"/requests.{FMT}")
@limiter.limit(lambda: current_app.config.get("RATELIMIT_OPEN311", DEFAULT_RATELIMIT), key_func=_rate_key)
def create_request(fmt: str) -> Response:
    api_key = authenticate(request.form.get("api_key") or request.args.get("api_key"))
    if api_key is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    submission = parse_submission(request.form)
    try:
        report, _record = submit(api_key, submission)
    except DomainError as error:
        db.session.rollback()
        raise Open311Error(400, str(error.message)) from None
    db.session.commit()
    english = wants_english()
    with force_locale(_babel_locale(english)):
        notice = _(
            "Received as report %(id)d. The city reviews it first; once dispatched it is handled within %(limit)s.",
            id=report.id,
            limit=report.category.time_limit_label,
        )
    response = document(
        fmt,
        "service_requests",
        [{"service_request_id": str(report.id), "service_notice": notice, "account_id": None}],
        status=201,
    )
    response.headers["Location"] = url_for("open311.get_request", request_id=str(report.id), fmt=fmt, _external=True)
    return response


csrf.exempt(create_request)


@bp.get(f"/requests.{FMT}")
def list_requests(fmt: str) -> Response:
    query = parse_query(request.args, utcnow())
    found = find_requests(query)
    english = wants_english()
    address_ids = _address_ids(found)
    with force_locale(_babel_locale(english)):
        listed = [request_fields(r, english=english, address_id=address_ids.get(r.id)) for r in found]
    return document(fmt, "service_requests", listed)


@bp.get(f"/requests/<request_id>.{FMT}")
def get_request(request_id: str, fmt: str) -> Response:
    valid = request_id.isascii() and request_id.isdigit() and 1 <= int(request_id[:11]) <= MAX_REQUEST_ID
    report = reports.get_report(int(request_id)) if valid else None
    if report is None:
        raise Open311Error(404, f"service_request_id {request_id!r} was not found")
    english = wants_english()
    address_ids = _address_ids([report])
    with force_locale(_babel_locale(english)):
        fields = request_fields(report, english=english, address_id=address_ids.get(report.id))
    return document(fmt, "service_requests", [fields])


@bp.get(f"/tokens/<token>.{FMT}")
def token(token: str, fmt: str) -> Response:
    record = (
        db.session.scalar(sa.select(Open311Request).where(Open311Request.token == token)) if len(token) <= 36 else None
    )
    if record is None:
        raise Open311Error(404, f"token {token[:40]!r} was not found")
    return document(fmt, "service_requests", [{"service_request_id": str(record.report_id), "token": record.token}])


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under /open311/v2/ answers in the spec's error format, not with an HTML page."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "open311.unknown":
            allowed.append(method)
    if allowed:
        response = error_document(_format_of_request(), Open311Error(405, "method not allowed"))
        response.headers["Allow"] = ", ".join(allowed)
        return response
    raise Open311Error(404, "resource not found")


csrf.exempt(unknown)  # so PUT and friends get a 405 in the spec's format, not a CSRF page
