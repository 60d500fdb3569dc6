"""Two reviewers act on the same case at the same moment: exactly one of them wins, the other is told clearly.

Each reviewer runs in its own thread with its own app context, and so its own session and connection. A barrier
makes both load the case (and see the same version) before either writes. The loser must get ``AlreadyHandled``
(or ``InvalidTransition`` had it loaded after the winner's commit), never another exception, and the audit trail
must show one decision only. On SQLite the writers serialise on the database lock (busy_timeout); on PostgreSQL
the second UPDATE waits on the winner's row lock, then finds the version gone. Each race runs ROUNDS times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import make_report, make_user
from webapp.accounts.models import Department, Role, User
from webapp.db import db
from webapp.handling import services as handling
from webapp.reports.models import Report, ReportEvent, Severity
from webapp.reports.status import ReportStatus
from webapp.review import services, workflow

pytestmark = pytest.mark.commits  # concurrent connections

ROUNDS = 10
THREAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Staff:
    reviewers: tuple[int, int]
    reporter: int
    department: int  # where accepted cases go
    other_department: int  # where a returned case is sent instead
    department_user: int  # works for ``department``


@dataclass
class Outcome:
    reviewer: str
    action: str
    error: BaseException | None = None
    message: str = ""

    @property
    def won(self) -> bool:
        return self.error is None


def _accept(report: Report, reviewer: User, staff: Staff, version: int) -> None:
    department = db.session.get(Department, staff.department)
    services.accept(
        report,
        reviewer,
        category_code=report.category_code,
        severity=Severity.GENERAL,
        department=department,
        note="立案",
        expected_version=version,
    )


def _reject(report: Report, reviewer: User, staff: Staff, version: int) -> None:
    services.reject(report, reviewer, reason="insufficient_info", note="看不清", expected_version=version)


def _redispatch(report: Report, reviewer: User, staff: Staff, version: int) -> None:
    department = db.session.get(Department, staff.other_department)
    assert department is not None
    services.redispatch(report, reviewer, department, "改派", expected_version=version)


ACTIONS: dict[str, Callable[[Report, User, Staff, int], None]] = {
    "accept": _accept,
    "reject": _reject,
    "redispatch": _redispatch,
}


def _reviewer_thread(
    app: Flask, barrier: threading.Barrier, outcome: Outcome, report_id: int, reviewer_id: int, staff: Staff
) -> None:
    """Load, wait for the other reviewer, act, commit; record the outcome instead of raising."""
    try:
        with app.app_context():
            try:
                report = db.session.get(Report, report_id)
                reviewer = db.session.get(User, reviewer_id)
                assert report is not None and reviewer is not None
                version = report.version  # what the reviewer's form carries
                barrier.wait(timeout=THREAD_TIMEOUT_S)
                ACTIONS[outcome.action](report, reviewer, staff, version)
                db.session.commit()
            except BaseException as error:  # recorded and checked by the test, never left to the thread
                db.session.rollback()
                outcome.error = error
                outcome.message = str(error)
            finally:
                db.session.remove()
    except BaseException as error:  # the context itself failed
        outcome.error = outcome.error or error
        outcome.message = outcome.message or str(error)


def _race(app: Flask, report_id: int, contenders: list[tuple[int, str]], staff: Staff) -> list[Outcome]:
    barrier = threading.Barrier(len(contenders))
    outcomes = [Outcome(reviewer=f"reviewer {reviewer_id}", action=action) for reviewer_id, action in contenders]
    threads = [
        threading.Thread(
            target=_reviewer_thread,
            args=(app, barrier, outcome, report_id, reviewer_id, staff),
            name=f"race-{outcome.reviewer}",
        )
        for (reviewer_id, _), outcome in zip(contenders, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a reviewer thread is stuck (lock wait?)"
    return outcomes


def _one_winner(outcomes: list[Outcome], already_handled: str) -> Outcome:
    """Exactly one success; the other failed with a clear workflow error, not a database exception."""
    summary = [(o.reviewer, o.action, type(o.error).__name__ if o.error else "ok", o.message) for o in outcomes]
    expected = (workflow.AlreadyHandled, workflow.InvalidTransition)
    assert all(o.won or isinstance(o.error, expected) for o in outcomes), summary
    won = [o for o in outcomes if o.won]
    assert len(won) == 1, summary
    for loser in (o for o in outcomes if not o.won):
        if isinstance(loser.error, workflow.AlreadyHandled):
            assert loser.message == already_handled, summary
        else:  # it loaded after the winner's commit: the message names the state the case is in now
            assert loser.message.strip(), summary
    return won[0]


def _events_after(report_id: int, after_id: int) -> list[ReportEvent]:
    return list(
        db.session.scalars(
            sa.select(ReportEvent)
            .where(ReportEvent.report_id == report_id, ReportEvent.id > after_id)
            .order_by(ReportEvent.id)
        )
    )


@pytest.fixture
def staff(app: Flask) -> Staff:
    with app.app_context():
        first, second = make_user(Role.REVIEWER, name="审核员甲"), make_user(Role.REVIEWER, name="审核员乙")
        sanitation = Department(code="HWS", name_zh="环卫所", name_en="Sanitation")
        street = Department(code="JDB", name_zh="街道办", name_en="Street office")
        db.session.add_all([sanitation, street])
        db.session.flush()
        worker = make_user(Role.DEPARTMENT, name="环卫所职员")
        worker.department_id = sanitation.id
        reporter = make_user()
        db.session.commit()
        result = Staff((first.id, second.id), reporter.id, sanitation.id, street.id, worker.id)
        db.session.remove()
    return result


def _new_report(app: Flask, staff: Staff) -> tuple[int, int]:
    """A pending report; returns its id and the id of its last event."""
    with app.app_context():
        report = make_report(db.session.get(User, staff.reporter))
        db.session.commit()
        ids = report.id, report.events[-1].id
        db.session.remove()
    return ids


def _returned_case(app: Flask, staff: Staff) -> tuple[int, int]:
    """A case dispatched to the department and returned by it as not theirs: it waits for a reviewer's redispatch."""
    report_id, _ = _new_report(app, staff)
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        _accept(report, db.session.get(User, staff.reviewers[0]), staff, report.version)
        handling.return_case(report, db.session.get(User, staff.department_user), "不归我们管")
        db.session.commit()
        assert report.status is ReportStatus.RETURNED
        ids = report.id, report.events[-1].id
        db.session.remove()
    return ids


@pytest.mark.parametrize("second_action", ["accept", "reject"])
def test_only_one_of_two_reviewers_opening_or_refusing_a_report_wins(
    app: Flask, staff: Staff, second_action: str
) -> None:
    with app.app_context():
        already_handled = str(workflow.AlreadyHandled().message)
    first, second = staff.reviewers
    for round_ in range(ROUNDS):
        report_id, submitted_event = _new_report(app, staff)
        contenders = [(first, "accept"), (second, second_action)]
        if round_ % 2:  # alternate who starts first
            contenders.reverse()
        winner = _one_winner(_race(app, report_id, contenders, staff), already_handled)

        with app.app_context():
            stored = db.session.get(Report, report_id)
            assert stored is not None
            actions = [e.action for e in _events_after(report_id, submitted_event)]
            if winner.action == "accept":
                # Opening the case dispatches it at once: one accept and its dispatch, nothing from the loser.
                assert actions == ["accept", "dispatch"], actions
                assert stored.status is ReportStatus.DISPATCHED and stored.department_id == staff.department
                assert stored.reject_reason is None
            else:
                assert actions == ["reject"], actions
                assert stored.status is ReportStatus.REJECTED and stored.reject_reason == "insufficient_info"
                assert stored.department_id is None and stored.accepted_at is None
            assert stored.version > 1  # the winner's write moved the version on
            db.session.remove()


def test_only_one_of_two_reviewers_redispatching_a_returned_case_wins(app: Flask, staff: Staff) -> None:
    with app.app_context():
        already_handled = str(workflow.AlreadyHandled().message)
    for _ in range(ROUNDS):
        report_id, returned_event = _returned_case(app, staff)
        contenders = [(reviewer, "redispatch") for reviewer in staff.reviewers]
        _one_winner(_race(app, report_id, contenders, staff), already_handled)

        with app.app_context():
            stored = db.session.get(Report, report_id)
            assert stored is not None
            events = _events_after(report_id, returned_event)
            assert [(e.action, e.from_status, e.to_status) for e in events] == [
                ("dispatch", ReportStatus.RETURNED, ReportStatus.DISPATCHED)
            ]
            assert stored.status is ReportStatus.DISPATCHED and stored.department_id == staff.other_department
            db.session.remove()
