"""Notifications: one per person, SMS for urgent staff messages, status changes for the reporter and followers,
text made in the reader's language when shown, unread counts and acknowledgements."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale

from tests.factories import make_user
from tests.helpers import count_queries
from tests.unit.cases import LITTER, make_case, make_department, make_staff, notifications_of, sms_phones
from webapp.accounts import sessions
from webapp.accounts.models import Role
from webapp.db import db
from webapp.notifications import services
from webapp.notifications.models import Notification
from webapp.reports import services as reports
from webapp.reports.status import ReportStatus
from webapp.review import workflow

S = ReportStatus


def test_notify_stores_one_message_per_active_person(ctx):
    report = make_case()
    alice, bob = make_user(), make_user()
    retired = make_user()
    retired.active = False
    created = services.notify([alice, None, bob, alice, retired], "status", report, status="dispatched")
    assert [n.user for n in created] == [alice, bob]
    for notification in created:
        assert notification.id is not None and notification.report is report and not notification.urgent
        assert notification.params == {
            "status": "dispatched",
            "id": report.id,
            "category": report.category.name_zh,
            "category_en": report.category.name_en,
        }
    assert notifications_of(retired) == []


def test_urgent_messages_go_to_staff_by_sms_but_not_to_residents(app, ctx):
    report = make_case(address="兴华街 12 号")
    admin, reviewer, resident = make_staff(Role.ADMIN), make_staff(Role.REVIEWER), make_user()
    services.notify([admin, reviewer, resident], "emergency", report, urgent=True, place=report.address)
    assert sms_phones(app) == [admin.phone, reviewer.phone]
    db.session.commit()
    message = app.extensions["sms"].sent[0].text
    assert message.startswith("【全民网格】") and f"#{report.id}" in message and "兴华街 12 号" in message
    # The SMS is in Chinese whatever the language of the page that caused it.
    with force_locale("zh_Hans_CN"):
        expected = services.text(notifications_of(admin)[0])
    assert message == "【全民网格】" + expected
    assert all(n.urgent for n in notifications_of(resident))

    app.extensions["sms"].sent.clear()
    services.notify([admin], "dispatched", report)  # not urgent
    assert sms_phones(app) == []


def test_residents_who_ask_for_it_get_their_reports_news_by_sms(app, ctx):
    texting, quiet = make_user(), make_user()
    texting.notify_by_sms = True
    report = make_case(reporter=texting)
    services.notify([texting, quiet], "status", report, status=ReportStatus.DISPATCHED.value)
    assert sms_phones(app) == [texting.phone]  # committed
    assert "已派遣" in app.extensions["sms"].sent[0].text


def test_a_failing_sms_does_not_lose_the_message(app, ctx, monkeypatch, caplog):
    def broken(message: object) -> None:
        raise ConnectionError("gateway down")

    monkeypatch.setattr(app.extensions["sms"], "send", broken)
    admin = make_staff(Role.ADMIN)
    [notification] = services.notify([admin], "escalated", make_case(), urgent=True)
    db.session.commit()
    assert notification.id is not None and notifications_of(admin) == [notification]
    assert "could not send an SMS" in caplog.text


def test_status_changed_tells_the_reporter_and_followers_but_not_the_actor(ctx):
    reporter, follower, acting_follower = make_user(), make_user(), make_staff(Role.VOLUNTEER)
    inactive_follower = make_user()
    report = make_case(reporter, status=S.ACCEPTED, category_code="06010")
    for user in (follower, acting_follower, inactive_follower):
        reports.follow(user, report)
    inactive_follower.active = False
    workflow.perform(report, "claim", acting_follower)
    [to_reporter] = notifications_of(reporter)
    assert (to_reporter.kind, to_reporter.params["status"]) == ("status", "in_progress")
    [to_follower] = notifications_of(follower)
    assert (to_follower.kind, to_follower.params["status"]) == ("followed_status", "in_progress")
    assert notifications_of(acting_follower) == [] and notifications_of(inactive_follower) == []


def test_the_reporter_acting_on_their_own_report_is_not_told(ctx):
    reporter, follower = make_user(), make_user()
    report = make_case(reporter, status=S.CLOSED)
    reports.follow(follower, report)
    event = workflow.perform(report, "reopen", reporter, note="没修好")
    assert notifications_of(reporter) == []
    assert [n.params["status"] for n in notifications_of(follower)] == ["awaiting_check"]
    services.status_changed(report, event)  # called directly, it does the same
    assert notifications_of(reporter) == [] and len(notifications_of(follower)) == 2


def test_an_anonymous_report_still_tells_its_followers(ctx):
    follower = make_user()
    report = make_case(None)
    reports.follow(follower, report)
    workflow.perform(report, "accept", make_staff(Role.REVIEWER))
    assert [n.kind for n in notifications_of(follower)] == ["followed_status"]


@pytest.mark.parametrize(
    ("category_code", "action"),
    [("06040", "accept"), (LITTER, "reject")],  # a sensitive category (私设地锁) accepted; any report refused
    ids=["sensitive", "unreviewed"],
)
def test_a_follower_hears_nothing_of_a_report_the_public_may_not_see(app, ctx, category_code, action):
    """Followers are not the reporter: what their messages (and SMS) say of the report is privacy.view()'s."""
    reporter, follower, public_follower = make_user(), make_user(), make_user()
    follower.notify_by_sms = True
    address, description = "胜利街 18 号 3 单元 502 室 13912345678", "楼下邻居 13912345678 私装地锁"
    report = make_case(reporter, category_code=category_code, address=address, description=description)
    published = make_case(make_user(), category_code=LITTER, status=S.ACCEPTED, address="迎泽大街 12 号 13912345678")
    for followed in (report, published):
        reports.follow(follower, followed)
    reports.follow(public_follower, published)
    workflow.perform(report, action, make_staff(Role.REVIEWER), note="不属于城市管理")
    workflow.perform(published, "dispatch", make_staff(Role.REVIEWER))
    db.session.commit()

    [hidden, shown] = notifications_of(follower)
    assert hidden.report is report and hidden.kind == "followed_status"
    [sms_hidden, sms_shown] = [m.text for m in app.extensions["sms"].sent if m.phone == follower.phone]
    assert "迎泽大街 12 号 ***" in sms_shown
    readings = [hidden.params_json, sms_hidden]
    for locale in ("zh_Hans_CN", "en"):
        with force_locale(locale):
            readings.append(services.text(hidden))
    assert len(readings) == 4 and hidden.params["id"] == report.id
    for reading in readings:
        for detail in ("胜利街", "502", "13912345678", "邻居", f"{report.lat:.3f}", f"{report.lon:.3f}"):
            assert detail not in reading
    with force_locale("en"):
        assert services.text(hidden).startswith(f"A report you follow, #{report.id} (")
        # A report the public may see is named with its place, numbers masked as on its public page.
        assert services.text(shown) == (
            f"A report you follow, #{published.id} ({published.category.name_en}, 迎泽大街 12 号 ***): Dispatched."
        )
    # The reporter is told with everything: the place is theirs.
    [to_reporter] = notifications_of(reporter)
    assert to_reporter.params["place"] == address


def test_text_is_made_in_the_readers_language_when_shown(ctx):
    report = make_case()
    [notification] = services.notify([make_user()], "status", report, status="dispatched")
    with force_locale("en"):
        english = services.text(notification)
    with force_locale("zh_Hans_CN"):
        chinese = services.text(notification)
    assert english == f"Your report #{report.id}: Dispatched."
    assert f"#{report.id}" in chinese and "已派遣" in chinese and chinese != english
    with force_locale("en"):
        assert services.text(notification, english=False) == chinese
    # Nothing translated was stored: only the kind and the raw parameters.
    assert json.loads(notification.params_json)["status"] == "dispatched"


def test_the_category_is_named_in_the_readers_language(app, ctx):
    report = make_case()  # 06042 满溢垃圾箱
    staff = make_staff(Role.DEPARTMENT, make_department())
    [notification] = services.notify([staff], "escalated", report, urgent=True)
    with force_locale("en"):
        english = services.text(notification)
    with force_locale("zh_Hans_CN"):
        chinese = services.text(notification)
    assert report.category.name_en in english and report.category.name_zh not in english
    assert report.category.name_zh in chinese and report.category.name_en not in chinese
    db.session.commit()
    [sms] = app.extensions["sms"].sent
    assert report.category.name_zh in sms.text and report.category.name_en not in sms.text


def test_text_survives_missing_parameters_and_unknown_kinds(ctx):
    user = make_user()
    bare = Notification(user=user, kind="dispatched", params_json='{"id": 7}')
    odd = Notification(user=user, kind="no-such-kind", params_json='{"id": 8}')
    db.session.add_all([bare, odd])
    db.session.flush()
    with force_locale("en"):
        assert services.text(bare) == "New case #7 for your department: ."
        assert services.text(odd) == "Case #8 changed."
        weird = Notification(user=user, kind="status", params_json='{"id": 9, "status": "teleported"}')
        assert services.text(weird) == "Your report #9: teleported."


def test_unread_count_and_mark_all_read_are_per_person(ctx):
    alice, bob = make_user(), make_user()
    report = make_case()
    services.notify([alice, bob], "status", report, status="accepted")
    services.notify([alice], "status", report, status="dispatched")
    assert (services.unread_count(alice), services.unread_count(bob)) == (2, 1)
    assert [n.params["status"] for n in services.recent(alice)] == ["dispatched", "accepted"]
    assert services.mark_all_read(alice) == 2
    assert (services.unread_count(alice), services.unread_count(bob)) == (0, 1)
    assert all(n.read_at is not None for n in services.recent(alice))
    assert services.mark_all_read(alice) == 0
    assert len(services.recent(alice, limit=1)) == 1


def test_acknowledge_for_report_clears_only_that_reports_urgent_messages(ctx):
    admin = make_staff(Role.ADMIN)
    report, other = make_case(), make_case()
    services.notify([admin], "emergency", report, urgent=True)
    services.notify([admin], "dispatched", report)
    services.notify([admin], "emergency", other, urgent=True)
    services.acknowledge_for_report(report)
    state = {(n.report_id, n.kind): n.acknowledged_at is not None for n in notifications_of(admin)}
    assert state == {(report.id, "emergency"): True, (report.id, "dispatched"): False, (other.id, "emergency"): False}


def test_staff_selects_active_people_by_role_department_and_head(ctx):
    department, other = make_department(), make_department()
    head = make_staff(Role.DEPARTMENT, department, head=True)
    worker = make_staff(Role.DEPARTMENT, department)
    make_staff(Role.DEPARTMENT, department, head=True, active=False)
    make_staff(Role.DEPARTMENT, other, head=True)
    reviewer, admin = make_staff(Role.REVIEWER), make_staff(Role.ADMIN)
    make_user()
    assert set(services.staff(Role.DEPARTMENT, department_id=department.id)) == {head, worker}
    assert services.staff(Role.DEPARTMENT, department_id=department.id, heads_only=True) == [head]
    assert set(services.staff(Role.REVIEWER, Role.ADMIN)) == {reviewer, admin}


POINTS_KINDS = {"points_expiring": {"points": 120, "date": "2027-12-31"}, "points_awarded": {"points": 5, "what": "x"}}
# Feedback on the platform (意见反馈) is not about a report: its messages name the feedback's reference.
FEEDBACK_KINDS = ("feedback_reply", "feedback_adopted")
# Community activities: their messages name the activity, its time and place.
ACTIVITY_KINDS = ("activity_reminder", "activity_place", "activity_cancelled")


@pytest.mark.parametrize("kind", FEEDBACK_KINDS)
def test_feedback_messages_render_without_a_report(ctx, kind):
    [notification] = services.notify([make_user()], kind, ref="YJ000042", feedback=42)
    for locale in ("en", "zh_Hans_CN"):
        with force_locale(locale):
            text = services.text(notification)
        assert "YJ000042" in text and "%(" not in text


NOT_ABOUT_A_REPORT = {*POINTS_KINDS, *FEEDBACK_KINDS, *ACTIVITY_KINDS}


@pytest.mark.parametrize("kind", sorted(set(services.MESSAGES) - NOT_ABOUT_A_REPORT))
def test_every_message_kind_renders_with_a_report(ctx, kind):
    report = make_case(address="某地")
    [notification] = services.notify([make_user()], kind, report, status="closed", place=report.address)
    for locale in ("en", "zh_Hans_CN"):
        with force_locale(locale):
            text = services.text(notification)
        assert f"#{report.id}" in text and "%(" not in text


@pytest.mark.parametrize("kind", ACTIVITY_KINDS)
def test_activity_messages_render_without_a_report(ctx, kind):
    when = "2026-12-07 09:00"
    [notification] = services.notify([make_user()], kind, title="普法宣传", when=when, place="广场")
    for locale in ("en", "zh_Hans_CN"):
        with force_locale(locale):
            text = services.text(notification)
        assert "普法宣传" in text and when in text and "%(" not in text


@pytest.mark.parametrize("kind", sorted(POINTS_KINDS))
def test_points_messages_render_without_a_report(ctx, kind):
    [notification] = services.notify([make_user()], kind, **POINTS_KINDS[kind])
    for locale in ("en", "zh_Hans_CN"):
        with force_locale(locale):
            text = services.text(notification)
        assert str(POINTS_KINDS[kind]["points"]) in text and "%(" not in text


def test_the_centre_groups_news_per_report_and_counts_reports(ctx):
    alice = make_user()
    first, second = make_case(), make_case()
    for status in ("accepted", "dispatched", "signed", "in_progress"):
        services.notify([alice], "status", first, status=status)
    services.notify([alice], "status", second, status="accepted")
    services.notify([alice], "points_expiring", points=5, date="2026-12-31")
    entries = services.grouped(alice)
    assert [(e.latest.report_id, e.count) for e in entries] == [(None, 1), (second.id, 1), (first.id, 4)]
    assert entries[2].latest.params["status"] == "in_progress" and entries[2].unread
    assert services.unread_entries(alice) == 3 and services.unread_count(alice) == 6
    services.mark_all_read(alice)
    assert services.unread_entries(alice) == 0 and not any(e.unread for e in services.grouped(alice))


def test_only_when_fixed_or_needs_me(ctx):
    from webapp.reports.models import ReportEvent
    from webapp.reports.status import ReportStatus

    quiet, chatty = make_user(), make_user()
    quiet.notify_only_important = True
    report = make_case(quiet)
    for step in (ReportStatus.ACCEPTED, ReportStatus.DISPATCHED, ReportStatus.CLOSED):
        event = ReportEvent(action="x", actor_role="system", from_status=None, to_status=step)
        services.status_changed(report, event)
        services.notify([chatty], "status", report, status=step.value)
    assert [n.params["status"] for n in services.recent(quiet)] == ["closed"]
    assert len(services.recent(chatty)) == 3


def test_the_badge_comes_with_the_user_and_is_read_again_after_a_change(ctx):
    """The layout's badge is read in the statement that loads the session's user; a notification made or read
    later in the same request makes it read afresh; it is never another user's figure."""
    alice, bob = make_user(), make_user()
    alice_token, bob_token = sessions.start(alice), sessions.start(bob)
    services.notify([alice], "points_expiring", points=5, date="2026-12-31")
    services.notify([alice, bob], "feedback_reply", ref="F1")
    assert sessions.load(f"{alice.id}:{alice_token}") is alice
    with count_queries() as sent:
        assert services.badge(alice) == 2
    assert sent == []
    with count_queries() as sent:
        assert services.badge(bob) == 1  # not loaded in this request: read from the database
    assert len(sent) == 1
    services.notify([alice], "feedback_reply", ref="F2")
    assert services.badge(alice) == 3
    assert sessions.load(f"{alice.id}:{alice_token}") is alice
    services.mark_all_read(alice)
    assert services.badge(alice) == 0
    assert sessions.load(f"{bob.id}:{bob_token}") is bob
    assert services.badge(bob) == 1 and sessions.loaded_with(alice, services.BADGE) is None
