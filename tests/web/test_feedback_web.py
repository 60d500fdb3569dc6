"""Feedback on the platform (意见反馈) over HTTP: the public form (with and without an account), my feedback, the
private status link, admin triage with htmx, the screenshot routes, and bad input."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from tests.factories import gps_photo_bytes, jpeg_bytes, make_user
from tests.helpers import HX, login, post, text
from webapp.accounts.models import Role
from webapp.db import db
from webapp.feedback.models import FeedbackStatus, PlatformFeedback, PlatformFeedbackEvent
from webapp.feedback.platform import services as platform
from webapp.notifications.models import Notification
from webapp.points import ledger

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


def msg(app, message: str, **params) -> str:  # type: ignore[no-untyped-def]
    """A message as the app shows it in the default language (Chinese once translated)."""
    with app.test_request_context():
        return gettext(message, **params)


def count(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(PlatformFeedback)) or 0


def files(app) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file())


def form(**overrides):  # type: ignore[no-untyped-def]
    data = {"kind": "suggestion", "text": "希望增加夜间模式", "reply_via": "none", "client_id": str(uuid.uuid4())}
    data.update(overrides)
    return data


def send(client, **overrides):  # type: ignore[no-untyped-def]
    return post(client, "/feedback", form(**overrides), content_type="multipart/form-data")


def only_item(app) -> PlatformFeedback:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalars(sa.select(PlatformFeedback)).one()


@pytest.fixture
def resident(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(name="王阿姨")
        db.session.commit()
    login(client, user)
    return user


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(Role.ADMIN, name="管理员")
        db.session.commit()
    return user


def anonymous_item(app, **overrides) -> PlatformFeedback:  # type: ignore[no-untyped-def]
    with app.app_context():
        feedback, _created = platform.submit(
            None,
            platform.NewFeedback(**{"kind": "rules", "text": "积分规则看不懂", "reply_via": "none", **overrides}),
            storage=app.extensions["storage"],
        )
        db.session.commit()
        return feedback


# --- The public form ---------------------------------------------------------------------------------------------


def test_the_form_is_public_and_has_a_fresh_form_id(client):
    first = client.get("/feedback")
    second = client.get("/feedback")
    assert first.status_code == 200
    ids = [
        re.search(r'name="client_id"[^>]*value="([0-9a-f-]{36})"', r.get_data(as_text=True)) for r in (first, second)
    ]
    assert all(ids) and ids[0].group(1) != ids[1].group(1)
    body = first.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in body and 'name="csrf_token"' in body
    assert 'value="app"' not in body  # a reply in the app needs an account


def test_the_form_fragment(client):
    response = client.get("/feedback", headers=HX)
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert 'name="kind"' in response.get_data(as_text=True) and "HX-Request" in response.headers["Vary"]


def test_the_footer_links_to_the_form(client):
    assert 'href="/feedback"' in client.get("/").get_data(as_text=True)


def test_an_anonymous_visitor_sends_feedback_and_gets_a_private_link(app, client):
    response = send(client, reply_via="sms", phone="13900001234", text="上传照片时卡住了", kind="app_problem")
    assert response.status_code == 303
    feedback = only_item(app)
    assert response.headers["Location"] == f"/feedback/s/{feedback.token}"
    assert feedback.user_id is None and feedback.phone == "13900001234"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    body = text(page)
    assert feedback.reference in body and "上传照片时卡住了" in body
    assert f"/feedback/s/{feedback.token}" in page.get_data(as_text=True)  # the link to keep
    # A stranger with the reference number (or a wrong token) sees nothing.
    assert client.get(f"/feedback/s/{feedback.reference}").status_code == 404
    assert client.get("/feedback/s/" + "A" * 43).status_code == 404


def test_a_resident_sends_feedback_and_sees_it_in_my_feedback(app, client, resident):
    response = send(client, reply_via="app")
    feedback = only_item(app)
    assert response.headers["Location"] == f"/feedback/{feedback.id}"
    assert feedback.user_id == resident.id
    mine = client.get("/feedback/mine")
    assert mine.status_code == 200 and feedback.reference in text(mine)
    fragment = client.get("/feedback/mine", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and feedback.reference in text(fragment)
    detail = client.get(f"/feedback/{feedback.id}")
    assert detail.status_code == 200 and "希望增加夜间模式" in text(detail)
    assert f"/feedback/s/{feedback.token}" not in detail.get_data(as_text=True)  # logged in: no link needed


def test_a_double_tap_makes_one_item(app, client, resident):
    data = form()
    first = post(client, "/feedback", data, content_type="multipart/form-data")
    second = post(client, "/feedback", data, content_type="multipart/form-data")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app) == 1
    page = client.get(second.headers["Location"])
    assert msg(app, "This feedback had already arrived; nothing was sent twice.") in text(page)


def test_a_double_tap_without_an_account_shows_the_same_link(app, client):
    data = form()
    first = post(client, "/feedback", data, content_type="multipart/form-data")
    second = post(client, "/feedback", data, content_type="multipart/form-data")
    assert first.headers["Location"] == second.headers["Location"] and count(app) == 1


def test_a_screenshot_is_private_and_without_exif(app, client, resident):
    response = send(client, screenshot=(io.BytesIO(gps_photo_bytes()), "shot.jpg"))
    assert response.status_code == 303
    feedback = only_item(app)
    full = client.get(f"/feedback/{feedback.id}/screenshot/full")
    thumb = client.get(f"/feedback/{feedback.id}/screenshot/thumb")
    assert full.status_code == thumb.status_code == 200 and full.headers["Content-Type"] == "image/jpeg"
    assert b"Exif" not in full.data and b"ExampleCam" not in full.data
    assert full.headers["Cache-Control"].startswith("private")
    # Not through the public media route, not to another resident, not to anonymous visitors.
    assert client.get(f"/media/{feedback.screenshot_key}").status_code == 404
    other = app.test_client()
    with app.app_context():
        stranger = make_user()
        db.session.commit()
    assert other.get(f"/feedback/{feedback.id}/screenshot/full").status_code == 302  # log in first
    login(other, stranger)
    assert other.get(f"/feedback/{feedback.id}/screenshot/full").status_code == 404


def test_the_private_link_shows_the_screenshot(app, client):
    feedback = anonymous_item(app, screenshot=jpeg_bytes())
    assert client.get(f"/feedback/s/{feedback.token}/screenshot/thumb").status_code == 200
    assert client.get(f"/feedback/s/{'B' * 43}/screenshot/thumb").status_code == 404
    plain = anonymous_item(app)
    assert client.get(f"/feedback/s/{plain.token}/screenshot/full").status_code == 404


def test_another_residents_feedback_is_not_found(app, client, resident):
    with app.app_context():
        other = make_user()
        feedback, _created = platform.submit(
            other, platform.NewFeedback(kind="other", text="别人的意见", reply_via="app"), storage=None
        )
        db.session.commit()
    assert client.get(f"/feedback/{feedback.id}").status_code == 404
    assert "别人的意见" not in text(client.get("/feedback/mine"))
    assert client.get("/feedback/999999").status_code == 404


def test_my_feedback_needs_an_account(client):
    assert client.get("/feedback/mine").status_code == 302
    assert client.get("/feedback/1").status_code == 302


# --- Bad input ---------------------------------------------------------------------------------------------------

BAD = [
    ("empty text", {"text": ""}, 422, "Please write your feedback."),
    ("only spaces", {"text": "   "}, 422, "Please write your feedback."),
    ("5000 characters", {"text": "长" * 5001}, 422, "The feedback is too long: at most %(max)d characters."),
    ("no kind", {"kind": ""}, 422, "Please choose what your feedback is about."),
    ("unknown kind", {"kind": "praise"}, 422, None),
    (
        "sms without a number",
        {"reply_via": "sms", "phone": "abc"},
        422,
        "Please enter a mobile number of 11 digits for the SMS reply.",
    ),
    (
        "app reply without an account",
        {"reply_via": "app"},
        422,
        "A reply in the app needs an account. Log in, or choose a reply by SMS.",
    ),
    (
        "text file as screenshot",
        {"screenshot": (io.BytesIO(b"hello, not a picture"), "shot.png")},
        415,
        "The screenshot is not a supported picture. Please send a PNG, JPEG, WebP or HEIC image.",
    ),
    (
        "svg screenshot",
        {"screenshot": (io.BytesIO(b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "x.svg")},
        415,
        "The screenshot is not a supported picture. Please send a PNG, JPEG, WebP or HEIC image.",
    ),
    (
        "decompression bomb",
        {"screenshot": (io.BytesIO((IMAGES / "decompression_bomb.gif").read_bytes()), "bomb.gif")},
        413,
        "The screenshot has too many pixels. Please send an ordinary screenshot.",
    ),
    (
        "broken png",
        {"screenshot": (io.BytesIO((IMAGES / "broken.png").read_bytes()), "broken.png")},
        422,
        "The screenshot is empty or damaged. Please take it again.",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_clear_message_and_writes_nothing(app, client, case, overrides, status, message):
    before = files(app)
    response = send(client, **overrides)
    assert response.status_code == status
    if message is not None:
        expected = msg(app, message, max=platform.TEXT_MAX) if "%(max)d" in message else msg(app, message)
        assert expected in text(response)
    assert 'name="text"' in response.get_data(as_text=True)  # the form comes back
    if overrides.get("text", "").strip():
        assert overrides["text"][:20] in response.get_data(as_text=True)  # with what was typed
    assert count(app) == 0 and files(app) == before


def test_a_stale_csrf_token_is_refused(app, client):
    response = client.post("/feedback", data={**form(), "csrf_token": "stale"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert msg(app, "This page has expired. Please go back, reload the page and try again.") in text(response)
    assert count(app) == 0


def test_a_huge_upload_is_refused(app, client):
    big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * (30 * 1024 * 1024))
    response = send(client, screenshot=(big, "big.png"))
    response.request.input_stream.close()
    assert response.status_code == 413 and count(app) == 0


def test_feedback_is_rate_limited(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_SUBMIT", "2 per hour")
    for _ in range(2):
        assert send(client).status_code == 303
    assert send(client).status_code == 429
    assert count(app) == 2


# --- Admin triage ------------------------------------------------------------------------------------------------


def test_the_triage_list_full_page_and_filtered_fragment(app, client, admin):
    a = anonymous_item(app, kind="rules", text="规则问题")
    b = anonymous_item(app, kind="suggestion", text="一个建议")
    login(client, admin)
    page = client.get("/admin/feedback")
    assert page.status_code == 200 and a.reference in text(page) and b.reference in text(page)
    assert 'hx-get="/admin/feedback"' in page.get_data(as_text=True)
    fragment = client.get("/admin/feedback?kind=rules", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert a.reference in text(fragment) and b.reference not in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    assert b.reference not in text(client.get("/admin/feedback?status=in_progress", headers=HX))
    # Unknown filter values are ignored rather than failing: the whole list, first page.
    unfiltered = client.get("/admin/feedback?status=nonsense&kind=<x>&page=-3")
    assert unfiltered.status_code == 200
    assert a.reference in text(unfiltered) and b.reference in text(unfiltered)
    assert "<x>" not in unfiltered.get_data(as_text=True)  # echoed only escaped


def test_admin_triages_replies_and_adopts_with_htmx(app, client, admin):
    with app.app_context():
        resident = make_user(name="李大爷")
        feedback, _created = platform.submit(
            resident, platform.NewFeedback(kind="suggestion", text="加个夜间模式", reply_via="app"), storage=None
        )
        db.session.commit()
    login(client, admin)
    page = client.get(f"/admin/feedback/{feedback.id}")
    assert page.status_code == 200 and "加个夜间模式" in text(page)
    fragment = client.get(f"/admin/feedback/{feedback.id}", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and 'name="action"' in fragment.get_data(as_text=True)

    started = post(client, f"/admin/feedback/{feedback.id}", {"action": "start"}, headers=HX)
    assert started.status_code == 200 and "<html" not in started.get_data(as_text=True)
    assert msg(app, "In progress") in text(started)
    adopted = post(client, f"/admin/feedback/{feedback.id}", {"action": "adopt", "message": "好主意，下个版本上线。"})
    assert adopted.status_code == 303 and adopted.headers["Location"] == f"/admin/feedback/{feedback.id}"
    with app.app_context():
        stored = db.session.get(PlatformFeedback, feedback.id)
        assert stored.status is FeedbackStatus.ADOPTED and stored.reply == "好主意，下个版本上线。"
        actions = db.session.scalars(
            sa.select(PlatformFeedbackEvent.action).where(PlatformFeedbackEvent.feedback_id == feedback.id)
        ).all()
        assert actions == ["submit", "start", "adopt"]
        assert ledger.balance_of(db.session.get(type(resident), resident.id)) == 5
        kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == resident.id)).all()
        assert kinds == ["feedback_adopted"]
    # Adopting again is refused with a clear message (409), and pays nothing more.
    again = post(client, f"/admin/feedback/{feedback.id}", {"action": "adopt"})
    assert again.status_code == 409
    again_hx = post(client, f"/admin/feedback/{feedback.id}", {"action": "adopt"}, headers=HX)
    assert again_hx.status_code == 409 and again_hx.headers["HX-Retarget"] == "#flash"
    with app.app_context():
        assert ledger.balance_of(db.session.get(type(resident), resident.id)) == 5

    # The resident sees the reply and the points.
    citizen = app.test_client()
    login(citizen, resident)
    mine = text(citizen.get(f"/feedback/{feedback.id}"))
    assert "好主意，下个版本上线。" in mine and msg(app, "Adopted") in mine
    assert 'class="feedback-points"' in citizen.get(f"/feedback/{feedback.id}").get_data(as_text=True)
    notifications = text(citizen.get("/me/notifications"))
    assert feedback.reference in notifications


def test_a_reply_needs_text(app, client, admin):
    feedback = anonymous_item(app)
    login(client, admin)
    post(client, f"/admin/feedback/{feedback.id}", {"action": "start"})
    response = post(client, f"/admin/feedback/{feedback.id}", {"action": "reply", "message": ""}, headers=HX)
    assert response.status_code == 422 and msg(app, "Please write the reply.") in text(response)
    too_long = post(client, f"/admin/feedback/{feedback.id}", {"action": "reply", "message": "长" * 3000})
    assert too_long.status_code == 422
    assert msg(app, "The reply is too long: at most %(max)d characters.", max=platform.REPLY_MAX) in text(too_long)
    unknown = post(client, f"/admin/feedback/{feedback.id}", {"action": "launch"})
    assert unknown.status_code == 409
    assert only_item(app).status is FeedbackStatus.IN_PROGRESS


def test_an_sms_reply_goes_out(app, client, admin):
    feedback = anonymous_item(app, reply_via="sms", phone="13900005678")
    login(client, admin)
    post(client, f"/admin/feedback/{feedback.id}", {"action": "start"})
    post(client, f"/admin/feedback/{feedback.id}", {"action": "reply", "message": "已修复"})
    assert [m.phone for m in app.extensions["sms"].sent] == ["13900005678"]
    # ...and the anonymous sender reads it on the private link.
    assert "已修复" in text(client.get(f"/feedback/s/{feedback.token}"))


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.VOLUNTEER, Role.REVIEWER, Role.DEPARTMENT])
def test_other_roles_cannot_triage(app, client, role):
    feedback = anonymous_item(app)
    with app.app_context():
        user = make_user(role)
        db.session.commit()
    login(client, user)
    assert client.get("/admin/feedback").status_code == 403
    assert client.get(f"/admin/feedback/{feedback.id}").status_code == 403
    assert post(client, f"/admin/feedback/{feedback.id}", {"action": "start"}).status_code == 403
    assert client.get("/admin/monitoring").status_code == 403
    assert only_item(app).status is FeedbackStatus.NEW


def test_anonymous_visitors_are_sent_to_log_in(app, client):
    feedback = anonymous_item(app)
    for path in ("/admin/feedback", f"/admin/feedback/{feedback.id}", "/admin/monitoring"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert post(client, f"/admin/feedback/{feedback.id}", {"action": "start"}).status_code == 302


def test_admins_get_nav_links(app, client, admin):
    login(client, admin)
    body = client.get("/").get_data(as_text=True)
    assert 'href="/admin/feedback"' in body and 'href="/admin/monitoring"' in body
