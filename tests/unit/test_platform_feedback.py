"""Feedback on the platform (意见反馈): submitting (with or without an account, replays, screenshots), the
triage transitions, the reply reaching the resident, and the points for adopted feedback (once)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import gettext
from PIL import Image

from tests.factories import gps_photo_bytes, jpeg_bytes, make_user
from tests.unit.cases import notifications_of, sms_phones
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import Forbidden
from webapp.feedback.models import FeedbackStatus, PlatformFeedback, PlatformFeedbackEvent
from webapp.feedback.platform import services as platform
from webapp.points import ledger
from webapp.points.models import LedgerTransaction

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"
S = FeedbackStatus


def data(**overrides) -> platform.NewFeedback:  # type: ignore[no-untyped-def]
    values = {"kind": "suggestion", "text": "希望增加夜间模式", "reply_via": "none", "client_id": str(uuid.uuid4())}
    values.update(overrides)
    return platform.NewFeedback(**values)


def submit(user=None, storage=None, **overrides):  # type: ignore[no-untyped-def]
    feedback, created = platform.submit(user, data(**overrides), storage=storage)
    assert created
    return feedback


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PlatformFeedback)) or 0


@pytest.fixture
def admin(ctx):  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


# --- Submitting ---------------------------------------------------------------------------------------------------


def test_a_resident_with_an_account_sends_feedback(ctx):
    resident = make_user()
    feedback = submit(resident, kind="app_problem", text="  照片上传很慢  ", reply_via="app")
    assert (feedback.user_id, feedback.kind.value, feedback.text, feedback.status) == (
        resident.id,
        "app_problem",
        "照片上传很慢",
        S.NEW,
    )
    assert feedback.reference == f"YJ{feedback.id:06d}"
    assert [(e.action, e.from_status, e.to_status, e.actor_id) for e in feedback.events] == [
        ("submit", None, "new", resident.id)
    ]
    assert platform.mine(resident) == [feedback]


def test_someone_without_an_account_gets_a_private_token(ctx):
    feedback = submit(None, reply_via="sms", phone="+86 139-0000-1111")
    assert feedback.user_id is None and feedback.phone == "13900001111"
    assert len(feedback.token) >= 40  # secrets.token_urlsafe(32): not guessable
    assert platform.by_token(feedback.token) is feedback
    assert platform.by_token(feedback.token[:-1] + ("A" if feedback.token[-1] != "A" else "B")) is None
    assert platform.by_token("") is None and platform.by_token("x" * 100) is None
    other = submit(None)
    assert other.token != feedback.token
    # Without an account nobody "owns" it: only the link and admins open it.
    assert not platform.can_view(make_user(), feedback)
    assert platform.can_view(make_user(Role.ADMIN), feedback)


def test_the_same_form_sent_twice_makes_one_item(ctx):
    resident = make_user()
    first, created = platform.submit(resident, data(client_id="7d4c7a4e-0a52-4f40-9a55-1b1b6f0c0d01"), storage=None)
    again, created_again = platform.submit(
        resident, data(client_id="7d4c7a4e-0a52-4f40-9a55-1b1b6f0c0d01"), storage=None
    )
    assert created and not created_again and again is first and count() == 1
    # The same form id with other content is refused, not silently merged.
    with pytest.raises(platform.FeedbackConflict):
        platform.submit(resident, data(client_id="7d4c7a4e-0a52-4f40-9a55-1b1b6f0c0d01", text="别的内容"), storage=None)
    with pytest.raises(platform.FeedbackConflict):  # nor can someone else claim it
        platform.submit(None, data(client_id="7d4c7a4e-0a52-4f40-9a55-1b1b6f0c0d01"), storage=None)


def test_a_missing_or_broken_form_id_still_sends_the_feedback(ctx):
    first = submit(None, client_id="")
    second = submit(None, client_id="not-a-uuid")
    assert first.id != second.id and uuid.UUID(first.client_id) and uuid.UUID(second.client_id)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"text": "   "}, "text", "Please write your feedback."),
        ({"text": "长" * (platform.TEXT_MAX + 1)}, "text", "The feedback is too long: at most %(n)d characters."),
        ({"kind": "praise"}, "kind", "Please choose what your feedback is about."),
        ({"reply_via": "email"}, "reply_via", "Please choose how we should reply."),
        (
            {"reply_via": "app"},
            "reply_via",
            "A reply in the app needs an account. Log in, or choose a reply by SMS.",
        ),
        (
            {"reply_via": "sms", "phone": "12345"},
            "phone",
            "Please enter a mobile number of 11 digits for the SMS reply.",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message_per_field(ctx, overrides, field, message):
    with pytest.raises(platform.FeedbackInvalid) as refused:
        platform.submit(None, data(**overrides), storage=None)
    expected = gettext(message, n=platform.TEXT_MAX) if "%(n)d" in message else gettext(message)
    assert refused.value.errors[field] == expected
    assert count() == 0


def test_sms_reply_defaults_to_the_accounts_number(ctx):
    resident = make_user(phone="13912345678")
    assert submit(resident, reply_via="sms").phone == "13912345678"


def test_a_screenshot_is_stored_without_exif_and_only_under_a_private_key(ctx, storage):
    feedback = submit(make_user(), storage=storage, screenshot=gps_photo_bytes())
    assert feedback.screenshot_key and feedback.screenshot_thumb_key
    for key in (feedback.screenshot_key, feedback.screenshot_thumb_key):
        assert key.endswith(platform.SCREENSHOT_SUFFIX) and not key.endswith(".jpg")  # not served by /media
        image = Image.open(io.BytesIO(storage.open(key)))
        assert image.format == "JPEG" and not image.getexif() and "exif" not in image.info


@pytest.mark.parametrize(
    ("content", "status"),
    [
        ((IMAGES / "decompression_bomb.gif").read_bytes(), 413),
        ((IMAGES / "broken.png").read_bytes(), 422),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", 415),
        (b"%PDF-1.4 not a picture", 415),
    ],
)
def test_a_hostile_or_wrong_screenshot_writes_nothing(ctx, storage, content, status):
    with pytest.raises(platform.ScreenshotRejected) as refused:
        platform.submit(None, data(screenshot=content), storage=storage)
    assert refused.value.status == status and refused.value.field == "screenshot"
    db.session.rollback()
    assert count() == 0
    assert not any(Path(storage.root).rglob("*.jpeg"))


def test_a_screenshot_over_the_size_limit_is_refused(ctx, storage):
    with pytest.raises(platform.ScreenshotRejected) as refused:
        platform.submit(None, data(screenshot=jpeg_bytes()), storage=storage, max_bytes=1000)
    assert refused.value.status == 413


def test_a_rolled_back_submission_leaves_no_file(ctx, storage):
    feedback = submit(None, storage=storage, screenshot=jpeg_bytes(pattern=3))
    key = feedback.screenshot_key
    assert storage.exists(key)
    db.session.rollback()
    assert not storage.exists(key)


# --- Triage -------------------------------------------------------------------------------------------------------


def test_every_transition_of_the_table(ctx, admin):
    expected = {
        S.NEW: {"start", "decline"},
        S.IN_PROGRESS: {"adopt", "decline", "reply"},
        S.ADOPTED: set(),
        S.DECLINED: {"reopen"},
        S.REPLIED: {"reopen"},
    }
    for status, actions in expected.items():
        feedback = submit(None)
        feedback.status = status
        db.session.flush()
        assert {a.name for a in platform.allowed_actions(feedback)} == actions
        for name in platform.ACTIONS:
            if name in actions:
                continue
            with pytest.raises(platform.FeedbackTransitionError):
                platform.perform(feedback, name, admin, "答复")
        for name in actions:
            feedback.status = status
            db.session.flush()
            event = platform.perform(feedback, name, admin, "答复")
            assert (event.from_status, event.to_status, event.actor_id) == (
                status.value,
                platform.ACTIONS[name].target.value,
                admin.id,
            )
            assert feedback.status is platform.ACTIONS[name].target


def test_a_full_path_is_audited_step_by_step(ctx, admin):
    resident = make_user()
    feedback = submit(resident, reply_via="app")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "reply", admin, "我们会考虑。")
    platform.perform(feedback, "reopen", admin)
    platform.perform(feedback, "adopt", admin, "已采纳，下个版本上线。")
    events = db.session.scalars(
        sa.select(PlatformFeedbackEvent)
        .where(PlatformFeedbackEvent.feedback_id == feedback.id)
        .order_by(PlatformFeedbackEvent.id)
    ).all()
    assert [(e.action, e.from_status, e.to_status, e.note) for e in events] == [
        ("submit", None, "new", ""),
        ("start", "new", "in_progress", ""),
        ("reply", "in_progress", "replied", "我们会考虑。"),
        ("reopen", "replied", "in_progress", ""),
        ("adopt", "in_progress", "adopted", "已采纳，下个版本上线。"),
    ]
    assert [e.actor_id for e in events[1:]] == [admin.id] * 4
    assert feedback.reply == "已采纳，下个版本上线。" and feedback.replied_at is not None


def test_only_admins_triage(ctx):
    feedback = submit(None)
    for role in (Role.CITIZEN, Role.VOLUNTEER, Role.REVIEWER, Role.DEPARTMENT):
        with pytest.raises(Forbidden):
            platform.perform(feedback, "start", make_user(role))
    assert feedback.status is S.NEW


def test_a_reply_needs_text_and_has_a_limit(ctx, admin):
    feedback = submit(None)
    platform.perform(feedback, "start", admin)
    with pytest.raises(platform.FeedbackInvalid) as empty:
        platform.perform(feedback, "reply", admin, "   ")
    assert empty.value.field == "message"
    with pytest.raises(platform.FeedbackInvalid):
        platform.perform(feedback, "reply", admin, "长" * (platform.REPLY_MAX + 1))
    with pytest.raises(platform.FeedbackTransitionError):
        platform.perform(feedback, "unknown", admin)
    assert feedback.status is S.IN_PROGRESS


def test_adopted_feedback_earns_points_once(ctx, admin):
    resident = make_user()
    feedback = submit(resident, reply_via="app")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "adopt", admin)
    assert ledger.balance_of(resident) == 5 == platform.points_awarded(feedback)  # the default rule
    # Adopting is final; and even a second award for the same feedback pays nothing (its business key).
    with pytest.raises(platform.FeedbackTransitionError):
        platform.perform(feedback, "adopt", admin)
    from webapp.points import awards

    assert awards.award_feedback(feedback.id, resident) is None
    assert ledger.balance_of(resident) == 5
    keys = db.session.scalars(
        sa.select(LedgerTransaction.business_key).where(LedgerTransaction.reason == "feedback_adopted")
    ).all()
    assert keys == [f"award:feedback:{feedback.id}"]


def test_no_points_without_an_account_or_for_staff(ctx, admin):
    anonymous = submit(None)
    reviewer = make_user(Role.REVIEWER)
    staff = submit(reviewer, reply_via="app")
    for feedback in (anonymous, staff):
        platform.perform(feedback, "start", admin)
        platform.perform(feedback, "adopt", admin)
        assert platform.points_awarded(feedback) == 0
    assert ledger.balance_of(reviewer) == 0


def test_a_reply_reaches_the_resident_in_the_app(ctx, admin, app):
    resident = make_user()
    feedback = submit(resident, reply_via="app")
    platform.perform(feedback, "start", admin)
    assert notifications_of(resident) == []  # starting work says nothing yet
    platform.perform(feedback, "reply", admin, "谢谢，已转给开发。")
    [note] = notifications_of(resident, "feedback_reply")
    assert note.params == {"ref": feedback.reference, "feedback": feedback.id}
    assert sms_phones(app) == []  # the resident did not ask for SMS


def test_adoption_is_announced(ctx, admin):
    resident = make_user()
    feedback = submit(resident, reply_via="app")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "adopt", admin)
    assert [n.kind for n in notifications_of(resident)] == ["feedback_adopted"]


def test_a_reply_by_sms_goes_to_the_number_given(ctx, admin, app):
    feedback = submit(None, reply_via="sms", phone="13900002222")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "reply", admin, "问题已修复。")
    assert not app.extensions["sms"].sent  # only once the reply is committed
    db.session.commit()
    [message] = app.extensions["sms"].sent
    assert message.phone == "13900002222"
    assert feedback.reference in message.text and "问题已修复。" in message.text


def test_no_reply_wanted_sends_nothing(ctx, admin, app):
    resident = make_user()
    feedback = submit(resident, reply_via="none")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "reply", admin, "收到。")
    assert notifications_of(resident) == [] and sms_phones(app) == []
    assert feedback.reply == "收到。"  # still shown on the feedback page


@pytest.mark.commits  # the error recorder writes on its own connection
def test_a_failed_sms_is_recorded_and_does_not_undo_the_reply(ctx, admin, app, monkeypatch):
    from webapp.monitoring import recorder

    def broken(message: object) -> None:
        raise ConnectionError("gateway down")

    monkeypatch.setattr(app.extensions["sms"], "send", broken)
    feedback = submit(None, reply_via="sms", phone="13900003333")
    platform.perform(feedback, "start", admin)
    platform.perform(feedback, "reply", admin, "已处理。")
    assert feedback.status is S.REPLIED
    before = recorder.counters.snapshot()["sms_failed"]
    assert recorder.counters.snapshot()["sms_failed"] == before  # nothing is sent before the reply is committed
    db.session.commit()
    [event] = recorder.recent("sms_failed")
    assert recorder.counters.snapshot()["sms_failed"] == before + 1
    assert db.session.get(type(feedback), feedback.id).status is S.REPLIED
    assert event.detail == "139****3333 ConnectionError (try 1 of 7, will retry)"  # a job retries it


def test_the_triage_list_filters_and_counts(ctx, admin):
    a = submit(None, kind="suggestion")
    b = submit(None, kind="rules")
    c = submit(None, kind="rules")
    platform.perform(b, "start", admin)
    assert {f.id for f in platform.triage_list().items} == {a.id, b.id, c.id}
    assert [f.id for f in platform.triage_list(kind=platform.FeedbackKind.RULES).items] == [c.id, b.id]
    assert [f.id for f in platform.triage_list(status=S.IN_PROGRESS).items] == [b.id]
    page = platform.triage_list(per_page=2)
    assert (page.total, page.pages, page.has_next, len(page.items)) == (3, 2, True, 2)
    assert platform.status_counts()[S.NEW] == 2 and platform.status_counts()[S.IN_PROGRESS] == 1
