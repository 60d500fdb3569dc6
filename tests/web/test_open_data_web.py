"""Open data through the test client: anyone reads it; the list is an htmx endpoint (page and fragment); bad
filters get a clear 400; downloads stream, keep to the schema, hold nothing personal and are rate-limited."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from tests.factories import make_report, make_user
from tests.helpers import HX, text
from tests.unit.cases import make_case
from webapp.db import db, utcnow
from webapp.opendata.services import FIELDS
from webapp.reports import privacy
from webapp.reports.status import ReportStatus

PHONE = "13955556666"
NOISE = "06028"  # sensitive


@pytest.fixture
def english(client):  # type: ignore[no-untyped-def]
    """The pages in English, whatever the catalogue holds."""
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def reports(app, storage):  # type: ignore[no-untyped-def]
    """An accepted report with a photo by a resident who shows their name, a sensitive one, one waiting review."""
    with app.app_context():
        resident = make_user(phone=PHONE, name="王阿姨", public=True)
        plain = make_report(resident, storage, description="垃圾箱满了", address="千峰南路 12 号")
        plain.status = ReportStatus.ACCEPTED
        noisy = make_report(resident, storage, category_code=NOISE, description="502 每晚唱歌", address="3 栋 502")
        noisy.status = ReportStatus.DISPATCHED
        waiting = make_report(resident, storage, description="还没审核")
        db.session.commit()
        return {"plain": plain.id, "noisy": noisy.id, "waiting": waiting.id}


def test_anyone_reads_the_open_data_page(client, reports):
    response = client.get("/open-data")
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    page = text(response)
    assert "<html" in response.get_data(as_text=True)
    assert f"#{reports['plain']}" in page and f"#{reports['noisy']}" in page and f"#{reports['waiting']}" not in page
    assert "千峰南路 12 号" in page and "3 栋 502" not in page  # the sensitive one without its address
    assert "王阿姨" not in page and PHONE not in page
    assert "CC BY 4.0" in page
    assert 'href="/open-data/reports.csv"' in response.get_data(as_text=True)
    assert "以上数字每 5 分钟重新统计一次" in page  # the month's figures are kept that long, writes or not


def test_the_list_fragment_and_its_pages(app, client):
    with app.app_context():
        for _ in range(23):
            make_case(status=ReportStatus.ACCEPTED)
        db.session.commit()
    fragment = client.get("/open-data?page=2", headers=HX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and "HX-Request" in fragment.headers["Vary"]
    assert body.count('class="od-item"') == 3 and 'rel="prev"' in body and 'rel="next"' not in body
    full = client.get("/open-data?page=2").get_data(as_text=True)
    assert "<html" in full and full.count('class="od-item"') == 3
    assert client.get("/open-data?page=99999999").status_code == 200  # clamped to the last page


def test_filters_narrow_the_list_and_the_download_links_follow(app, client):
    with app.app_context():
        make_case(status=ReportStatus.ACCEPTED, created_at=utcnow() - timedelta(days=40))
        recent = make_case(status=ReportStatus.ACCEPTED, category_code="06010")
        db.session.commit()
        recent_id = recent.id
    day = (utcnow() + timedelta(hours=8)).date().isoformat()  # today in China
    body = client.get(f"/open-data?start={day}&category=06010", headers=HX).get_data(as_text=True)
    assert body.count('class="od-item"') == 1 and f"#{recent_id}" in body
    assert f"/open-data/reports.csv?start={day}&amp;category=06010" in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-02-30", "is not a date"),
        ("end=tomorrow", "is not a date"),
        ("start=2026-05-02&end=2026-05-01", "end date is before the start date"),
        ("category=99999", "There is no category"),
        ("category=<b>", "There is no category"),
    ],
)
def test_bad_filters_get_a_clear_400(english, client, query, message):
    page = client.get(f"/open-data?{query}")
    assert page.status_code == 400 and message in text(page) and 'role="alert"' in page.get_data(as_text=True)
    fragment = client.get(f"/open-data?{query}", headers=HX)
    assert fragment.status_code == 400 and fragment.headers["HX-Retarget"] == "#flash" and message in text(fragment)
    for download in ("reports.csv", "reports.json", "map.geojson"):
        answer = client.get(f"/open-data/{download}?{query}")
        assert answer.status_code == 400 and message in answer.get_json()["error"]["message"]
        assert answer.get_json()["error"]["code"] == "bad_filter"


def test_csv_download_streams_the_schema_and_nothing_personal(client, reports):
    response = client.get("/open-data/reports.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # once, not "…; charset=utf-8" twice
    assert response.headers["Content-Disposition"] == 'attachment; filename="citizen-grid-reports.csv"'
    assert "license" in response.headers["Link"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert tuple(rows[0]) == FIELDS
    assert [int(r["id"]) for r in rows] == [reports["plain"], reports["noisy"]]
    noisy = rows[1]
    assert noisy["location_coarsened"] == "true" and noisy["address"] == noisy["description"] == noisy["photos"] == ""
    assert rows[0]["photos"].startswith("http://localhost/media/")
    assert PHONE not in body and "王阿姨" not in body


def test_json_download_has_the_licence_the_fields_and_the_rows(client, reports):
    response = client.get("/open-data/reports.json?category=06028")
    assert response.status_code == 200 and response.is_streamed
    data = json.loads(response.get_data(as_text=True))
    assert data["licence"] == "CC BY 4.0" and data["fields"] == list(FIELDS)
    assert data["filters"] == {"category": ["06028"]}
    [row] = data["reports"]
    assert tuple(row) == FIELDS and row["id"] == reports["noisy"] and row["photos"] == []
    assert (row["lat"], row["lon"]) == privacy.coarsen(37.8601, 112.5180)
    assert json.loads(client.get("/open-data/reports.json?end=2000-01-01").get_data(as_text=True))["reports"] == []


def test_the_map_layer_is_geojson(client, reports):
    response = client.get("/open-data/map.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    ids = {f["properties"]["id"] for f in response.get_json()["features"]}
    assert ids == {reports["plain"], reports["noisy"]}


def test_downloads_are_rate_limited(app, english, client):
    app.config["RATELIMIT_OPEN_DATA"] = "2 per minute"
    try:
        assert client.get("/open-data/reports.csv").status_code == 200
        assert client.get("/open-data/reports.json").status_code == 200
        refused = client.get("/open-data/reports.csv")
        assert refused.status_code == 429 and "Too many attempts" in text(refused)
        assert client.get("/open-data").status_code == 200  # the page itself is not limited
    finally:
        del app.config["RATELIMIT_OPEN_DATA"]


def test_the_schema_page_documents_every_field(english, client):
    page = text(client.get("/open-data/schema"))
    for name in FIELDS:
        assert name in page
    assert "CC BY 4.0" in page and "Noise nuisance" in page


def test_open311_applies_the_same_rule(app, client, reports):
    listed = {r["service_request_id"]: r for r in client.get("/open311/v2/requests.json").get_json()}
    noisy, plain = listed[str(reports["noisy"])], listed[str(reports["plain"])]
    assert (noisy["lat"], noisy["long"]) == privacy.coarsen(37.8601, 112.5180)
    assert noisy["address"] is None and noisy["media_url"] is None
    assert (plain["lat"], plain["long"]) == (37.8601, 112.518) and plain["address"] == "千峰南路 12 号"


def test_the_home_page_links_to_open_data(client):
    body = client.get("/").get_data(as_text=True)
    assert 'href="/open-data"' in body and 'href="/campaigns"' in body


def test_large_exports_are_sent_in_batches(app, client, monkeypatch):
    monkeypatch.setattr("webapp.opendata.services.BATCH", 2)
    with app.app_context():
        ids = [make_case(status=ReportStatus.ACCEPTED).id for _ in range(5)]
        db.session.commit()
    response = client.get("/open-data/reports.json")
    chunks = list(response.response)
    assert len(chunks) == 5  # the head, three batches (2 + 2 + 1) and the tail
    assert [row["id"] for row in json.loads(b"".join(chunks))["reports"]] == ids
    rows = list(
        csv.DictReader(io.StringIO(client.get("/open-data/reports.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    assert [int(row["id"]) for row in rows] == ids


def test_csv_cells_never_start_a_spreadsheet_formula(app, client):
    with app.app_context():
        make_case(status=ReportStatus.ACCEPTED, description='=HYPERLINK("http://x")', lat=37.8601, lon=-0.5)
        db.session.commit()
    [row] = list(
        csv.DictReader(io.StringIO(client.get("/open-data/reports.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    assert row["description"] == '\'=HYPERLINK("http://x")' and row["lon"] == "-0.5"
