"""Side effects queued with webapp.db.after_commit run once the outermost transaction commits, never after a
rollback; a savepoint that rolls back drops only what was queued inside it."""

from __future__ import annotations

import logging

import pytest

from tests.factories import make_user
from webapp.accounts.sms import SmsMessage, queue_sms
from webapp.db import after_commit, db


def test_runs_after_commit_only(ctx):
    ran: list[str] = []
    make_user()
    after_commit(ran.append, "a")
    db.session.flush()
    assert ran == []
    db.session.commit()
    assert ran == ["a"]
    db.session.commit()  # once
    assert ran == ["a"]


def test_dropped_on_rollback(ctx):
    ran: list[str] = []
    make_user()
    after_commit(ran.append, "lost")
    db.session.rollback()
    db.session.commit()
    assert ran == []


def test_queued_before_any_query_waits_for_the_commit(ctx):
    db.session.commit()
    ran: list[str] = []
    after_commit(ran.append, "x")
    assert ran == []
    db.session.commit()
    assert ran == ["x"]


def test_a_savepoint_rollback_drops_only_its_own_effects(ctx):
    ran: list[str] = []
    make_user()
    after_commit(ran.append, "outer")
    savepoint = db.session.begin_nested()
    after_commit(ran.append, "inner-lost")
    savepoint.rollback()
    with db.session.begin_nested():
        after_commit(ran.append, "inner-kept")
    assert ran == []  # releasing a savepoint is not a commit
    db.session.commit()
    assert ran == ["outer", "inner-kept"]


def test_a_failing_effect_does_not_stop_the_others(ctx, caplog):
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    after_commit(broken)
    after_commit(ran.append, "still")
    with caplog.at_level(logging.ERROR):
        db.session.commit()
    assert ran == ["still"] and "after-commit action failed" in caplog.text


@pytest.mark.commits  # several connections: needs real commits
def test_sms_is_sent_after_commit_and_a_failure_is_recorded(app, ctx, monkeypatch):
    from webapp.monitoring import recorder

    sender = app.extensions["sms"]
    queue_sms(SmsMessage("13900001111", "【全民网格】hello"))
    assert not sender.sent
    db.session.commit()
    assert [m.phone for m in sender.sent] == ["13900001111"]

    def broken(message: SmsMessage) -> None:
        raise ConnectionError("gateway down")

    monkeypatch.setattr(sender, "send", broken)
    queue_sms(SmsMessage("13900002222", "【全民网格】hello"))
    db.session.commit()
    [event] = recorder.recent("sms_failed")
    assert event.detail == "139****2222 ConnectionError (try 1 of 7, will retry)"  # the job retries it
