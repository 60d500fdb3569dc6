"""Activities: organising (audited), sign-up with a waiting list, reminders, the calendar file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_user
from webapp.accounts.models import Department, Role
from webapp.activities import checkin, services
from webapp.activities.models import ActivityEvent, ActivityKind, SignupStatus
from webapp.db import db, utcnow
from webapp.notifications.models import Notification
from webapp.points import ledger


@pytest.fixture(autouse=True)
def _english(ctx):  # type: ignore[no-untyped-def]
    """Messages are matched in English (the default language is Chinese)."""
    with force_locale("en"):
        yield


def data(**overrides):  # type: ignore[no-untyped-def]
    start = overrides.pop("starts_at", utcnow() + timedelta(days=2))
    values = {
        "kind": ActivityKind.GARBAGE_SORTING,
        "title": "垃圾分类指导日",
        "description": "在小区门口指导垃圾分类",
        "address": "兴华街道 和平南路 12 号",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "capacity": 2,
    }
    values.update(overrides)
    return services.ActivityData(**values)


def organiser():  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


def test_only_admins_and_organiser_departments_organise():
    plain = Department(code="HW", name_zh="环卫中心")
    organising = Department(code="JD", name_zh="兴华街道", organiser=True)
    db.session.add_all([plain, organising])
    db.session.flush()
    staff = make_user(Role.DEPARTMENT)
    staff.department = plain
    community = make_user(Role.DEPARTMENT)
    community.department = organising
    assert services.is_organiser(make_user(Role.ADMIN))
    assert services.is_organiser(community)
    assert not services.is_organiser(staff)
    assert not services.is_organiser(make_user(Role.CITIZEN))
    with pytest.raises(services.ActivityError):
        services.create_activity(staff, data())
    activity = services.create_activity(community, data())
    assert activity.department_id == organising.id
    assert services.may_manage(community, activity) and not services.may_manage(staff, activity)


def test_bad_fields_are_refused_with_messages():
    admin = organiser()
    start = utcnow() + timedelta(days=1)
    with pytest.raises(services.ActivityInvalid) as error:
        services.create_activity(
            admin,
            data(title=" ", address="", starts_at=start, ends_at=start - timedelta(hours=1), capacity=0, lat=37.0),
        )
    assert set(error.value.errors) >= {"title", "address", "ends_at", "capacity", "lat"}
    with pytest.raises(services.ActivityInvalid) as error:
        services.create_activity(admin, data(starts_at=utcnow() - timedelta(hours=1)))
    assert "starts_at" in error.value.errors
    with pytest.raises(services.ActivityInvalid) as error:
        services.create_activity(admin, data(checkin_radius_m=100))
    assert "checkin_radius_m" in error.value.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent)) == 0


def test_waiting_list_fills_in_order_and_tells_the_resident():
    activity = services.create_activity(organiser(), data(capacity=1))
    first, second, third = make_user(), make_user(), make_user()
    assert services.sign_up(first, activity).status is SignupStatus.CONFIRMED
    assert services.sign_up(second, activity).status is SignupStatus.WAITING
    later = services.sign_up(third, activity, now=utcnow() + timedelta(seconds=1))
    assert services.waiting_position(later) == 2
    with pytest.raises(services.ActivityError, match="already"):
        services.sign_up(second, activity)
    services.cancel_signup(first, activity)
    assert services.signup_of(second, activity).status is SignupStatus.CONFIRMED
    assert services.signup_of(third, activity).status is SignupStatus.WAITING
    assert services.waiting_position(services.signup_of(third, activity)) == 1
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == second.id))
    assert note is not None and note.kind == "activity_place"
    with pytest.raises(services.ActivityError):
        services.cancel_signup(first, activity)  # already cancelled


def test_sign_up_window_and_cancelled_activity():
    start = utcnow() + timedelta(days=3)
    activity = services.create_activity(
        organiser(), data(starts_at=start, signup_opens_at=utcnow() + timedelta(days=1))
    )
    with pytest.raises(services.ActivityError, match="opens"):
        services.sign_up(make_user(), activity)
    assert services.sign_up(make_user(), activity, now=utcnow() + timedelta(days=2)).status is SignupStatus.CONFIRMED
    with pytest.raises(services.ActivityError, match="closed"):
        services.sign_up(make_user(), activity, now=start + timedelta(minutes=1))


def test_edits_are_audited_and_paid_points_stay_paid(app):
    admin = organiser()
    start = utcnow() + timedelta(minutes=10)
    activity = services.create_activity(admin, data(starts_at=start, kind=ActivityKind.VOLUNTEER_DAY))
    resident = make_user()
    outcome = checkin.resident_scan(
        resident, activity, checkin.token_for(activity.id, checkin.window_of(utcnow())), at=utcnow()
    )
    assert outcome.points == 10
    changes = services.update_activity(
        admin, activity, data(starts_at=start, kind=ActivityKind.OTHER, title="改名", capacity=5)
    )
    assert set(changes) == {"kind", "title", "capacity"}
    event = db.session.scalars(sa.select(ActivityEvent).where(ActivityEvent.action == "edited")).one()
    assert event.details["checked_in"] == 1 and event.details["changes"]["kind"] == ["volunteer_day", "other"]
    assert ledger.balance_of(resident) == 10
    assert ledger.unbalanced_transactions() == []
    with pytest.raises(services.ActivityInvalid):  # fewer places than people with a place
        services.sign_up(make_user(), activity)
        services.sign_up(make_user(), activity)
        services.update_activity(admin, activity, data(starts_at=start, capacity=1))
    event.action = "tampered"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()


def test_reminders_the_day_before_once_with_sms_if_opted_in(app):
    admin = organiser()
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)  # 18:00 in Beijing
    tomorrow = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    activity = services.create_activity(admin, data(starts_at=tomorrow), now=now - timedelta(days=1))
    later = services.create_activity(admin, data(starts_at=tomorrow + timedelta(days=2)), now=now - timedelta(days=1))
    texted, quiet = make_user(), make_user()
    texted.notify_by_sms = True
    for person in (texted, quiet):
        services.sign_up(person, activity, now=now)
        services.sign_up(person, later, now=now)
    app.extensions["sms"].sent.clear()
    assert services.send_reminders(now=now) == 2
    assert services.send_reminders(now=now) == 0
    db.session.commit()  # text messages leave only after the commit
    kinds = db.session.scalars(sa.select(Notification.kind)).all()
    assert kinds.count("activity_reminder") == 2
    sent = app.extensions["sms"].sent
    assert len(sent) == 1 and sent[0].phone == texted.phone


def test_ics_file_is_valid_and_escaped():
    start = datetime(2030, 5, 1, 1, 0, tzinfo=UTC)
    activity = services.create_activity(
        organiser(), data(starts_at=start, title="普法, 宣传; 日", lat=37.86, lon=112.52)
    )
    text = services.ics(activity, url="http://x/activities/1", host="x", now=start)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and "END:VCALENDAR" in lines
    assert "DTSTART:20300501T010000Z" in lines and "DTEND:20300501T030000Z" in lines
    assert "SUMMARY:普法\\, 宣传\\; 日" in lines
    assert all(len(line.encode()) <= 75 for line in lines)


def test_no_show_streaks():
    admin = organiser()
    resident, regular = make_user(), make_user()
    base = utcnow() + timedelta(days=1)
    activities = [services.create_activity(admin, data(starts_at=base + timedelta(days=n))) for n in range(4)]
    for activity in activities:
        services.sign_up(resident, activity)
        services.sign_up(regular, activity)
    # The regular came to the last one; the resident came to none.
    last = activities[-1]
    checkin._check_in(last, regular, at=last.starts_at, method=checkin.CheckinMethod.ORGANISER)
    after = base + timedelta(days=10)
    streaks = services.no_show_streaks([resident.id, regular.id], now=after)
    assert streaks == {resident.id: 4}
    assert services.no_shows(last, now=after) == 1
    json.dumps(streaks)


def test_demo_has_two_upcoming_and_one_past_activity(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    upcoming = services.listing()
    assert len(upcoming) == 2 and len(services.past()) == 1
    past = services.past()[0]
    assert len(checkin.attendance(past)) == 1 and ledger.unbalanced_transactions() == []
    result = runner.invoke(args=["send-activity-reminders"])
    assert result.exit_code == 0 and "2 reminder" in result.output
