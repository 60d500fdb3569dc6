"""A black-box GeoReport v2 conformance suite, item by item after the checklist of reference/civic-reporting.md
§3.11, in the manner of open311-validator: it starts from the discovery document only, follows the endpoint URL it
advertises, and checks every document in both formats with a small validator (the required fields of the
open311/schema-validation schemas plus the checklist's rules). Then the bad input of issue 7, each in both formats,
and random input (Hypothesis) that must never get anything but a well-formed answer.

White-box details (privacy, rate limits, status mapping, CLI) are in test_open311.py.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.factories import gps_photo_bytes, make_report, mark_accepted
from webapp.api.models import Open311Request, create_api_key
from webapp.db import db
from webapp.reports.models import Channel, Report
from webapp.reports.status import ReportStatus

FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
# In XML a list is an element holding one element per item.
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}
# Required fields per the open311/schema-validation JSON Schemas (service.json, request.json).
SERVICE_REQUIRED = ("service_code", "service_name", "metadata", "type")
REQUEST_REQUIRED = ("service_request_id", "status", "service_code", "requested_datetime")


# --- A format-neutral reader: XML and JSON become the same Python values ---------------------------------------


def _from_xml(element: ET.Element) -> Any:
    children = list(element)
    if element.tag in LIST_ITEMS:
        item = LIST_ITEMS[element.tag]
        assert all(child.tag == item for child in children), f"<{element.tag}> may hold only <{item}>"
        return [_from_xml(child) for child in children]
    if not children:
        return element.text or ""
    return {child.tag: _from_xml(child) for child in children}


def _normal(value: Any) -> Any:
    """JSON values as XML would carry them: booleans true/false, null as empty, numbers as text."""
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


class Server:
    """The API as a client sees it, through the Flask test client, from the discovery document on."""

    def __init__(self, client, discovery_url: str) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.discovery_url = discovery_url
        self.base = ""

    def fetch(self, path: str, fmt: str, *, method: str = "GET", data=None, query=None):  # type: ignore[no-untyped-def]
        url = f"{self.base}/{path}.{fmt}"
        response = self.client.open(urlsplit(url).path, method=method, data=data, query_string=query)
        assert response.content_type == CONTENT_TYPES[fmt], f"{method} {url}: {response.content_type}"
        return response

    def document(self, response, fmt: str) -> Any:  # type: ignore[no-untyped-def]
        body = response.get_data()
        if fmt == "json":
            return response.get_json()
        assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
        root = ET.fromstring(body)
        assert root.tag in {"discovery", "services", "service_definition", "service_requests", "errors"}
        assert "}" not in root.tag, "no namespace"
        return _from_xml(root)

    def both(self, path: str, *, query=None, status: int = 200) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
        """The same resource in both formats, after checking they carry identical data."""
        xml_response = self.fetch(path, "xml", query=query)
        json_response = self.fetch(path, "json", query=query)
        assert (xml_response.status_code, json_response.status_code) == (status, status)
        as_xml, as_json = self.document(xml_response, "xml"), self.document(json_response, "json")
        assert as_xml == _normal(as_json), f"{path}: XML and JSON differ"
        return as_xml, as_json


def assert_errors(server: Server, response, fmt: str, status: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Checklist 7: the spec's error body, ``errors/error/{code, description}``, with the right HTTP status."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    errors = server.document(response, fmt)
    assert isinstance(errors, list) and errors, "errors is a (top-level) list"
    for error in errors:
        assert set(error) == {"code", "description"}
        assert str(error["code"]).isdigit() and str(error["description"]).strip()
        if fmt == "json":
            assert isinstance(error["code"], int)
    return errors


def assert_w3c(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"{value}: a W3C date-time carries its timezone"
    assert "T" in value
    return parsed


@pytest.fixture
def server(client) -> Server:  # type: ignore[no-untyped-def]
    return Server(client, "http://localhost/open311/v2/discovery.xml")


@pytest.fixture
def key(app) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        _row, api_key = create_api_key("Conformance checker")
        db.session.commit()
    return api_key


def discover(server: Server) -> dict:
    response = server.client.get(urlsplit(server.discovery_url).path)
    discovery = server.document(response, "xml")
    endpoint = next(e for e in discovery["endpoints"] if e["specification"].endswith("GeoReport_v2"))
    server.base = endpoint["url"].rstrip("/")
    return discovery


def post_request(server: Server, fmt: str, key: str, **fields):  # type: ignore[no-untyped-def]
    data = {
        "api_key": key,
        "service_code": "06042",
        "lat": "37.8601",
        "long": "112.5180",
        "description": "垃圾桶满溢 — overflowing bin",
    }
    data.update(fields)
    return server.fetch("requests", fmt, method="POST", data={k: v for k, v in data.items() if v is not None})


# --- 1. Discovery ----------------------------------------------------------------------------------------------


def test_1_discovery_in_both_formats(server):
    discover(server)
    as_xml, as_json = server.both("discovery")
    assert isinstance(as_json, dict)
    for name in ("changeset", "contact", "key_service", "endpoints"):
        assert as_json[name], f"discovery needs {name}"
    assert assert_w3c(as_json["changeset"]) <= datetime.now(UTC)
    assert as_json["endpoints"]
    for endpoint in as_json["endpoints"]:
        for name in ("specification", "url", "changeset", "type", "formats"):
            assert endpoint[name], f"endpoint needs {name}"
        assert endpoint["type"] in ("production", "test")
        assert assert_w3c(endpoint["changeset"]) <= datetime.now(UTC)
        if endpoint["specification"].endswith("GeoReport_v2"):
            assert "text/xml" in endpoint["formats"]
    assert "/admin/api-keys" in as_json["key_service"]  # where a key comes from


# --- 2. Services -----------------------------------------------------------------------------------------------


def test_2_services(server):
    discover(server)
    _as_xml, services = server.both("services")
    assert isinstance(services, list) and services, "services is a non-empty top-level list"
    codes = []
    for service in services:
        for name in SERVICE_REQUIRED:
            assert name in service, name
        assert isinstance(service["service_code"], str) and service["service_code"], "service_code is a string"
        assert service["service_name"]
        assert isinstance(service["metadata"], bool)
        assert service["type"] in ("realtime", "batch", "blackbox")
        codes.append(service["service_code"])
    assert len(codes) == len(set(codes)), "service codes are unique"
    assert any(code.startswith("0") for code in codes)  # leading zeros survive: strings, never numbers


# --- 3. Service definitions ------------------------------------------------------------------------------------


def test_3_service_definitions(server):
    discover(server)
    _as_xml, services = server.both("services")
    with_metadata = [s["service_code"] for s in services if s["metadata"]]
    assert with_metadata
    for code in with_metadata:
        _xml, definition = server.both(f"services/{code}")
        assert isinstance(definition, dict) and definition["service_code"] == code
        attributes = definition["attributes"]
        assert isinstance(attributes, list) and attributes
        orders = [a["order"] for a in attributes]
        assert all(isinstance(o, int) and o > 0 for o in orders) and len(set(orders)) == len(orders)
        for attribute in attributes:
            assert isinstance(attribute["variable"], bool) and isinstance(attribute["required"], bool)
            assert attribute["code"] and attribute["datatype"] in DATATYPES and attribute["description"]
            if attribute["datatype"] in ("singlevaluelist", "multivaluelist"):
                assert attribute["values"] and all(set(v) == {"key", "name"} for v in attribute["values"])
    assert_errors(server, server.fetch("services/99999", "json"), "json", 404)
    assert_errors(server, server.fetch("services/99999", "xml"), "xml", 404)


# --- 4. POST requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_4_post_requests(app, server, key, fmt):
    discover(server)
    assert_errors(server, post_request(server, fmt, ""), fmt, 403)
    assert_errors(server, post_request(server, fmt, None), fmt, 403)
    assert_errors(server, post_request(server, fmt, key + "0"), fmt, 403)
    assert_errors(server, post_request(server, fmt, key, service_code=None), fmt, 400)
    assert_errors(server, post_request(server, fmt, key, service_code="99999"), fmt, 404)
    assert_errors(server, post_request(server, fmt, key, lat=None, long=None), fmt, 400)
    assert_errors(server, post_request(server, fmt, key, service_code="01037"), fmt, 400)  # lamp_fault required
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0
    for location in (
        {},
        {"lat": None, "long": None, "address_string": "千峰南路 12 号"},
        {"lat": None, "long": None, "address_id": "A-1"},
    ):
        response = post_request(server, fmt, key, **location)
        assert response.status_code in (200, 201)
        (answer,) = server.document(response, fmt)
        assert ("service_request_id" in answer) != ("token" in answer), "exactly one of id and token"
        assert answer["service_request_id"]
    response = post_request(
        server, fmt, key, service_code="01037", **{"attribute[lamp_fault]": "off", "attribute[lamp_id]": "LD-1"}
    )
    assert response.status_code in (200, 201)


def test_4_posted_requests_enter_review_with_their_channel(app, server, key):
    discover(server)
    (answer,) = server.document(post_request(server, "json", key), "json")
    with app.app_context():
        report = db.session.get(Report, int(answer["service_request_id"]))
        assert report.channel is Channel.OPEN311 and report.status is ReportStatus.PENDING_REVIEW
        assert [event.to_status for event in report.events] == [ReportStatus.PENDING_REVIEW]


# --- 5. GET requests -------------------------------------------------------------------------------------------


def check_request(request: dict) -> None:
    for name in REQUEST_REQUIRED:
        assert request.get(name), name
    assert request["status"] in ("open", "closed")
    assert assert_w3c(request["requested_datetime"])
    if request.get("updated_datetime"):
        assert_w3c(request["updated_datetime"])
    if request.get("expected_datetime"):
        assert_w3c(request["expected_datetime"])
    assert len(request.get("description") or "") <= 4000
    if request.get("lat") not in (None, ""):
        assert isinstance(request["lat"], float) and isinstance(request["long"], float)
    if request.get("media_url"):
        assert urlsplit(request["media_url"]).scheme in ("http", "https")


def test_5_get_requests(app, server, key):
    discover(server)
    ids = [server.document(post_request(server, "json", key), "json")[0]["service_request_id"] for _ in range(3)]
    with app.test_request_context():
        old = make_report()
        old.created_at = old.updated_at = datetime.now(UTC) - timedelta(days=91)
        db.session.commit()
        old_id = str(old.id)
    _xml, listed = server.both("requests")
    assert isinstance(listed, list)
    for request in listed:
        check_request(request)
    assert {r["service_request_id"] for r in listed} == set(ids), "default window: the last 90 days"
    assert len(listed) <= 1000
    # service_request_id overrides every other filter, also the default window.
    _xml, chosen = server.both("requests", query={"service_request_id": f"{ids[0]},{old_id}", "status": "closed"})
    assert {r["service_request_id"] for r in chosen} == {ids[0], old_id}
    _xml, beyond = server.both("requests", query={"service_request_id": "2147483648,9999999999"})
    assert beyond == []  # ids the database cannot hold: none found
    _xml, closed = server.both("requests", query={"status": "closed"})
    assert closed == []
    _xml, both = server.both("requests", query={"status": "open,closed", "service_code": "06042,01001"})
    assert len(both) == 3
    start = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(UTC) - timedelta(days=80)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _xml, window = server.both("requests", query={"start_date": start, "end_date": end})
    assert [r["service_request_id"] for r in window] == [old_id]
    # Extensions: page/page_size and updated_after.
    _xml, page_1 = server.both("requests", query={"page": "1", "page_size": "2"})
    _xml, page_2 = server.both("requests", query={"page": "2", "page_size": "2"})
    assert len(page_1) == 2 and len(page_2) == 1
    assert {r["service_request_id"] for r in page_1 + page_2} == set(ids)
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _xml, none_since = server.both("requests", query={"updated_after": later})
    assert none_since == []


def test_5_media_url_is_the_exif_free_photo(app, server):
    discover(server)
    with app.test_request_context():
        report = make_report(photos=[gps_photo_bytes()])
        db.session.commit()
        report_id = report.id
        mark_accepted(report_id)  # photos are public once the review team accepted the report
    _xml, (request,) = server.both(f"requests/{report_id}")
    photo = server.client.get(urlsplit(request["media_url"]).path)
    assert photo.status_code == 200 and photo.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(photo.get_data()))
    assert not image.getexif() and "exif" not in image.info


# --- 6. GET one request, tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_7_nul_in_a_path_is_a_400(server, fmt):
    discover(server)
    for path in ("services/0%00", "requests/1%00", "tokens/a%00b"):
        assert_errors(server, server.fetch(path, fmt), fmt, 400)


def test_6_get_one_request_and_tokens(app, server, key):
    discover(server)
    (answer,) = server.document(post_request(server, "xml", key, description="井盖松动 ümlaut"), "xml")
    request_id = answer["service_request_id"]
    _xml, one = server.both(f"requests/{request_id}")
    assert isinstance(one, list) and len(one) == 1
    check_request(one[0])
    # Until the review team accepts it, the public sees the category, status and a coarse place only.
    assert one[0]["service_request_id"] == request_id and one[0]["description"] == ""
    with app.app_context():
        mark_accepted(request_id)
    _xml, one = server.both(f"requests/{request_id}")
    assert one[0]["service_request_id"] == request_id and one[0]["description"] == "井盖松动 ümlaut"
    assert one[0]["service_code"] == "06042" and one[0]["status"] == "open"
    for fmt in FORMATS:
        for unknown in ("987654321", "2147483648", "9999999999", "0", "١٢"):
            assert_errors(server, server.fetch(f"requests/{unknown}", fmt), fmt, 404)
    with app.app_context():
        token = db.session.scalar(sa.select(Open311Request.token))
    _xml, resolved = server.both(f"tokens/{token}")
    assert resolved == [{"service_request_id": request_id, "token": token}]
    for fmt in FORMATS:
        assert_errors(server, server.fetch("tokens/not-a-token", fmt), fmt, 404)


# --- 7. Errors, and the bad input of issue 7 -------------------------------------------------------------------

BAD_POSTS = [
    pytest.param({"lat": "37.86.1"}, 400, id="malformed-lat"),
    pytest.param({"long": "east"}, 400, id="malformed-long"),
    pytest.param({"lat": "91"}, 400, id="lat-out-of-range"),
    pytest.param({"long": "nan"}, 400, id="long-nan"),
    pytest.param({"lat": "37.86", "long": None}, 400, id="lat-without-long"),
    pytest.param({"service_code": "00000"}, 404, id="unknown-service-code"),
    pytest.param({"service_code": "06042 OR 1=1"}, 404, id="injected-service-code"),
    pytest.param({"api_key": None}, 403, id="missing-key"),
    pytest.param({"api_key": "cg311_00000000_" + "0" * 64}, 403, id="wrong-key"),
    pytest.param({"api_key": "let-me-in"}, 403, id="malformed-key"),
    pytest.param({"description": "长" * 5000}, 400, id="5000-char-description"),
    pytest.param({"media_url": "javascript:alert(1)"}, 400, id="media-url-not-http"),
    pytest.param({"email": "x" * 300 + "@example.com"}, 400, id="email-too-long"),
    pytest.param({"service_code": "01037", "attribute[lamp_fault]": "exploded"}, 400, id="unknown-list-value"),
    pytest.param({"service_code": "0\x00"}, 400, id="nul-in-service-code"),
    pytest.param({"description": "a\x00b"}, 400, id="nul-in-description"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("fields", "status"), BAD_POSTS)
def test_7_bad_posts(app, server, key, fmt, fields, status):
    discover(server)
    others = {name: value for name, value in fields.items() if name != "api_key"}
    assert_errors(server, post_request(server, fmt, fields.get("api_key", key), **others), fmt, status)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0


BAD_QUERIES = [
    pytest.param({"start_date": "2026-02-30T00:00:00Z"}, id="impossible-date"),
    pytest.param({"start_date": "yesterday"}, id="not-a-date"),
    pytest.param({"end_date": "2026-01-01T00:00:00"}, id="no-timezone"),
    pytest.param({"start_date": "2026-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"}, id="end-before-start"),
    pytest.param({"start_date": "2025-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, id="over-90-days"),
    pytest.param({"updated_after": "2026-13-01T00:00:00Z"}, id="bad-updated-after"),
    pytest.param({"page_size": "1000000000"}, id="page-size-huge"),
    pytest.param({"page_size": "0"}, id="page-size-zero"),
    pytest.param({"page": "-1"}, id="page-negative"),
    pytest.param({"page": "two"}, id="page-not-a-number"),
    pytest.param({"status": "pending"}, id="unknown-status"),
    pytest.param({"service_request_id": "1,abc"}, id="bad-id-list"),
    pytest.param({"service_code": "\x00"}, id="nul-character"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("query", BAD_QUERIES)
def test_7_bad_queries(server, fmt, query):
    discover(server)
    assert_errors(server, server.fetch("requests", fmt, query=query), fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_7_unknown_jurisdiction_is_404_when_one_is_configured(app, server, key, monkeypatch, fmt):
    discover(server)
    assert server.fetch("services", fmt, query={"jurisdiction_id": "anything"}).status_code == 200  # ignored
    with monkeypatch.context() as patch:
        patch.setitem(app.config, "OPEN311_JURISDICTION", "taiyuan.example.cn")
        assert_errors(server, server.fetch("services", fmt, query={"jurisdiction_id": "sfgov.org"}), fmt, 404)
        assert_errors(server, post_request(server, fmt, key, jurisdiction_id="sfgov.org"), fmt, 404)
        assert server.fetch("services", fmt, query={"jurisdiction_id": "TAIYUAN.example.cn"}).status_code == 200
        assert server.fetch("services", fmt).status_code == 200  # optional for one jurisdiction
    assert server.fetch("services", fmt, query={"jurisdiction_id": "anything"}).status_code == 200


# --- 8. UTF-8 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_8_utf8_round_trip(app, server, key, fmt):
    discover(server)
    text = "人行道井盖缺失 🚧 — Ünïcödé «ok»"
    (answer,) = server.document(post_request(server, fmt, key, description=text, address_string="长风街 1 号"), fmt)
    with app.app_context():
        mark_accepted(answer["service_request_id"])
    response = server.fetch(f"requests/{answer['service_request_id']}", fmt)
    (request,) = server.document(response, fmt)
    assert request["description"] == text and request["address"] == "长风街 1 号"
    assert text.encode() in response.get_data()  # UTF-8 as such, not escaped


# --- Random input never gets anything but a well-formed answer --------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_params = st.dictionaries(
    st.sampled_from(
        [
            "service_request_id",
            "service_code",
            "status",
            "start_date",
            "end_date",
            "updated_after",
            "updated_before",
            "page",
            "page_size",
            "jurisdiction_id",
        ]
    ),
    st.one_of(_text, st.integers(-(10**12), 10**12).map(str), st.just("2026-01-01T00:00:00Z")),
    max_size=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_params, fmt=st.sampled_from(FORMATS))
def test_random_queries_are_answered_in_the_spec_format(server, query, fmt):
    server.base = "http://localhost/open311/v2"
    response = server.fetch("requests", fmt, query=query)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert_errors(server, response, fmt, 400)
    else:
        assert isinstance(server.document(response, fmt), list)


_post_fields = st.dictionaries(
    st.sampled_from(
        [
            "service_code",
            "lat",
            "long",
            "address_string",
            "address_id",
            "description",
            "media_url",
            "email",
            "attribute[lamp_fault]",
            "attribute[cover_state][]",
        ]
    ),
    st.one_of(_text, st.sampled_from(["06042", "01037", "01001", "37.86", "112.5", "1e999", "off"])),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=_post_fields, fmt=st.sampled_from(FORMATS))
def test_random_posts_are_answered_in_the_spec_format(app, server, key, monkeypatch, fields, fmt):
    monkeypatch.setitem(app.config, "RATELIMIT_OPEN311", "100000 per minute")  # this test is the only client
    server.base = "http://localhost/open311/v2"
    response = post_request(server, fmt, key, **{"lat": None, "long": None, "description": None, **fields})
    assert response.status_code in (201, 400, 404), response.get_data(as_text=True)[:300]
    if response.status_code == 201:
        (answer,) = server.document(response, fmt)
        assert answer["service_request_id"]
    else:
        assert_errors(server, response, fmt, response.status_code)
