"""The case workflow in one table: which action moves a report from which states to which, and who may do it.

审核 → 立案 → 派遣 → 签收 → 处置 → 反馈 → 核查 → 结案, with the side flows 不予受理, 退回, 延期, 挂账, 督办 and 返工,
volunteers' self-handling, and a resident reopening a closed case by a dissatisfied rating. ``perform`` is the only
function that changes a report's status: it checks the table, the actor's role and the action's guard, writes the
audit event and refuses a stale form or a case someone else has just handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l
from webapp.reports.models import Report, ReportEvent
from webapp.reports.services import add_event
from webapp.reports.status import ReportStatus as S
from webapp.review.signals import case_event

SYSTEM = "system"  # scheduled jobs (e.g. escalating overdue cases)
STAFF = frozenset({Role.REVIEWER.value, Role.ADMIN.value})
DEPARTMENT = frozenset({Role.DEPARTMENT.value})
RESIDENTS = frozenset({Role.CITIZEN.value, Role.VOLUNTEER.value})
HANDLING = frozenset({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.REWORK})


class InvalidTransition(DomainError):
    status = 409
    code = "invalid_transition"


class AlreadyHandled(DomainError):
    status = 409
    code = "already_handled"
    default_message = _l("Someone else has just handled this case. Here is how it stands now.")


Guard = Callable[[Report, User | None], Any]


def _own_department(report: Report, actor: User | None) -> Any:
    if actor is None or actor.department_id is None or actor.department_id != report.department_id:
        return _l("This case is not assigned to your department.")
    return None


def _claimant(report: Report, actor: User | None) -> Any:
    if actor is None or report.handler_id != actor.id:
        return _l("Only the volunteer who took this case can post its result.")
    return None


def _claimable(report: Report, actor: User | None) -> Any:
    if not report.category.volunteer_suitable:
        return _l("Volunteers cannot handle this kind of problem themselves.")
    if report.department_id is not None or report.handler_id is not None:
        return _l("This case has already been taken.")
    return None


def _self_fixable(report: Report, actor: User | None) -> Any:
    if not report.category.volunteer_suitable:
        return _l("Volunteers cannot handle this kind of problem themselves.")
    return None


def _self_handled(report: Report, actor: User | None) -> Any:
    return None if report.self_handled else _l("Only a case a volunteer fixed at once can be refused at this step.")


def _reporter(report: Report, actor: User | None) -> Any:
    if actor is None or report.reporter_id != actor.id:
        return _l("Only the resident who reported this problem can reopen it.")
    return None


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[S]
    target: S | None  # None: the status stays (extension, escalation, acknowledgement)
    roles: frozenset[str]
    label: Any  # shown in timelines
    needs_note: bool = False
    guard: Guard | None = None


def _t(
    action: str, sources: set[S], target: S | None, roles: frozenset[str] | set[str], label: Any, **options: Any
) -> tuple[str, Transition]:
    return action, Transition(action, frozenset(sources), target, frozenset(roles), label, **options)


TRANSITIONS: dict[str, Transition] = dict(
    [
        _t("accept", {S.PENDING_REVIEW}, S.ACCEPTED, STAFF, _l("Case opened")),
        _t("reject", {S.PENDING_REVIEW}, S.REJECTED, STAFF, _l("Not accepted"), needs_note=True),
        _t("dispatch", {S.ACCEPTED, S.RETURNED}, S.DISPATCHED, STAFF, _l("Dispatched to the department")),
        _t(
            "sign",
            {S.DISPATCHED, S.REWORK},
            S.SIGNED,
            DEPARTMENT,
            _l("Received by the department"),
            guard=_own_department,
        ),
        _t("start", {S.SIGNED}, S.IN_PROGRESS, DEPARTMENT, _l("Work started"), guard=_own_department),
        _t(
            "report_result",
            {S.SIGNED, S.IN_PROGRESS},
            S.AWAITING_CHECK,
            DEPARTMENT,
            _l("Result reported, awaiting check"),
            needs_note=True,
            guard=_own_department,
        ),
        _t(
            "return",
            {S.DISPATCHED, S.SIGNED},
            S.RETURNED,
            DEPARTMENT,
            _l("Returned as not ours"),
            needs_note=True,
            guard=_own_department,
        ),
        _t(
            "request_extension",
            {S.SIGNED, S.IN_PROGRESS},
            None,
            DEPARTMENT,
            _l("More time requested"),
            needs_note=True,
            guard=_own_department,
        ),
        _t("approve_extension", {S.DISPATCHED, S.SIGNED, S.IN_PROGRESS}, None, STAFF, _l("More time granted")),
        _t(
            "refuse_extension",
            {S.DISPATCHED, S.SIGNED, S.IN_PROGRESS},
            None,
            STAFF,
            _l("More time refused"),
            needs_note=True,
        ),
        _t(
            "suspend",
            {S.DISPATCHED, S.SIGNED, S.IN_PROGRESS},
            S.SUSPENDED,
            STAFF,
            _l("Put on the long-term list"),
            needs_note=True,
        ),
        _t("resume", {S.SUSPENDED}, S.DISPATCHED, STAFF, _l("Taken off the long-term list")),
        _t("escalate", set(HANDLING), None, {Role.ADMIN.value, SYSTEM}, _l("Escalated for supervision")),
        _t("close", {S.AWAITING_CHECK}, S.CLOSED, STAFF, _l("Checked and closed")),
        _t("rework", {S.AWAITING_CHECK}, S.REWORK, STAFF, _l("Sent back for rework"), needs_note=True),
        _t(
            "reject_result",
            {S.AWAITING_CHECK},
            S.REJECTED,
            STAFF,
            _l("Not accepted"),
            needs_note=True,
            guard=_self_handled,
        ),
        _t("claim", {S.ACCEPTED}, S.IN_PROGRESS, {Role.VOLUNTEER.value}, _l("Taken by a volunteer"), guard=_claimable),
        _t(
            "volunteer_result",
            {S.IN_PROGRESS},
            S.AWAITING_CHECK,
            {Role.VOLUNTEER.value},
            _l("Fixed by a volunteer, awaiting check"),
            guard=_claimant,
        ),
        _t(
            "self_fix",
            {S.PENDING_REVIEW},
            S.AWAITING_CHECK,
            {Role.VOLUNTEER.value},
            _l("Reported and fixed by a volunteer, awaiting check"),
            guard=_self_fixable,
        ),
        _t(
            "reopen",
            {S.CLOSED},
            S.AWAITING_CHECK,
            RESIDENTS,
            _l("Reopened by the resident"),
            needs_note=True,
            guard=_reporter,
        ),
        _t("emergency", set(S) - {S.CLOSED, S.REJECTED}, None, STAFF | {SYSTEM}, _l("Emergency plan started")),
        _t("acknowledge", set(S), None, STAFF | DEPARTMENT, _l("Emergency acknowledged")),
    ]
)


def role_of(actor: User | None) -> str:
    return actor.role.value if actor is not None else SYSTEM


def allowed(report: Report, action: str, actor: User | None) -> bool:
    """Whether ``actor`` may do ``action`` on ``report`` now (for showing only the buttons that work)."""
    transition = TRANSITIONS[action]
    if role_of(actor) not in transition.roles or report.status not in transition.sources:
        return False
    return transition.guard is None or transition.guard(report, actor) is None


def check(
    report: Report, action: str, actor: User | None, *, note: str = "", expected_version: int | None = None
) -> Transition:
    """Raise the domain error ``perform`` would raise, without changing anything (services call it before they
    touch a case, so a refused action never leaves half a change behind)."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidTransition(_("Unknown action."))
    if role_of(actor) not in transition.roles:
        raise InvalidTransition(_("Your role cannot do this."), field=None)
    if expected_version is not None and report.version != expected_version:
        raise AlreadyHandled()
    if report.status not in transition.sources:
        raise InvalidTransition(_("This cannot be done now: the case is “%(status)s”.", status=report.status.label))
    if transition.guard is not None and (problem := transition.guard(report, actor)) is not None:
        raise InvalidTransition(problem)
    if transition.needs_note and not (note or "").strip():
        raise InvalidTransition(_("Please give a reason."), field="note")
    return transition


def perform(
    report: Report,
    action: str,
    actor: User | None,
    *,
    note: str = "",
    expected_version: int | None = None,
    at: datetime | None = None,
) -> ReportEvent:
    """Apply ``action`` to ``report`` and write its audit event; raise a domain error if it is not allowed."""
    transition = check(report, action, actor, note=note, expected_version=expected_version)
    note = (note or "").strip()
    from_status = report.status
    # Anything that touches the database from here on may flush the case; if another reviewer changed it
    # meanwhile, the version check fails there, and the actor is told "already handled", not shown an error.
    try:
        if transition.target is not None:
            report.status = transition.target
        report.updated_at = at or utcnow()
        event = add_event(report, actor, from_status, report.status, note, action=action, at=at)
        db.session.flush()
    except StaleDataError:
        raise AlreadyHandled() from None
    case_event.send(report, event=event, from_status=from_status)
    return event


def action_label(action: str) -> str:
    transition = TRANSITIONS.get(action)
    return str(transition.label) if transition else str(_l("Reported"))
