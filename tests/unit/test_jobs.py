"""Background jobs (webapp.jobs, Huey): queued after commit, retried with backoff, coalesced, safe to run twice, and
a real worker process that takes them from an SQLite queue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from huey.storage import SqliteStorage

from tests.factories import make_user
from tests.unit.cases import make_case, make_department, make_staff
from webapp.accounts.models import Role
from webapp.accounts.sms import SmsMessage, queue_sms
from webapp.analytics import rollup
from webapp.analytics.models import analytics_daily, analytics_pending
from webapp.db import db, utcnow
from webapp.jobs import huey, make_storage, queue_state, tasks
from webapp.monitoring import recorder
from webapp.reports.models import ReportEvent
from webapp.reports.status import ReportStatus as S

pytestmark = pytest.mark.commits  # jobs and the error recorder use their own connections

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def queued():
    """Jobs are queued (as with a worker) instead of run at once, for this block."""
    huey.immediate = False
    try:
        yield
    finally:
        huey.immediate = True


def run_scheduled() -> int:
    """Run every scheduled job (retries, delayed refreshes) as the worker would when their time comes."""
    far = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    ran = 0
    for task in huey.read_schedule(far):
        huey.execute(task, timestamp=task.eta)
        ran += 1
    return ran


def run_queue() -> int:
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


# --- Text messages ------------------------------------------------------------------------------------------------


class FlakySender:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[SmsMessage] = []

    def send(self, message: SmsMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("gateway down")
        self.sent.append(message)


@pytest.fixture
def flaky(app, monkeypatch):  # type: ignore[no-untyped-def]
    def install(failures: int) -> FlakySender:
        sender = FlakySender(failures)
        monkeypatch.setitem(app.extensions, "sms", sender)
        return sender

    return install


def test_an_sms_is_retried_with_backoff_until_it_is_sent(ctx, flaky):
    sender = flaky(2)
    queue_sms(SmsMessage("13900001111", "【全民网格】hello"))
    db.session.commit()  # the first try runs right after the commit (immediate mode) and fails
    assert sender.sent == []
    [retry] = huey.scheduled()
    assert retry.retries == tasks.SMS_RETRIES - 1 and retry.retry_delay == tasks.SMS_FIRST_RETRY_SECONDS * 2
    first_eta = retry.eta
    assert run_scheduled() == 1  # the second try fails too, and waits twice as long
    [retry] = huey.scheduled()
    assert retry.retry_delay == tasks.SMS_FIRST_RETRY_SECONDS * 4 and retry.eta > first_eta
    assert run_scheduled() == 1
    assert [m.phone for m in sender.sent] == ["13900001111"] and huey.scheduled() == []
    details = sorted(event.detail for event in recorder.recent("sms_failed"))
    assert details == [
        "139****1111 ConnectionError (try 1 of 7, will retry)",
        "139****1111 ConnectionError (try 2 of 7, will retry)",
    ]


def test_an_sms_that_never_goes_through_is_given_up_and_shown(ctx, flaky):
    sender = flaky(100)
    queue_sms(SmsMessage("13900002222", "【全民网格】hello"))
    db.session.commit()
    while run_scheduled():
        pass
    assert sender.sent == []
    events = recorder.recent("sms_failed", limit=20)
    assert len(events) == tasks.SMS_RETRIES + 1
    assert events[0].detail == "139****2222 ConnectionError (try 7 of 7, gave up)"


def test_an_sms_job_run_twice_sends_once(ctx, flaky):
    sender = flaky(0)
    with queued():
        queue_sms(SmsMessage("13900003333", "【全民网格】hello"))
        db.session.commit()
        [job] = huey.pending()
        huey.execute(job)
        huey.execute(job)  # e.g. a worker died after sending, before the queue heard of it
    assert [m.phone for m in sender.sent] == ["13900003333"]


def test_no_sms_job_for_a_change_that_is_rolled_back(ctx, flaky):
    sender = flaky(0)
    with queued():
        make_user()
        queue_sms(SmsMessage("13900004444", "【全民网格】hello"))
        db.session.rollback()
        assert huey.pending_count() == 0
    assert sender.sent == []


# --- The dashboard's roll-up --------------------------------------------------------------------------------------


def daily_reports() -> int:
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(analytics_daily.c.reports), 0))))


def pending_rows() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(analytics_pending)))


def test_the_roll_up_is_refreshed_after_commit_by_one_coalesced_job(ctx):
    with queued():
        make_case()
        db.session.commit()
        make_case()
        db.session.commit()
        # Counted after the commit, not in it: the writers only noted their reports.
        assert pending_rows() == 2 and daily_reports() == 0
        assert rollup.freshness().waiting == 2 and not rollup.freshness().current
        assert huey.pending_count() == 1  # one refresh for the burst, due 10 seconds later
        run_queue()  # the worker takes it, sees it is not due yet and schedules it
        assert run_scheduled() == 1
    db.session.rollback()  # see what the job committed
    assert daily_reports() == 2 and pending_rows() == 0 and rollup.freshness().current
    before = db.session.execute(sa.select(analytics_daily)).all()
    assert tasks.refresh_rollup.call_local() == 0  # run again: nothing left, nothing changes
    assert tasks.sweep_rollup.call_local() == 0
    assert db.session.execute(sa.select(analytics_daily)).all() == before


def test_without_a_worker_the_refresh_stays_inside_the_commit(ctx):
    # Immediate mode (the demo): no queue to defer to, so the writer refreshes as before.
    make_case()
    db.session.flush()
    assert pending_rows() == 0
    db.session.commit()
    assert daily_reports() == 1 and pending_rows() == 0


def test_a_rolled_back_change_leaves_nothing_to_count(ctx):
    with queued():
        make_case()
        db.session.rollback()
        assert pending_rows() == 0 and huey.pending_count() == 0


def test_the_sweep_counts_what_a_lost_job_left_behind(ctx):
    with queued():
        make_case()
        db.session.commit()
        huey.flush()  # the queued refresh is lost (e.g. Redis restarted without persistence)
        huey.put(rollup.QUEUED_FLAG, "1")  # and its flag is stuck
        assert tasks.sweep_rollup.call_local() == 1
    db.session.rollback()
    assert daily_reports() == 1 and pending_rows() == 0


def test_inline_mode_refreshes_inside_the_commit(app, ctx):
    app.config["ANALYTICS_ROLLUP_INLINE"] = True
    try:
        with queued():
            make_case()
            db.session.commit()
            assert daily_reports() == 1 and pending_rows() == 0 and huey.pending_count() == 0
    finally:
        app.config["ANALYTICS_ROLLUP_INLINE"] = False


def test_the_dashboard_says_how_fresh_it_is(app, ctx):
    from flask import render_template

    with queued():
        make_case()
        db.session.commit()
        behind = render_template("analytics/_panels.html", **_panels_context())
    assert 'data-waiting="1"' in behind
    run_queue()
    run_scheduled()
    db.session.rollback()
    current = render_template("analytics/_panels.html", **_panels_context())
    assert 'data-waiting="0"' in current


def _panels_context():  # type: ignore[no-untyped-def]
    from webapp.analytics import queries
    from webapp.analytics.views import _form_context

    return _form_context(queries.parse_filters({}))


# --- Periodic jobs ------------------------------------------------------------------------------------------------


def test_escalate_overdue_twice_escalates_once(app, ctx):
    department = make_department()
    make_staff(Role.DEPARTMENT, department, head=True)
    now = utcnow()
    case = make_case(
        status=S.DISPATCHED, department_id=department.id, dispatched_at=now - timedelta(days=2), due_at=now
    )
    db.session.commit()
    assert tasks.escalate_overdue.call_local() == 1
    assert tasks.escalate_overdue.call_local() == 0
    db.session.rollback()
    actions = db.session.scalars(sa.select(ReportEvent.action).where(ReportEvent.report_id == case.id)).all()
    assert actions.count("escalate") == 1, actions


def test_expire_points_twice_expires_once(ctx):
    assert tasks.expire_points.call_local() == (0, 0)
    assert tasks.expire_points.call_local() == (0, 0)


def test_a_periodic_report_is_archived_once(app, ctx):
    written = tasks._archive_report("weekly", "2026-W48")
    assert written == ["periodic-reports/weekly/2026-W48.csv", "periodic-reports/weekly/2026-W48.html"]
    storage = app.extensions["storage"]
    assert storage.open(written[0]).startswith("\ufeff".encode())
    assert b"2026-W48" in storage.open(written[1])
    assert tasks._archive_report("weekly", "2026-W48") == []


def test_the_schedule_reads_the_city_clock():
    # 02:00 in Beijing is 18:00 UTC the day before; the queue's clock is UTC.
    assert tasks.expire_points.s().validate_datetime(datetime(2026, 12, 6, 18, 0))
    assert not tasks.expire_points.s().validate_datetime(datetime(2026, 12, 6, 2, 0))
    assert tasks.weekly_report.s().validate_datetime(datetime(2026, 12, 6, 22, 0))  # Monday 06:00 in Beijing
    assert tasks.escalate_overdue.s().validate_datetime(datetime(2026, 12, 6, 2, 5))
    assert not tasks.escalate_overdue.s().validate_datetime(datetime(2026, 12, 6, 2, 6))


# --- The queue's storage and a real worker ------------------------------------------------------------------------


def test_queue_urls(tmp_path):
    assert type(make_storage("memory://")).__name__ == "MemoryStorage"
    sqlite = make_storage(f"sqlite:///{tmp_path / 'q' / 'jobs.sqlite3'}")
    assert isinstance(sqlite, SqliteStorage) and (tmp_path / "q" / "jobs.sqlite3").exists()
    assert type(make_storage("redis://127.0.0.1:6379/2")).__name__ == "RedisExpireStorage"
    with pytest.raises(ValueError, match="HUEY_URL"):
        make_storage("amqp://127.0.0.1")


def test_queue_state_for_readyz(app, ctx):
    assert queue_state() == {"backend": "memory", "immediate": True, "pending": 0, "scheduled": 0}


def test_make_worker_runs_queued_jobs_from_an_sqlite_queue(app, ctx, tmp_path):
    queue_file = tmp_path / "jobs.sqlite3"
    memory = huey.storage
    huey.storage = SqliteStorage(huey.name, filename=str(queue_file))
    try:
        with queued():
            tasks.send_sms({"phone": "13900005555", "text": "【全民网格】from the queue"}, "job-1")
            assert huey.pending_count() == 1
    finally:
        huey.storage = memory
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUEY_", "SMS_", "FLASK_"))}
    env.update(
        HUEY_URL=f"sqlite:///{queue_file}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        UPLOAD_DIR=str(tmp_path / "uploads"),
        SECRET_KEY="w" * 64,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "webapp", "worker", "--threads", "1", "--no-periodic"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(600):  # the worker polls the queue; up to a minute on a busy machine
            if SqliteStorage(huey.name, filename=str(queue_file)).queue_size() == 0:
                break
            time.sleep(0.1)
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert "to 13900005555: 【全民网格】from the queue" in output, output
    assert worker.returncode == 0, output
