"""Check-in: rotating signed codes, offline scans, the organiser's side, check-out hours and points."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_user
from webapp.accounts.models import Role
from webapp.activities import checkin, services
from webapp.activities.checkin import CheckinError
from webapp.activities.models import ActivityKind, Checkin
from webapp.db import db, utcnow
from webapp.points import fund, ledger, rules
from webapp.points.models import LedgerTransaction


@pytest.fixture(autouse=True)
def _english(ctx):  # type: ignore[no-untyped-def]
    """Messages are matched in English (the default language is Chinese)."""
    with force_locale("en"):
        yield


def make_activity(start=None, **overrides):  # type: ignore[no-untyped-def]
    start = start or utcnow() + timedelta(minutes=5)
    values = {
        "kind": ActivityKind.GARBAGE_SORTING,
        "title": "垃圾分类指导",
        "description": "",
        "address": "兴华街道",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "capacity": 10,
    }
    values.update(overrides)
    admin = make_user(Role.ADMIN)
    return services.create_activity(admin, services.ActivityData(**values), now=start - timedelta(days=1)), admin


def code_at(activity, moment):  # type: ignore[no-untyped-def]
    return checkin.token_for(activity.id, checkin.window_of(moment))


def test_code_in_its_window_checks_in_and_pays_once():
    activity, _admin = make_activity()
    resident = make_user()
    now = utcnow()
    outcome = checkin.resident_scan(resident, activity, code_at(activity, now), at=now)
    assert (
        outcome.action == "checked_in" and outcome.points == rules.DEFAULT_SETTINGS["activity_garbage_sorting_points"]
    )
    again = checkin.resident_scan(
        resident, activity, code_at(activity, now + timedelta(seconds=40)), at=now + timedelta(seconds=40)
    )
    assert again.action == "already" and again.points == 0
    keys = db.session.scalars(sa.select(LedgerTransaction.business_key)).all()
    assert keys == [f"award:activity:{activity.id}:{resident.id}"]
    assert ledger.balance_of(resident) == 5
    assert ledger.unbalanced_transactions() == []


def test_expired_forged_and_other_activity_codes_are_refused():
    activity, _admin = make_activity()
    other, _ = make_activity()
    resident = make_user()
    now = utcnow()
    old = code_at(activity, now - timedelta(seconds=90))
    with pytest.raises(CheckinError) as error:
        checkin.resident_scan(resident, activity, old, at=now)
    assert error.value.code == "token_expired"
    forged = code_at(activity, now)[:-2] + ("AA" if not code_at(activity, now).endswith("AA") else "BB")
    for bad in (forged, code_at(other, now), "", "123", "9" * 30):
        with pytest.raises(CheckinError) as error:
            checkin.resident_scan(resident, activity, bad, at=now)
        assert error.value.code == "checkin_refused"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 0


def test_check_in_too_early_or_after_the_end():
    start = utcnow() + timedelta(hours=3)
    activity, _ = make_activity(start)
    resident = make_user()
    now = utcnow()
    with pytest.raises(CheckinError) as error:
        checkin.resident_scan(resident, activity, code_at(activity, now), at=now)
    assert error.value.code == "too_early"
    late = activity.ends_at + timedelta(minutes=1)
    with pytest.raises(CheckinError) as error:
        checkin.resident_scan(resident, activity, code_at(activity, late), at=late)
    assert error.value.code == "too_late"


def test_offline_scan_is_accepted_later_exactly_once():
    activity, _ = make_activity()
    resident = make_user()
    scanned = utcnow()
    client_id = str(uuid.uuid4())
    token = code_at(activity, scanned)
    sent = scanned + timedelta(hours=1)  # the network came back an hour later
    first = checkin.offline_scan(resident, activity, token, client_id=client_id, scanned_at=scanned, now=sent)
    assert first.created and first.checkin.checked_in_at == scanned and first.checkin.method.value == "offline"
    replay = checkin.offline_scan(resident, activity, token, client_id=client_id, scanned_at=scanned, now=sent)
    assert not replay.created and replay.checkin.id == first.checkin.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 1
    assert ledger.balance_of(resident) == 5
    with pytest.raises(CheckinError):  # the same outbox item sent by someone else
        checkin.offline_scan(make_user(), activity, token, client_id=client_id, scanned_at=scanned, now=sent)


def test_offline_scan_times_must_be_plausible():
    activity, _ = make_activity()
    resident = make_user()
    now = utcnow()
    future = now + timedelta(minutes=10)
    with pytest.raises(CheckinError, match="future"):
        checkin.offline_scan(
            resident, activity, code_at(activity, future), client_id=str(uuid.uuid4()), scanned_at=future, now=now
        )
    with pytest.raises(CheckinError, match="old"):
        checkin.offline_scan(
            resident,
            activity,
            code_at(activity, now),
            client_id=str(uuid.uuid4()),
            scanned_at=now,
            now=now + timedelta(days=4),
        )
    # A code photographed at the venue and "scanned" at home later: its window does not contain the claimed time.
    with pytest.raises(CheckinError) as error:
        checkin.offline_scan(
            resident,
            activity,
            code_at(activity, now),
            client_id=str(uuid.uuid4()),
            scanned_at=now + timedelta(minutes=5),
            now=now + timedelta(minutes=6),
        )
    assert error.value.code == "token_expired"


def test_check_out_hours_capped_and_points_after_minimum_stay():
    start = utcnow() - timedelta(minutes=20)
    activity, admin = make_activity(start, kind=ActivityKind.VOLUNTEER_DAY, min_stay_minutes=60)
    stays, leaves_early = make_user(), make_user()
    t0 = utcnow()
    assert checkin.resident_scan(stays, activity, code_at(activity, t0), at=t0).points == 0
    assert checkin.resident_scan(leaves_early, activity, code_at(activity, t0), at=t0).points == 0
    short = t0 + timedelta(minutes=30)
    out = checkin.resident_scan(leaves_early, activity, code_at(activity, short), at=short)
    assert out.action == "checked_out" and out.checkin.minutes == 30 and out.points == 0
    # Checked out by the organiser long after the end: hours are capped at the activity's length (120 minutes).
    late = activity.ends_at + timedelta(minutes=50)
    person, out = checkin.organiser_check(admin, activity, stays.phone, action="out", now=late)
    assert person.id == stays.id and out.checkin.minutes == 120 and out.points == 10
    assert ledger.balance_of(stays) == 10 and ledger.balance_of(leaves_early) == 0


def test_organiser_checks_in_by_phone_or_personal_code():
    activity, admin = make_activity()
    by_phone, by_code = make_user(), make_user()
    person, outcome = checkin.organiser_check(
        admin, activity, f"{by_phone.phone[:3]} {by_phone.phone[3:7]} {by_phone.phone[7:]}"
    )
    assert person.id == by_phone.id and outcome.action == "checked_in" and outcome.checkin.recorded_by_id == admin.id
    person, outcome = checkin.organiser_check(admin, activity, checkin.personal_code(by_code).lower())
    assert person.id == by_code.id and outcome.points == 5
    with pytest.raises(CheckinError, match="No resident"):
        checkin.organiser_check(admin, activity, checkin.personal_code(by_code)[:-1] + "A")
    with pytest.raises(CheckinError, match="No resident"):
        checkin.organiser_check(admin, activity, "13999999999")
    with pytest.raises(CheckinError):  # a resident cannot check others in
        checkin.organiser_check(by_phone, activity, by_code.phone)
    with pytest.raises(CheckinError, match="no check-out"):
        checkin.organiser_check(admin, activity, by_phone.phone, action="out")


def test_check_out_without_check_in_is_refused():
    activity, admin = make_activity(kind=ActivityKind.VOLUNTEER_DAY, min_stay_minutes=30)
    resident = make_user()
    with pytest.raises(CheckinError, match="not checked in"):
        checkin.organiser_check(admin, activity, resident.phone, action="out")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 0


def test_position_within_the_radius():
    activity, _ = make_activity(lat=37.86, lon=112.52, checkin_radius_m=200)
    resident = make_user()
    now = utcnow()
    with pytest.raises(CheckinError, match="position"):
        checkin.resident_scan(resident, activity, code_at(activity, now), at=now)
    with pytest.raises(CheckinError, match="from the venue"):
        checkin.resident_scan(resident, activity, code_at(activity, now), at=now, position=(37.87, 112.52))
    assert checkin.resident_scan(
        resident, activity, code_at(activity, now), at=now, position=(37.8605, 112.5201)
    ).created


def test_activity_points_count_towards_the_monthly_cap_and_reconcile():
    activity, admin = make_activity()
    resident = make_user()
    new = dict(rules.effective().settings)
    new.update(monthly_points_cap=3)
    rules.publish(new, effective_from=utcnow() - timedelta(minutes=1), admin=admin)
    now = utcnow()
    assert checkin.resident_scan(resident, activity, code_at(activity, now), at=now).points == 3
    assert ledger.balance_of(resident) == 3
    assert ledger.unbalanced_transactions() == []
    report = fund.reconcile(now - timedelta(hours=1))
    assert report.issued == 3 and report.balanced, report.mismatches


def test_seen_stamp_carries_the_scan_time_for_that_code_only():
    activity, _ = make_activity()
    now = utcnow()
    token = code_at(activity, now)
    stamp = checkin.seen_stamp(activity, token, now)
    later = now + timedelta(minutes=3)
    assert checkin.scan_time(activity, token, stamp, later) == now.replace(
        microsecond=checkin.scan_time(activity, token, stamp, later).microsecond
    )
    assert checkin.scan_time(activity, code_at(activity, later), stamp, later) == later
    assert checkin.scan_time(activity, token, stamp + "x", later) == later
