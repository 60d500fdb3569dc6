from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from tests.factories import gps_photo_bytes, jpeg_bytes, make_report, make_user
from tests.helpers import HX, login, post, text
from webapp.accounts.models import Role
from webapp.db import db
from webapp.reports.models import Report, ReportEvent, ReportFollower, ReportPhoto
from webapp.reports.status import ReportStatus

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


def counts(app) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(reports, photos, files on disk): what a refused submission must leave unchanged."""
    with app.app_context():
        reports = db.session.scalar(sa.select(sa.func.count()).select_from(Report))
        photos = db.session.scalar(sa.select(sa.func.count()).select_from(ReportPhoto))
    files = sum(1 for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file())
    return reports, photos, files


@pytest.fixture
def resident(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(name="王阿姨")
        db.session.commit()
    login(client, user)
    return user


def form(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "category": "06042",
        "lat": "37.8601",
        "lon": "112.5180",
        "address": "千峰南路与长风西大街路口",
        "description": "垃圾箱满了",
        "photos": [(io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")],
    }
    data.update(overrides)
    return data


def test_report_form_uses_the_api_field_names(client):
    response = client.get("/reports/new")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for name in ("category", "lat", "lon", "address", "description", "photos", "client_id"):
        assert f'name="{name}"' in body
    assert 'accept="image/*" capture="environment"' in body
    assert 'enctype="multipart/form-data"' in body
    assert "您需要登录后才能发送" in text(response)


def test_anonymous_post_is_sent_to_login(client):
    response = post(client, "/reports/new", form(), content_type="multipart/form-data")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_resident_reports_a_problem_and_sees_it(app, client, resident):
    response = post(client, "/reports/new", form(), content_type="multipart/form-data")
    assert response.status_code == 303
    detail = client.get(response.headers["Location"])
    assert detail.status_code == 200
    page = text(detail)
    assert "垃圾站（箱）满溢" in page
    assert "千峰南路与长风西大街路口" in page
    assert "待审核" in page
    assert "感谢" in page  # the confirmation message
    with app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert report.status is ReportStatus.PENDING_REVIEW
        assert report.events[0].to_status is ReportStatus.PENDING_REVIEW
        assert report.events[0].actor_id == resident.id
        photo_url = f"/media/{report.photos[0].display_key}"
    photo = client.get(photo_url)
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    # Waiting for review: only the reporter (and staff) get the photo, never from a shared cache.
    assert photo.headers["Cache-Control"].startswith("private") and "immutable" not in photo.headers["Cache-Control"]
    assert app.test_client().get(photo_url).status_code == 404
    assert not Image.open(io.BytesIO(photo.data)).getexif()


def test_exif_gps_of_the_first_photo_is_used_when_no_location_is_given(app, client, resident):
    data = form(lat="", lon="", address="", photos=[(io.BytesIO(gps_photo_bytes(37.86, 112.55)), "gps.jpg")])
    response = post(client, "/reports/new", data, content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert report.location_source.value == "exif"
        assert (round(report.lat, 4), round(report.lon, 4)) == (37.86, 112.55)
        stored = app.extensions["storage"].open(report.photos[0].display_key)
    assert b"ExampleCam" not in stored and not Image.open(io.BytesIO(stored)).getexif()


def test_a_double_submitted_form_makes_one_report(app, client, resident):
    data = form(client_id="0b8f2f7e-5b1c-4c55-9a42-1c1d2b3a4f50")
    first = post(client, "/reports/new", data, content_type="multipart/form-data")
    again = post(
        client,
        "/reports/new",
        form(client_id="0b8f2f7e-5b1c-4c55-9a42-1c1d2b3a4f50"),
        content_type="multipart/form-data",
    )
    assert first.headers["Location"] == again.headers["Location"]
    assert counts(app)[0] == 1


HOSTILE = [
    ("empty file", {"photos": [(io.BytesIO(b""), "empty.jpg")]}, 422, "空文件"),
    (
        "text renamed .jpg",
        {"photos": [(io.BytesIO(b"hello, not a picture"), "fake.jpg")]},
        415,
        "不是支持的图片",
    ),
    ("svg", {"photos": [(io.BytesIO(b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "x.svg")]}, 415, "SVG"),
    (
        "bomb",
        {"photos": [(io.BytesIO((IMAGES / "decompression_bomb.gif").read_bytes()), "bomb.gif")]},
        413,
        "像素",
    ),
    (
        "broken png",
        {"photos": [(io.BytesIO((IMAGES / "broken.png").read_bytes()), "broken.png")]},
        422,
        "已损坏",
    ),
    ("no photo", {"photos": []}, 422, "请至少添加一张"),
    (
        "five photos",
        {"photos": [(io.BytesIO(jpeg_bytes()), f"{i}.jpg") for i in range(5)]},
        422,
        "最多添加 3 张",
    ),
    ("no location", {"lat": "", "lon": "", "address": ""}, 422, "请提供位置"),
    ("latitude 200", {"lat": "200", "lon": "112.5"}, 422, "位置无效"),
    ("latitude not a number", {"lat": "north", "lon": "112.5"}, 422, "位置无效"),
    ("only a latitude", {"lat": "37.8", "lon": ""}, 422, "位置无效"),
    ("long description", {"description": "很" * 10_000}, 422, "描述太长"),
    ("long address", {"address": "路" * 500}, 422, "地址太长"),
    ("unknown category", {"category": "99999"}, 422, "请从列表中选择类别"),
    ("bad client id", {"client_id": "not-a-uuid"}, 422, "client_id"),
]


@pytest.mark.parametrize(("case", "overrides", "status", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_bad_input_gets_a_clear_message_and_leaves_nothing(app, client, resident, case, overrides, status, message):
    before = counts(app)
    response = post(client, "/reports/new", form(**overrides), content_type="multipart/form-data")
    assert response.status_code == status
    assert message in text(response)
    assert counts(app) == before
    # The form comes back with what the resident typed.
    if "address" not in overrides:
        assert "千峰南路与长风西大街路口" in response.get_data(as_text=True)


def test_a_30_mb_upload_is_refused_before_it_is_read(app, client, resident):
    before = counts(app)
    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (30 * 1024 * 1024))
    response = post(client, "/reports/new", form(photos=[(big, "big.jpg")]), content_type="multipart/form-data")
    response.request.input_stream.close()  # the test client spools a body this big to a temporary file
    assert response.status_code == 413
    assert "太大" in text(response)
    assert counts(app) == before


def test_submission_is_rate_limited(app, client, resident, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_SUBMIT", "2 per hour")
    for _ in range(2):
        accepted = post(client, "/reports/new", form(), content_type="multipart/form-data")
        assert accepted.status_code == 303
        # An accepted request does not read its window back from the rate-limit storage for headers.
        assert "X-RateLimit-Remaining" not in accepted.headers
    response = post(client, "/reports/new", form(), content_type="multipart/form-data")
    assert response.status_code == 429
    # The refusal says when the hour's window ends.
    assert 0 < int(response.headers["Retry-After"]) <= 3600


def test_public_pages_never_show_the_phone_number(app, client):
    with app.app_context():
        shy = make_user(phone="13811112222", name="不公开")
        proud = make_user(phone="13833334444", name="李大爷", public=True)
        shy_report = make_report(shy)
        proud_report = make_report(proud)
        db.session.commit()
        ids = shy_report.id, proud_report.id
    for url in (f"/reports/{ids[0]}", f"/reports/{ids[1]}", "/reports", "/", f"/api/v1/reports/{ids[0]}"):
        body = client.get(url).get_data(as_text=True)
        assert "13811112222" not in body and "13833334444" not in body
    assert "不公开" not in client.get(f"/reports/{ids[0]}").get_data(as_text=True)
    assert "李大爷" in client.get(f"/reports/{ids[1]}").get_data(as_text=True)


def test_report_list_full_page_and_fragment(app, client):
    with app.app_context():
        make_report(category_code="06042")
        make_report(category_code="01037", lat=37.85, lon=112.51)
        db.session.commit()
    full = client.get("/reports")
    assert full.status_code == 200
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    fragment = client.get("/reports?group=B", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert "路灯" in body and "垃圾站（箱）满溢" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_report_list_filters_by_status_and_paginates(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REPORTS_PER_PAGE", 2)
    with app.app_context():
        for _ in range(3):
            make_report()
        db.session.commit()
    first = text(client.get("/reports?status=open"))
    assert "3 份报告" in first and "第 1 页，共 2 页" in first
    second = client.get("/reports?status=open&page=2", headers=HX).get_data(as_text=True)
    assert second.count('class="report-card"') == 1
    assert "0 份报告" in text(client.get("/reports?status=closed"))
    assert client.get("/reports?status=nonsense&page=-3").status_code == 200


def test_unknown_report_is_404(client):
    for number in ("999999", "0", "99999999999999999999", "-1", "abc"):
        assert client.get(f"/reports/{number}").status_code == 404
        assert client.get(f"/api/v1/reports/{number}").status_code == 404
    assert client.get("/reports?page=99999999999999999999999").status_code == 200


def test_nearby_reports_full_page_and_fragment(app, client):
    with app.app_context():
        near = make_report(category_code="06042", lat=37.86010, lon=112.51800)
        make_report(category_code="06042", lat=37.87000, lon=112.51800)  # about 1 km away
        make_report(category_code="01037", lat=37.86011, lon=112.51801)  # other category
        db.session.commit()
        near_id = near.id
    query = "/reports/nearby?category=06042&lat=37.8602&lon=112.5181"
    fragment = client.get(query, headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and f"#{near_id}" in body
    assert body.count('class="report-card"') == 1
    full = client.get(query)
    assert "<html" in full.get_data(as_text=True) and f"#{near_id}" in full.get_data(as_text=True)
    assert client.get("/reports/nearby?category=06042&lat=abc&lon=1", headers=HX).status_code == 200


def _nearby_cards(client, lat: float, lon: float) -> str:  # type: ignore[no-untyped-def]
    body = text(client.get(f"/reports/nearby?category=06042&lat={lat}&lon={lon}", headers=HX))
    return body[body.index("#") :] if "#" in body else ""


def test_nearby_gives_no_one_else_the_distance_to_a_hidden_place(app, client):
    """Probing positions a few metres apart, or stepping across the radius around the real place, tells a
    visitor nothing about a report waiting for review; its reporter and staff get the distance to the metre."""
    with app.app_context():
        reporter, staff = make_user(), make_user(Role.REVIEWER)
        hidden = make_report(reporter, category_code="06042", lat=37.86010, lon=112.51800)
        db.session.commit()
        hidden_id = hidden.id
    # A few metres apart; then about 189 m and 211 m north of the place, either side of the 200 m radius.
    for probes, bound in (
        ([(37.8602, 112.5181), (37.86024, 112.5181)], 1000),
        ([(37.8618, 112.518), (37.862, 112.518)], 500),
    ):
        answers = {_nearby_cards(client, lat, lon) for lat, lon in probes}
        assert len(answers) == 1
        answer = answers.pop()
        assert f"#{hidden_id}" in answer and f"{bound} 米以内" in answer and not re.search(r"距离 \d+ 米", answer)
    for viewer in (reporter, staff):
        other = app.test_client()
        login(other, viewer)
        first, second = _nearby_cards(other, 37.8602, 112.5181), _nearby_cards(other, 37.86024, 112.5181)
        assert "距离 14 米" in first and "距离 18 米" in second
        assert f"#{hidden_id}" not in _nearby_cards(other, 37.8620, 112.5180)


def test_me_too_follows_instead_of_duplicating(app, client, resident):
    with app.app_context():
        report = make_report()
        db.session.commit()
        report_id = report.id
    response = post(client, f"/reports/{report_id}/follow", headers=HX)
    assert response.status_code == 200
    assert "无需再次发送" in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True)
    # Following twice keeps one follower; the full-page form redirects back.
    response = post(client, f"/reports/{report_id}/follow")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportFollower)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1
    mine = text(client.get("/me/reports"))
    assert "我关注的报告" in mine and "垃圾站（箱）满溢" in mine
    post(client, f"/reports/{report_id}/unfollow")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportFollower)) == 0


def test_reporter_cannot_follow_their_own_report(app, client, resident):
    with app.app_context():
        report = make_report(db.session.get(type(resident), resident.id))
        db.session.commit()
        report_id = report.id
    response = post(client, f"/reports/{report_id}/follow", headers=HX)
    assert response.status_code == 422
    assert "这是您自己上报的问题，您已在关注。" in response.get_data(as_text=True)
    with app.app_context():  # no follower row was written
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportFollower)) == 0


def test_my_reports_shows_only_mine(app, client, resident):
    with app.app_context():
        mine = make_report(db.session.get(type(resident), resident.id), description="我的那份")
        other = make_report(description="别人的那份")
        db.session.commit()
        mine_id, other_id = mine.id, other.id
    full = client.get("/me/reports")
    assert f"/reports/{mine_id}" in full.get_data(as_text=True)
    assert f"/reports/{other_id}" not in full.get_data(as_text=True)
    fragment = client.get("/me/reports", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True)
    assert f"/reports/{mine_id}" in fragment.get_data(as_text=True)


def test_category_search_full_page_and_fragment(client):
    fragment = client.get("/categories/search?q=路灯", headers=HX).get_data(as_text=True)
    assert 'value="01037"' in fragment and "<html" not in fragment
    assert "垃圾站（箱）满溢" in client.get("/categories/search?q=垃圾满了", headers=HX).get_data(as_text=True)
    full = client.get("/categories/search?q=streetlight").get_data(as_text=True)
    assert "<html" in full and "/reports/new?category=01037" in full


def test_media_route_refuses_unknown_and_escaping_keys(client):
    assert client.get("/media/aa/bb/nothing.jpg").status_code == 404
    assert client.get("/media/../../etc/passwd").status_code == 404
    assert client.get("/media/..%2f..%2fsecret_key").status_code == 404


def test_events_are_append_only(app):
    with app.app_context():
        make_report()
        db.session.commit()
        event = db.session.scalar(sa.select(ReportEvent))
        event.note = "changed"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
