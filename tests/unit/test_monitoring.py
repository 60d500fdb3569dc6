"""Monitoring: the error recorder (database and process counters), the health checks and participation per day
against a small hand-made dataset."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_report, make_user
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.feedback.platform import services as platform
from webapp.monitoring import recorder, services
from webapp.monitoring.models import ErrorEvent

pytestmark = pytest.mark.commits  # the error recorder writes on its own connection; threads


def events() -> list[ErrorEvent]:
    return list(db.session.scalars(sa.select(ErrorEvent).order_by(ErrorEvent.id)))


# --- The recorder ---------------------------------------------------------------------------------------------------


def test_an_error_is_counted_in_the_database_and_in_the_process(ctx):
    db.session.rollback()  # outside a transaction the row is written at once
    before = recorder.counters.snapshot()
    recorder.record("exception", status=500, path="/reports/1", detail="RuntimeError")
    after = recorder.counters.snapshot()
    assert after["exception"] == before["exception"] + 1
    [row] = events()
    assert (row.kind, row.status, row.path, row.detail) == ("exception", 500, "/reports/1", "RuntimeError")
    assert recorder.counts_since(utcnow() - timedelta(hours=24)) == {"http_5xx": 0, "exception": 1, "sms_failed": 0}


def test_inside_a_transaction_the_row_waits_for_its_end_even_a_rollback(ctx):
    make_user()  # the session is writing
    recorder.record("sms_failed", detail="139****0000 TimeoutError")
    db.session.rollback()
    assert [e.kind for e in events()] == ["sms_failed"]


def test_a_database_that_fails_does_not_break_the_error_handler(ctx, monkeypatch):
    db.session.rollback()

    def broken():  # type: ignore[no-untyped-def]
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(type(db.engine), "begin", lambda self: broken())
    before = recorder.counters.snapshot()
    recorder.record("http_5xx", status=503, path="/healthz")
    after = recorder.counters.snapshot()
    assert after["http_5xx"] == before["http_5xx"] + 1
    assert after["unrecorded"] == before["unrecorded"] + 1


def test_the_process_counter_is_thread_safe():
    counters = recorder._ProcessCounters()

    def hammer() -> None:
        for _ in range(2000):
            counters.add("http_5xx")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.snapshot()["http_5xx"] == 16000


def test_old_rows_are_pruned_and_the_window_is_24_hours(ctx):
    db.session.rollback()
    now = utcnow()
    db.session.add_all(
        [
            ErrorEvent(at=now - timedelta(days=40), kind="exception"),
            ErrorEvent(at=now - timedelta(hours=25), kind="exception"),
            ErrorEvent(at=now - timedelta(hours=1), kind="http_5xx", status=502),
        ]
    )
    db.session.commit()
    recorder.counters._last_prune = None
    recorder.record("http_5xx", status=500)
    assert recorder.counts_since(now - timedelta(hours=24)) == {"http_5xx": 2, "exception": 0, "sms_failed": 0}
    assert len(events()) == 3  # the 40-day-old row is gone
    assert [e.status for e in recorder.recent(limit=2)] == [500, 502]


# --- Health -----------------------------------------------------------------------------------------------------------


def test_the_database_check_names_the_revision(ctx):
    check = services.check_database()
    assert check.ok and check.details["reachable"] and check.details["up_to_date"]
    assert check.details["revision"] == check.details["head"]
    assert check.details["latency_ms"] >= 0


def test_a_database_that_cannot_be_reached_is_a_problem(ctx, monkeypatch):
    monkeypatch.setattr(services, "ping_database", lambda: None)
    check = services.check_database()
    assert not check.ok and check.details["reachable"] is False


def test_the_storage_check_writes_and_removes_a_probe(ctx, storage):
    check = services.check_storage()
    assert check.ok and check.details["writable"] and check.details["free_bytes"] > 0
    assert not list(storage.root.rglob("*.probe"))


def test_a_storage_that_fails_is_a_problem(ctx, storage, monkeypatch):
    def refuse(key: str, data: bytes) -> bool:
        raise PermissionError(key)

    monkeypatch.setattr(storage, "put", refuse)
    check = services.check_storage()
    assert not check.ok and check.details == {"backend": "local", "writable": False, "error": "PermissionError"}


def test_rate_limits_and_sms_backends_are_named_with_their_caveats(ctx):
    limits = services.check_rate_limits()
    assert limits.ok and limits.details["backend"] == "memory" and limits.warning == "per_process"
    sms = services.check_sms()
    assert sms.ok and sms.details["backend"] == "log" and sms.warning == "development"


# --- Participation ----------------------------------------------------------------------------------------------------


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Beijing time (UTC+8) as a UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_participation_per_local_day(ctx):
    today = date(2026, 11, 20)
    yesterday = today - timedelta(days=1)
    alice, bob = make_user(), make_user(Role.VOLUNTEER)
    reviewer = make_user(Role.REVIEWER)
    alice.created_at = at_local(yesterday, 10)
    bob.created_at = at_local(today, 0, 30)  # 16:30 UTC the day before: still "today" in Beijing
    reviewer.created_at = at_local(today, 9)  # staff are not new residents
    for reporter, moment in (
        (alice, at_local(yesterday, 23, 30)),
        (alice, at_local(today, 8)),
        (alice, at_local(today, 9)),
        (bob, at_local(today, 0, 10)),
        (reviewer, at_local(today, 11)),
        (alice, at_local(today - timedelta(days=30), 12)),  # outside the 30 days
    ):
        report = make_report(reporter)
        report.created_at = moment
    feedback, _created = platform.submit(
        bob, platform.NewFeedback(kind="other", text="好", reply_via="none"), storage=None
    )
    feedback.created_at = at_local(yesterday, 12)
    db.session.flush()

    result = services.participation(days=30, today=today)
    assert len(result.days) == 30 and result.days[0].day == today - timedelta(days=29)
    by_day = {row.day: (row.reports, row.registrations, row.active) for row in result.days}
    assert by_day[today] == (4, 1, 2)  # alice twice, bob, the reviewer; bob registered; alice and bob active
    assert by_day[yesterday] == (1, 1, 2)  # alice at 23:30; alice registered; alice reported, bob sent feedback
    assert sum(r for r, _n, _a in by_day.values()) == 5 and result.totals == {"reports": 5, "registrations": 2}
    assert result.active_total == 2


def test_the_chart_scales_to_a_round_number():
    assert [services.nice_ceiling(n) for n in (0, 1, 3, 6, 10, 11, 40, 101)] == [1, 1, 5, 10, 10, 20, 50, 200]
    days = [services.DayRow(date(2026, 11, d), reports=d, registrations=1, active=2) for d in range(1, 4)]
    chart = services.chart(services.Participation(days, 2), width=240, height=130)
    assert chart.maximum == 5
    assert chart.lines["reports"] == "40.0,82.0 135.0,64.0 230.0,46.0"  # plot 190×90 px from (40, 10)
    assert [value for _y, value in chart.y_ticks] == [0, 2, 5]


@pytest.mark.parametrize("path", ["/reports", "/feedback"])
def test_a_crash_is_counted_as_an_exception_and_a_5xx(app, client, monkeypatch, path):
    from webapp.feedback.platform import views as platform_views
    from webapp.reports import services as reports

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(reports, "public_reports", crash)
    monkeypatch.setattr(platform_views, "_form_page", crash)
    monkeypatch.setattr(app, "testing", False)  # the real error page instead of the traceback
    before = recorder.counters.snapshot()
    response = client.get(path)
    assert response.status_code == 500
    after = recorder.counters.snapshot()
    assert (after["exception"] - before["exception"], after["http_5xx"] - before["http_5xx"]) == (1, 1)
    with app.app_context():
        assert sorted((e.kind, e.path) for e in events()) == [("exception", path), ("http_5xx", path)]
        assert [e.detail for e in events() if e.kind == "exception"] == ["RuntimeError"]
