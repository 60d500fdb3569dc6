"""Open311 GeoReport v2 (/open311/v2/), following the conformance checklist of reference/civic-reporting.md §3.11,
plus API keys (CLI), privacy, rate limits and a published client library (georeport) against a live server."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from tests.factories import PASSWORD, jpeg_bytes, make_report, make_user, mark_accepted
from tests.helpers import post
from webapp.accounts.models import Department, Role, User
from webapp.api.models import ApiKey, Open311Request, create_api_key
from webapp.db import db, utcnow
from webapp.reports.models import Channel, Report, Severity
from webapp.reports.status import ReportStatus
from webapp.review import services as review

BASE = "/open311/v2"
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
SPEC_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
PERSONAL = {
    "email": "zhang.san@example.com",
    "first_name": "三",
    "last_name": "张",
    "phone": "13912345678",
    "device_id": "device-7f3a",
    "account_id": "acct-991",
}


@pytest.fixture
def api_key(app) -> str:
    with app.app_context():
        _row, key = create_api_key("街道App")
        db.session.commit()
    return key


def valid_fields(key: str, **overrides) -> dict:
    fields = {
        "api_key": key,
        "service_code": "06042",
        "lat": "37.8601",
        "long": "112.5180",
        "address_string": "千峰南路 长风西大街 路口",
        "description": "垃圾箱满了，周围有异味",
    }
    fields.update(overrides)
    return {name: value for name, value in fields.items() if value is not None}


def create(client, key: str, fmt: str = "json", **overrides):
    return client.post(f"{BASE}/requests.{fmt}", data=valid_fields(key, **overrides))


def created_id(response) -> str:
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()[0]["service_request_id"]


def xml_of(response) -> ET.Element:
    body = response.get_data()
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(body)


def assert_error(response, status: int, fmt: str = "json") -> str:
    """The body is the spec's error list in the requested format; returns the description."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if fmt == "json":
        assert response.content_type == "application/json; charset=utf-8"
        body = response.get_json()
        assert isinstance(body, list) and len(body) == 1
        assert set(body[0]) == {"code", "description"} and body[0]["code"] == status
        assert body[0]["description"]
        return body[0]["description"]
    assert response.content_type == "text/xml; charset=utf-8"
    root = xml_of(response)
    assert root.tag == "errors"
    errors = root.findall("error")
    assert len(errors) == 1 and errors[0].findtext("code") == str(status)
    assert errors[0].findtext("description")
    return errors[0].findtext("description")


def in_chinese(app, msgid: str) -> str:
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        return gettext(msgid)


def set_created(app, report_id: str | int, when: datetime) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Report).where(Report.id == int(report_id)).values(created_at=when, updated_at=when)
        )
        db.session.commit()


# --- 1. Discovery ---------------------------------------------------------------------------------------------


def test_discovery_json(client):
    response = client.get(f"{BASE}/discovery.json")
    assert response.status_code == 200
    assert response.content_type == "application/json; charset=utf-8"
    body = response.get_json()
    assert isinstance(body, dict)
    for name in ("changeset", "contact", "key_service", "endpoints"):
        assert body[name], name
    changeset = datetime.fromisoformat(body["changeset"].replace("Z", "+00:00"))
    assert changeset.tzinfo is not None and changeset < datetime.now(UTC)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert endpoint["type"] in ("production", "test")
    assert "text/xml" in endpoint["formats"] and "application/json" in endpoint["formats"]
    assert datetime.fromisoformat(endpoint["changeset"].replace("Z", "+00:00")) < datetime.now(UTC)


def test_discovery_xml(client):
    response = client.get(f"{BASE}/discovery.xml")
    assert response.status_code == 200
    assert response.content_type == "text/xml; charset=utf-8"
    root = xml_of(response)
    assert root.tag == "discovery"
    for name in ("changeset", "contact", "key_service"):
        assert root.findtext(name)
    endpoint = root.find("endpoints/endpoint")
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == "http://localhost/open311/v2"
    assert endpoint.findtext("type") == "production"
    assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]
    assert client.get(f"{BASE}/").headers["Location"].endswith("/open311/v2/discovery.xml")


# --- 2. Services ----------------------------------------------------------------------------------------------


def test_services_json_and_xml_carry_the_same_data(client):
    listed = client.get(f"{BASE}/services.json")
    assert listed.status_code == 200 and listed.content_type == "application/json; charset=utf-8"
    services = listed.get_json()
    assert isinstance(services, list) and len(services) > 100
    assert b'"service_code":"01001"' in listed.get_data()  # a string, leading zeros kept
    for service in services:
        assert isinstance(service["service_code"], str) and re.fullmatch(r"\d{5}", service["service_code"])
        assert service["service_name"]
        assert isinstance(service["metadata"], bool)
        assert service["type"] in ("realtime", "batch", "blackbox")
        assert service["group"]
    xml_services = xml_of(client.get(f"{BASE}/services.xml")).findall("service")
    assert len(xml_services) == len(services)
    for element, service in zip(xml_services, services, strict=True):
        for name, value in service.items():
            expected = ("true" if value else "false") if isinstance(value, bool) else (value or None)
            assert (element.findtext(name) or None) == expected, (name, service["service_code"])


def test_services_are_chinese_by_default_and_english_on_request(client):
    by_code = {s["service_code"]: s for s in client.get(f"{BASE}/services.json").get_json()}
    light = by_code["01037"]
    assert light["service_name"] == "路灯" and light["group"] == "路灯照明" and light["type"] == "realtime"
    assert "," in by_code["01001"]["keywords"]
    for url, headers in (
        (f"{BASE}/services.json?locale=en", {}),
        (f"{BASE}/services.json?lang=en_US", {}),
        (f"{BASE}/services.json", {"Accept-Language": "en-GB,en;q=0.9"}),
    ):
        english = {s["service_code"]: s for s in client.get(url, headers=headers).get_json()}
        assert english["01037"]["service_name"] == "Street light"
        assert english["01037"]["group"] == "Street lighting"
    chinese = {s["service_code"]: s for s in client.get(f"{BASE}/services.json?locale=zh").get_json()}
    assert chinese["01037"]["service_name"] == "路灯"


def test_metadata_only_for_services_with_questions(client):
    by_code = {s["service_code"]: s for s in client.get(f"{BASE}/services.json").get_json()}
    assert by_code["01001"]["metadata"] is True  # manhole cover: state of the cover
    assert by_code["01037"]["metadata"] is True  # street light: lamp number, what is wrong
    assert by_code["06042"]["metadata"] is True  # overflowing bin: kinds of waste
    assert by_code["09012"]["metadata"] is False
    assert by_code["01024"]["metadata"] is False  # a water well is not a cover


# --- 3. Service definitions -----------------------------------------------------------------------------------


def test_every_definition_is_well_formed(client):
    services = client.get(f"{BASE}/services.json").get_json()
    with_metadata = [s["service_code"] for s in services if s["metadata"]]
    assert len(with_metadata) >= 3
    for code in with_metadata:
        response = client.get(f"{BASE}/services/{code}.json")
        assert response.status_code == 200
        definition = response.get_json()
        assert definition["service_code"] == code and definition["attributes"]
        orders = [attribute["order"] for attribute in definition["attributes"]]
        assert len(set(orders)) == len(orders) and all(isinstance(o, int) and o > 0 for o in orders)
        for attribute in definition["attributes"]:
            assert isinstance(attribute["variable"], bool) and isinstance(attribute["required"], bool)
            assert attribute["code"] and attribute["description"]
            assert attribute["datatype"] in (
                "string",
                "number",
                "datetime",
                "text",
                "singlevaluelist",
                "multivaluelist",
            )
            if attribute["datatype"].endswith("valuelist"):
                assert attribute["values"] and all(set(v) == {"key", "name"} for v in attribute["values"])


def test_definition_in_xml_and_english(client):
    root = xml_of(client.get(f"{BASE}/services/01001.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "01001"
    (state, notice) = root.findall("attributes/attribute")
    assert state.findtext("code") == "cover_state" and state.findtext("required") == "true"
    assert state.findtext("datatype") == "singlevaluelist" and state.findtext("order") == "1"
    assert [v.findtext("key") for v in state.findall("values/value")] == ["missing", "broken", "loose"]
    assert [v.findtext("name") for v in state.findall("values/value")] == ["缺失", "破损", "松动"]
    assert notice.findtext("variable") == "false"
    english = client.get(f"{BASE}/services/01037.json?locale=en").get_json()
    assert [a["code"] for a in english["attributes"]] == ["lamp_id", "lamp_fault"]
    assert english["attributes"][0]["datatype_description"].startswith("The number on the pole")


def test_definition_of_a_service_without_questions_and_unknown_services(client):
    assert client.get(f"{BASE}/services/09012.json").get_json() == {"service_code": "09012", "attributes": []}
    assert_error(client.get(f"{BASE}/services/99999.json"), 404)
    assert_error(client.get(f"{BASE}/services/99999.xml"), 404, "xml")


# --- 4. POST requests -----------------------------------------------------------------------------------------


def test_post_without_or_with_a_wrong_key_is_403(client, api_key):
    fields = valid_fields(api_key)
    del fields["api_key"]
    description = assert_error(client.post(f"{BASE}/requests.json", data=fields), 403)
    assert "api_key" in description
    assert_error(client.post(f"{BASE}/requests.xml", data=fields), 403, "xml")
    wrong = api_key[:-4] + ("0000" if not api_key.endswith("0000") else "1111")
    assert_error(create(client, wrong), 403)
    assert_error(create(client, "not-a-key"), 403)


def test_post_with_a_revoked_key_is_403(app, client, api_key):
    assert create(client, api_key).status_code == 201
    result = app.test_cli_runner().invoke(args=["revoke-api-key", "--name", "街道App"])
    assert result.exit_code == 0, result.output
    assert_error(create(client, api_key), 403)


def test_post_needs_a_known_service_code(client, api_key):
    assert "service_code" in assert_error(create(client, api_key, service_code=None), 400)
    assert "service_code" in assert_error(create(client, api_key, service_code=""), 400)
    assert_error(create(client, api_key, service_code="99999"), 404)
    assert_error(create(client, api_key, "xml", service_code="99999"), 404, "xml")


def test_post_needs_a_location(client, api_key):
    description = assert_error(create(client, api_key, lat=None, long=None, address_string=None), 400)
    assert "location" in description
    assert_error(create(client, api_key, lat="", long="", address_string=""), 400)  # empty ≡ absent
    assert_error(create(client, api_key, long=None, address_string=None), 400)  # lat alone
    assert_error(create(client, api_key, lat=None), 400)  # long without lat, even with an address


@pytest.mark.parametrize(
    ("lat", "long"),
    [("abc", "112.5"), ("37.86", "east"), ("37,86", "112.5"), ("91", "112.5"), ("37.86", "-181"), ("nan", "1")],
)
def test_post_with_malformed_coordinates_is_400(client, api_key, lat, long):
    assert_error(create(client, api_key, lat=lat, long=long), 400)


def test_each_kind_of_location_is_enough(app, client, api_key):
    by_point = created_id(create(client, api_key, address_string=None))
    by_address = created_id(create(client, api_key, lat=None, long=None))
    by_id = created_id(create(client, api_key, lat=None, long=None, address_string=None, address_id="#NOTPINPOINTED#"))
    with app.app_context():
        point = db.session.get(Report, int(by_point))
        assert (point.lat, point.lon, point.address) == (37.8601, 112.518, "")
        address = db.session.get(Report, int(by_address))
        assert address.lat is None and address.address == "千峰南路 长风西大街 路口"
        assert db.session.get(Report, int(by_id)).address == "#NOTPINPOINTED#"
        mark_accepted(by_id)
    listed = client.get(f"{BASE}/requests/{by_id}.json").get_json()[0]
    assert listed["address_id"] == "#NOTPINPOINTED#" and listed["lat"] is None


def test_required_attributes_are_checked(app, client, api_key):
    cover = {"service_code": "01001"}
    assert "attribute[cover_state]" in assert_error(create(client, api_key, **cover), 400)
    assert_error(create(client, api_key, **cover, **{"attribute[cover_state]": "stolen"}), 400)
    report_id = created_id(create(client, api_key, **cover, **{"attribute[cover_state]": "missing"}))
    light = created_id(
        create(
            client,
            api_key,
            service_code="01037",
            **{"attribute[lamp_id]": "LD-0123", "attribute[lamp_fault]": "off", "attribute[uprn]": "1"},
        )
    )
    with app.app_context():
        report = db.session.get(Report, int(report_id))
        assert report.description.endswith("井盖状态：缺失")
        record = db.session.scalar(sa.select(Open311Request).where(Open311Request.report_id == int(light)))
        assert record.attributes == {"lamp_id": "LD-0123", "lamp_fault": "off"}


def test_multi_value_attribute(app, client, api_key):
    fields = valid_fields(api_key)
    fields["attribute[waste_kind][]"] = ["kitchen", "recyclable"]
    report_id = created_id(client.post(f"{BASE}/requests.json", data=fields))
    with app.app_context():
        record = db.session.scalar(sa.select(Open311Request).where(Open311Request.report_id == int(report_id)))
        assert record.attributes == {"waste_kind": ["kitchen", "recyclable"]}
        assert "溢出的垃圾种类：厨余垃圾、可回收物" in record.report.description
    fields["attribute[waste_kind][]"] = ["kitchen", "uranium"]
    assert_error(client.post(f"{BASE}/requests.json", data=fields), 400)


def test_description_up_to_4000_characters(app, client, api_key):
    assert "4000" in assert_error(create(client, api_key, description="长" * 5000), 400)
    assert_error(create(client, api_key, description="x" * 4001), 400)
    long_id = created_id(create(client, api_key, description="描述" * 2000))
    with app.app_context():
        mark_accepted(long_id)
    shown = client.get(f"{BASE}/requests/{long_id}.json").get_json()[0]
    assert shown["description"] == "描述" * 2000


def test_other_fields_are_checked(client, api_key):
    assert_error(create(client, api_key, media_url="javascript:alert(1)"), 400)
    assert_error(create(client, api_key, media_url="ftp://example.com/a.jpg"), 400)
    assert_error(create(client, api_key, email="a" * 300), 400)
    assert_error(create(client, api_key, address_string="路" * 201), 400)


def test_valid_post_json(app, client, api_key):
    response = create(client, api_key, jurisdiction_id="taiyuan.example.cn", **PERSONAL)
    assert response.status_code == 201
    assert response.content_type == "application/json; charset=utf-8"
    body = response.get_json()
    assert isinstance(body, list) and len(body) == 1
    (answer,) = body
    assert ("service_request_id" in answer) != ("token" in answer)  # exactly one of them
    assert isinstance(answer["service_request_id"], str) and answer["service_request_id"].isdigit()
    assert answer["account_id"] is None and answer["service_notice"]
    assert response.headers["Location"].endswith(f"/open311/v2/requests/{answer['service_request_id']}.json")
    with app.app_context():
        report = db.session.get(Report, int(answer["service_request_id"]))
        assert report.channel is Channel.OPEN311 and report.status is ReportStatus.PENDING_REVIEW
        assert report.photos == [] and report.category_code == "06042"
        assert report.events[0].action == "submit"
        reporter = report.reporter
        assert reporter.display_name == "街道App" and reporter.role is Role.CITIZEN
        assert not reporter.active and not reporter.check_password("")
        record = db.session.scalar(sa.select(Open311Request).where(Open311Request.report_id == report.id))
        assert record.email == PERSONAL["email"] and record.phone == PERSONAL["phone"]
        assert record.device_id == PERSONAL["device_id"] and record.account_id == PERSONAL["account_id"]
        assert record.api_key.last_used_at is not None


def test_valid_post_xml(client, api_key):
    response = create(client, api_key, "xml")
    assert response.status_code == 201 and response.content_type == "text/xml; charset=utf-8"
    root = xml_of(response)
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert request.findtext("service_request_id").isdigit()
    assert request.find("token") is None and request.findtext("service_notice")


def test_each_post_is_a_new_report_in_the_review_queue(app, client, api_key):
    first = created_id(create(client, api_key, device_id="same-phone"))
    second = created_id(create(client, api_key, device_id="same-phone"))
    assert first != second
    with app.app_context():
        rows = db.session.scalars(sa.select(Report).order_by(Report.id)).all()
        assert [r.status for r in rows] == [ReportStatus.PENDING_REVIEW] * 2
        assert len({r.client_id for r in rows}) == 2
        queue = review.queue("review")
        assert {r.id for r in queue.items} == {int(first), int(second)}


def test_the_service_user_cannot_log_in(app, client, api_key):
    create(client, api_key)
    with app.app_context():
        user = db.session.scalar(sa.select(ApiKey)).service_user
        phone = user.phone
    response = post(client, "/login", {"phone": phone, "password": PASSWORD})
    assert response.status_code != 303


def test_posts_are_rate_limited_per_key(app, client, api_key):
    app.config["RATELIMIT_OPEN311"] = "2 per minute"
    try:
        assert create(client, api_key).status_code == 201
        assert create(client, api_key).status_code == 201
        assert_error(create(client, api_key), 429)
        assert_error(create(client, api_key, "xml"), 429, "xml")
        with app.app_context():
            _row, other = create_api_key("另一个客户端")
            db.session.commit()
        assert create(client, other).status_code == 201  # another key has its own budget
    finally:
        app.config.pop("RATELIMIT_OPEN311")


def test_post_needs_no_csrf_token_and_sets_no_session(client, api_key):
    response = create(client, api_key)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


# --- 5. GET requests ------------------------------------------------------------------------------------------


def test_get_requests_fields(app, client, api_key):
    report_id = created_id(create(client, api_key))
    listed = client.get(f"{BASE}/requests.json")
    assert listed.status_code == 200 and listed.content_type == "application/json; charset=utf-8"
    (request,) = listed.get_json()
    assert tuple(request) == SPEC_FIELDS
    assert request["service_request_id"] == report_id and request["status"] == "open"
    assert request["service_code"] == "06042" and request["service_name"] == "垃圾站（箱）满溢"
    assert request["status_notes"] == in_chinese(app, "Reported")  # the first step
    assert client.get(f"{BASE}/requests.json?locale=en").get_json()[0]["status_notes"] == "Reported"
    assert isinstance(request["lat"], float) and isinstance(request["long"], float)
    assert request["media_url"] is None  # no photo; a client's media_url is never shown
    for name in ("requested_datetime", "updated_datetime"):
        assert W3C.match(request[name]), request[name]
    assert request["requested_datetime"].endswith("+08:00")
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    element = root.find("request")
    assert [child.tag for child in element] == list(SPEC_FIELDS)
    assert element.findtext("service_code") == "06042" and element.findtext("status") == "open"


def test_default_window_is_the_last_90_days(app, client, api_key):
    old = created_id(create(client, api_key))
    recent = created_id(create(client, api_key))
    edge = created_id(create(client, api_key))
    set_created(app, old, utcnow() - timedelta(days=91))
    set_created(app, edge, utcnow() - timedelta(days=89))
    listed = [r["service_request_id"] for r in client.get(f"{BASE}/requests.json").get_json()]
    assert listed == [recent, edge]  # newest first
    window = {
        "start_date": (utcnow() - timedelta(days=95)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (utcnow() - timedelta(days=85)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert [r["service_request_id"] for r in client.get(f"{BASE}/requests.json", query_string=window).get_json()] == [
        edge,
        old,
    ]
    only_start = {"start_date": window["start_date"]}
    found = [r["service_request_id"] for r in client.get(f"{BASE}/requests.json", query_string=only_start).get_json()]
    assert found == [edge, old]  # start_date alone opens a 90-day window


def test_default_volume_is_at_most_1000(app, client, api_key, monkeypatch):
    from webapp.api.open311 import queries as open311

    for _ in range(3):
        create(client, api_key)
    monkeypatch.setattr(open311, "DEFAULT_LIMIT", 2)
    assert len(client.get(f"{BASE}/requests.json").get_json()) == 2
    assert open311.DEFAULT_LIMIT == 2 and len(client.get(f"{BASE}/requests.json?page_size=3").get_json()) == 3


def _reject(app, report_id: str) -> None:
    with app.app_context():
        reviewer = make_user(Role.REVIEWER)
        review.reject(db.session.get(Report, int(report_id)), reviewer, reason="not_city_problem")
        db.session.commit()


def test_status_filter_and_notes(app, client, api_key):
    open_id = created_id(create(client, api_key))
    rejected_id = created_id(create(client, api_key))
    closed_id = created_id(create(client, api_key))
    _reject(app, rejected_id)
    with app.app_context():
        closed = db.session.get(Report, int(closed_id))
        closed.status = ReportStatus.CLOSED
        closed.closed_at = utcnow()
        db.session.commit()

    def ids(status: str) -> list[str]:
        response = client.get(f"{BASE}/requests.json", query_string={"status": status})
        assert response.status_code == 200
        return sorted(r["service_request_id"] for r in response.get_json())

    assert ids("open") == [open_id]
    assert ids("closed") == sorted([rejected_id, closed_id])
    assert ids("open,closed") == sorted([open_id, rejected_id, closed_id])
    assert ids("") == ids("open,closed")
    assert_error(client.get(f"{BASE}/requests.json?status=pending"), 400)
    assert_error(client.get(f"{BASE}/requests.xml?status=open,fixed"), 400, "xml")
    rejected = client.get(f"{BASE}/requests/{rejected_id}.json").get_json()[0]
    assert rejected["status"] == "closed"
    assert rejected["status_notes"] == in_chinese(app, "Not a problem the city handles")
    english = client.get(f"{BASE}/requests/{rejected_id}.json?locale=en").get_json()[0]
    assert english["status_notes"] == "Not a problem the city handles"


def test_dispatched_request_shows_department_and_expected_time(app, client, api_key):
    report_id = created_id(create(client, api_key))
    with app.app_context():
        department = Department(code="HW", name_zh="万柏林区环卫中心", name_en="Wanbailin Sanitation Centre")
        db.session.add(department)
        reviewer = make_user(Role.REVIEWER)
        report = db.session.get(Report, int(report_id))
        review.accept(report, reviewer, category_code="06042", severity=Severity.GENERAL, department=department)
        db.session.commit()
        due_at = report.due_at
    shown = client.get(f"{BASE}/requests/{report_id}.json").get_json()[0]
    assert shown["status"] == "open" and shown["agency_responsible"] == "万柏林区环卫中心"
    assert shown["status_notes"] == f"{in_chinese(app, 'Dispatched to the department')}: 万柏林区环卫中心"
    assert W3C.match(shown["expected_datetime"])
    assert datetime.fromisoformat(shown["expected_datetime"]) == due_at.replace(microsecond=0)
    english = client.get(f"{BASE}/requests/{report_id}.json?locale=en").get_json()[0]
    assert english["agency_responsible"] == "Wanbailin Sanitation Centre"
    assert english["service_name"] == "Overflowing bin or refuse station"


def test_service_request_id_overrides_every_other_filter(app, client, api_key):
    old = created_id(create(client, api_key))
    new = created_id(create(client, api_key))
    set_created(app, old, utcnow() - timedelta(days=400))
    query = {
        "service_request_id": f"{old},{new},999999",
        "status": "closed",
        "service_code": "01037",
        "start_date": "2020-01-01T00:00:00Z",
        "end_date": "2020-01-31T00:00:00Z",
        "page_size": "1000000000",
    }
    found = client.get(f"{BASE}/requests.json", query_string=query)
    assert found.status_code == 200
    assert sorted(r["service_request_id"] for r in found.get_json()) == sorted([old, new])
    assert_error(client.get(f"{BASE}/requests.json?service_request_id=1,abc"), 400)


def test_service_code_filter(client, api_key):
    bin_id = created_id(create(client, api_key))
    light_id = created_id(create(client, api_key, service_code="01037", **{"attribute[lamp_fault]": "off"}))
    created_id(create(client, api_key, service_code="09012"))

    def ids(codes: str) -> set[str]:
        return {r["service_request_id"] for r in client.get(f"{BASE}/requests.json?service_code={codes}").get_json()}

    assert ids("06042") == {bin_id}
    assert ids("06042,01037") == {bin_id, light_id}
    assert ids("99999") == set()


@pytest.mark.parametrize(
    "query",
    [
        {"start_date": "yesterday"},
        {"start_date": "2026-01-01T00:00:00"},  # no timezone
        {"end_date": "2026-02-30T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"},  # 120 days
        {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-02-01T00:00:00Z"},  # end before start
        {"updated_after": "2026-01-01T00:00:00Z", "updated_before": "2026-06-01T00:00:00Z"},
        {"page_size": "1000000000"},
        {"page_size": "0"},
        {"page_size": "201"},
        {"page": "0"},
        {"page": "two"},
    ],
)
def test_invalid_query_is_400(client, query):
    assert_error(client.get(f"{BASE}/requests.json", query_string=query), 400)
    assert_error(client.get(f"{BASE}/requests.xml", query_string=query), 400, "xml")


def test_paging(client, api_key):
    made = [created_id(create(client, api_key)) for _ in range(5)]
    newest_first = list(reversed(made))

    def page(number: int, size: int) -> list[str]:
        response = client.get(f"{BASE}/requests.json", query_string={"page": number, "page_size": size})
        assert response.status_code == 200
        return [r["service_request_id"] for r in response.get_json()]

    assert page(1, 2) == newest_first[:2]
    assert page(2, 2) == newest_first[2:4]
    assert page(3, 2) == newest_first[4:]
    assert page(4, 2) == []
    assert len(client.get(f"{BASE}/requests.json?page=1").get_json()) == 5


def test_updated_after_and_before(app, client, api_key):
    stale = created_id(create(client, api_key))
    fresh = created_id(create(client, api_key))
    set_created(app, stale, utcnow() - timedelta(days=200))
    with app.app_context():
        report = db.session.get(Report, int(stale))
        report.updated_at = utcnow()  # an old report that changed today
        db.session.commit()
    since = (utcnow() - timedelta(hours=1)).isoformat()
    found = client.get(f"{BASE}/requests.json", query_string={"updated_after": since}).get_json()
    assert sorted(r["service_request_id"] for r in found) == sorted([stale, fresh])
    before = client.get(
        f"{BASE}/requests.json", query_string={"updated_before": (utcnow() - timedelta(hours=1)).isoformat()}
    ).get_json()
    assert before == []


def test_photo_url_is_our_exif_free_copy(app, client):
    with app.test_request_context():
        report = make_report(photos=[jpeg_bytes()])
        db.session.commit()
        report_id, key = report.id, report.photos[0].display_key
        mark_accepted(report_id)
    shown = client.get(f"{BASE}/requests/{report_id}.json").get_json()[0]
    assert shown["media_url"] == f"http://localhost/media/{key}"
    assert client.get(shown["media_url"]).status_code == 200


# --- 6. GET by id, tokens ------------------------------------------------------------------------------------


def test_get_by_id_round_trips(app, client, api_key):
    report_id = created_id(create(client, api_key))
    with app.app_context():
        mark_accepted(report_id)
    one = client.get(f"{BASE}/requests/{report_id}.json")
    assert one.status_code == 200
    (request,) = one.get_json()  # a one-element array, like the list
    assert request == client.get(f"{BASE}/requests.json").get_json()[0]
    assert request["description"] == "垃圾箱满了，周围有异味"
    assert request["address"] == "千峰南路 长风西大街 路口"
    assert (request["lat"], request["long"]) == (37.8601, 112.518)
    root = xml_of(client.get(f"{BASE}/requests/{report_id}.xml"))
    assert root.tag == "service_requests" and root.find("request/service_request_id").text == report_id


@pytest.mark.parametrize("request_id", ["999999", "abc", "0", "99999999999999999999"])
def test_unknown_request_is_404(client, request_id):
    assert_error(client.get(f"{BASE}/requests/{request_id}.json"), 404)
    assert_error(client.get(f"{BASE}/requests/{request_id}.xml"), 404, "xml")


def test_tokens_resolve(app, client, api_key):
    report_id = created_id(create(client, api_key))
    with app.app_context():
        token = db.session.scalar(sa.select(Open311Request.token))
    for fmt in ("json", "xml"):
        response = client.get(f"{BASE}/tokens/{token}.{fmt}")
        assert response.status_code == 200
    assert client.get(f"{BASE}/tokens/{token}.json").get_json() == [{"service_request_id": report_id, "token": token}]
    request = xml_of(client.get(f"{BASE}/tokens/{token}.xml")).find("request")
    assert request.findtext("service_request_id") == report_id and request.findtext("token") == token
    assert_error(client.get(f"{BASE}/tokens/00000000-0000-0000-0000-000000000000.json"), 404)
    assert_error(client.get(f"{BASE}/tokens/{'x' * 100}.xml"), 404, "xml")


# --- 7. Errors ------------------------------------------------------------------------------------------------


def test_errors_are_well_formed_everywhere(client):
    assert_error(client.get(f"{BASE}/nothing.json"), 404)
    assert_error(client.get(f"{BASE}/nothing.xml"), 404, "xml")
    assert_error(client.get(f"{BASE}/services.html"), 404, "xml")
    assert_error(client.get(f"{BASE}/request/1.json"), 404)  # the swagger typo, not a resource
    not_allowed = client.put(f"{BASE}/requests.json")
    assert_error(not_allowed, 405)
    assert not_allowed.headers["Allow"] == "GET, POST"
    assert_error(client.delete(f"{BASE}/services.xml"), 405, "xml")


# --- 8. UTF-8 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_utf8_round_trip(app, client, api_key, fmt):
    text = "井盖丢了！小心 ⚠️ — naïve café 🚧\n第二行"
    response = client.post(
        f"{BASE}/requests.{fmt}",
        data=valid_fields(api_key, description=text, address_string="万柏林区 千峰南路 88 号"),
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    assert response.status_code == 201
    with app.app_context():
        mark_accepted(db.session.scalar(sa.select(sa.func.max(Report.id))))
    shown = client.get(f"{BASE}/requests.{fmt}")
    raw = shown.get_data()
    assert "井盖丢了".encode() in raw and "🚧".encode() in raw  # real UTF-8, not escapes
    if fmt == "json":
        request = json.loads(raw.decode("utf-8"))[0]
        assert request["description"] == text
        assert request["address"] == "万柏林区 千峰南路 88 号"
    else:
        root = xml_of(shown)
        assert root.findtext("request/description") == text
        assert root.findtext("request/address") == "万柏林区 千峰南路 88 号"


def test_control_characters_never_break_the_xml(app, client, api_key):
    report_id = created_id(create(client, api_key, description="bell\x07 and escape\x1b end <b>&amp;</b>"))
    with app.app_context():
        mark_accepted(report_id)
    root = xml_of(client.get(f"{BASE}/requests.xml"))
    assert root.findtext("request/description") == "bell and escape end <b>&amp;</b>"


# --- Privacy --------------------------------------------------------------------------------------------------


def test_no_personal_data_in_get(app, client, api_key):
    report_id = created_id(create(client, api_key, media_url="https://example.com/private/photo.jpg", **PERSONAL))
    with app.app_context():
        service_phone = db.session.get(Report, int(report_id)).reporter.phone
    bodies = [
        client.get(f"{BASE}/requests.json").get_data(as_text=True),
        client.get(f"{BASE}/requests.xml").get_data(as_text=True),
        client.get(f"{BASE}/requests/{report_id}.json").get_data(as_text=True),
        client.get(f"{BASE}/requests/{report_id}.xml?locale=en").get_data(as_text=True),
    ]
    for body in bodies:
        for value in (*PERSONAL.values(), "example.com/private", service_phone, "街道App"):
            assert value not in body
    # The public report page does not show them either.
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    for value in (*PERSONAL.values(), "example.com/private"):
        assert value not in page


# --- API keys on the command line ---------------------------------------------------------------------------


def test_create_api_key_prints_it_once_and_stores_only_a_hash(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-api-key", "--name", "FixMyCity"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"cg311_[0-9a-f]{8}_[0-9a-f]{64}", key)
    assert "cannot be shown again" in result.output
    with app.app_context():
        row = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "FixMyCity"))
        assert row.prefix == key.split("_")[1] and key not in (row.key_hash, row.prefix)
        assert row.service_user.display_name == "FixMyCity" and not row.service_user.active
        assert row.revoked_at is None and row.created_at is not None
    client = app.test_client()
    assert client.post(f"{BASE}/requests.json", data=valid_fields(key)).status_code == 201


@pytest.mark.commits  # CLI commands commit in their own app contexts
def test_create_api_key_refuses_empty_and_duplicate_names(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-api-key", "--name", "Partner"]).exit_code == 0
    duplicate = runner.invoke(args=["create-api-key", "--name", "partner"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    empty = runner.invoke(args=["create-api-key", "--name", "  "])
    assert empty.exit_code != 0 and "empty" in empty.output
    missing = runner.invoke(args=["create-api-key"])
    assert missing.exit_code != 0 and "--name" in missing.output
    too_long = runner.invoke(args=["create-api-key", "--name", "x" * 81])
    assert too_long.exit_code != 0 and "too long" in too_long.output
    unknown_issuer = runner.invoke(args=["create-api-key", "--name", "Other", "--created-by", "13800000000"])
    assert unknown_issuer.exit_code != 0 and "13800000000" in unknown_issuer.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_create_api_key_records_the_issuer(app):
    with app.app_context():
        admin = make_user(Role.ADMIN)
        phone = admin.phone
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["create-api-key", "--name", "Hotline", "--created-by", phone])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(ApiKey)).created_by.phone == phone


def test_revoke_api_key(app):
    runner = app.test_cli_runner()
    key = runner.invoke(args=["create-api-key", "--name", "Old app"]).output.strip().splitlines()[-1]
    revoked = runner.invoke(args=["revoke-api-key", "--name", "Old app"])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    again = runner.invoke(args=["revoke-api-key", "--name", "Old app"])
    assert again.exit_code != 0 and "already revoked" in again.output
    unknown = runner.invoke(args=["revoke-api-key", "--name", "Nobody"])
    assert unknown.exit_code != 0 and "no API key" in unknown.output
    assert_error(app.test_client().post(f"{BASE}/requests.json", data=valid_fields(key)), 403)


# --- A published client library -----------------------------------------------------------------------------


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_client_reads_what_a_client_posted(app, live_server, api_key, no_proxy, output_format):
    """PyPI ``georeport`` (read-only) reads services, definitions and requests; the POST goes through ``requests``
    as a form, the way every GeoReport v2 client sends it (``three`` and ``open311`` do not import on Python 3)."""
    import georeport  # dev dependency (pyproject.toml)
    import requests

    base = f"{live_server.url}{BASE}"
    posted = requests.post(
        f"{base}/requests.json",
        data=valid_fields(api_key, service_code="01001", **{"attribute[cover_state]": "broken"}),
        timeout=10,
    )
    assert posted.status_code == 201, posted.text
    report_id = posted.json()[0]["service_request_id"]
    with app.app_context():
        mark_accepted(report_id)

    client = georeport.GeoReport(base, jurisdiction="taiyuan.example.cn", output_format=output_format)
    services = client.get_service_list()
    by_code = {s["service_code"]: s for s in services}
    assert by_code["01001"]["service_name"] == "供水井盖"
    assert str(by_code["01001"]["metadata"]).lower() == "true"
    definition = client.get_service_definition("01001")
    attributes = definition["attributes"] if output_format == "json" else definition["attributes"]["attribute"]
    assert attributes[0]["code"] == "cover_state"

    listed = client.get_service_requests(status="open", service_code="01001")
    if output_format == "xml":
        listed = [listed]  # xmltodict gives one request as a dict
    assert [r["service_request_id"] for r in listed] == [report_id]
    one = client.get_service_request(report_id)
    assert one["service_request_id"] == report_id and one["status"] == "open"
    assert one["service_code"] == "01001" and "井盖状态：破损" in one["description"]
    assert W3C.match(one["requested_datetime"])
    # Its date filters (W3C with a timezone) and its error handling (raise_for_status on our 4xx).
    now = datetime.now(UTC)
    window = client.get_service_requests(
        start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_date=(now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    if output_format == "xml":
        window = [window]
    assert [r["service_request_id"] for r in window] == [report_id]
    with pytest.raises(requests.HTTPError) as not_found:
        client.get_service_request("987654321")
    assert not_found.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as bad_dates:
        client.get_service_requests(start_date="yesterday")
    assert bad_dates.value.response.status_code == 400
