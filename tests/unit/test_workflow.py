"""The transition table, checked as a whole: every action × every status × every role, the guards, notes, stale
forms, concurrent updates and the append-only audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from tests.factories import make_user
from tests.unit.cases import GAS_LEAK, LITTER, events_of, make_case, make_department, make_staff, notifications_of
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.reports.models import Report, ReportEvent
from webapp.reports.status import ReportStatus
from webapp.review import workflow
from webapp.review.workflow import SYSTEM, TRANSITIONS, AlreadyHandled, InvalidTransition, allowed, perform

S = ReportStatus
ALL_ROLES = [role.value for role in Role] + [SYSTEM]
NOTE = "现场已核实"
NEEDS_NOTE = sorted(action for action, t in TRANSITIONS.items() if t.needs_note)


def _actor(role: str, department_id: int | None) -> User | None:
    if role == SYSTEM:
        return None
    user = make_staff(Role(role))
    if role == Role.DEPARTMENT:
        user.department_id = department_id
    return user


def _case_for(action: str, actor: User | None, status: S, department_id: int) -> Report:
    """A report in ``status`` on which ``actor`` satisfies ``action``'s guard."""
    fields: dict[str, object] = {"department_id": department_id}
    reporter: User | None = make_user()
    category = "06042"
    if action in {"claim", "self_fix"}:
        category = LITTER  # volunteers may fix it
    if action == "claim":
        fields["department_id"] = None
    if action == "volunteer_result":
        fields["handler_id"] = actor.id if actor else None
    if action == "reject_result":
        fields["self_handled"] = True
    if action == "reopen":
        reporter = actor
    return make_case(reporter, status=status, category_code=category, **fields)


def _stored(report: Report) -> tuple[S, int, int]:
    """(status, version, number of events) as the database has them now."""
    status, version = db.session.execute(sa.select(Report.status, Report.version).where(Report.id == report.id)).one()
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id == report.id)
    )
    return status, version, count


def _assert_unchanged(report: Report, status: S, version: int, events: int) -> None:
    assert report.status is status
    assert report.version == version
    assert len(report.events) == events
    assert not db.session.is_modified(report)
    assert _stored(report) == (status, version, events)


# --- The table itself -----------------------------------------------------------------------------------------


def test_the_table_is_well_formed():
    assert set(TRANSITIONS) >= {"accept", "reject", "dispatch", "sign", "report_result", "close", "rework", "reopen"}
    for action, transition in TRANSITIONS.items():
        assert transition.action == action
        assert transition.sources and transition.sources <= set(S)
        assert transition.target is None or transition.target in set(S)
        assert transition.roles and transition.roles <= set(ALL_ROLES), action
        assert str(transition.label)
        assert workflow.action_label(action) == str(transition.label)
    assert workflow.action_label("submit") == gettext("Reported")
    # Nothing leaves a final state except a resident's reopening of a closed case (and the status-keeping notes).
    leaving_final = {a for a, t in TRANSITIONS.items() if t.target is not None and t.sources & {S.CLOSED, S.REJECTED}}
    assert leaving_final == {"reopen"}


_STAFF = {"reviewer", "admin"}
_HANDLING = {S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.REWORK}
# The workflow as the domain describes it (reference/city-governance.md §1.2): (sources, target, roles).
EXPECTED_TABLE: dict[str, tuple[set[S], S | None, set[str]]] = {
    "accept": ({S.PENDING_REVIEW}, S.ACCEPTED, _STAFF),
    "reject": ({S.PENDING_REVIEW}, S.REJECTED, _STAFF),
    "dispatch": ({S.ACCEPTED, S.RETURNED}, S.DISPATCHED, _STAFF),
    "sign": ({S.DISPATCHED, S.REWORK}, S.SIGNED, {"department"}),
    "start": ({S.SIGNED}, S.IN_PROGRESS, {"department"}),
    "report_result": ({S.SIGNED, S.IN_PROGRESS}, S.AWAITING_CHECK, {"department"}),
    "return": ({S.DISPATCHED, S.SIGNED}, S.RETURNED, {"department"}),
    "request_extension": ({S.SIGNED, S.IN_PROGRESS}, None, {"department"}),
    "approve_extension": ({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS}, None, _STAFF),
    "refuse_extension": ({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS}, None, _STAFF),
    "suspend": ({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS}, S.SUSPENDED, _STAFF),
    "resume": ({S.SUSPENDED}, S.DISPATCHED, _STAFF),
    "escalate": (_HANDLING, None, {"admin", SYSTEM}),
    "close": ({S.AWAITING_CHECK}, S.CLOSED, _STAFF),
    "rework": ({S.AWAITING_CHECK}, S.REWORK, _STAFF),
    "reject_result": ({S.AWAITING_CHECK}, S.REJECTED, _STAFF),
    "claim": ({S.ACCEPTED}, S.IN_PROGRESS, {"volunteer"}),
    "volunteer_result": ({S.IN_PROGRESS}, S.AWAITING_CHECK, {"volunteer"}),
    "self_fix": ({S.PENDING_REVIEW}, S.AWAITING_CHECK, {"volunteer"}),
    "reopen": ({S.CLOSED}, S.AWAITING_CHECK, {"citizen", "volunteer"}),
    "emergency": (set(S) - {S.CLOSED, S.REJECTED}, None, _STAFF | {SYSTEM}),
    "acknowledge": (set(S), None, _STAFF | {"department"}),
}


def test_the_table_is_the_documented_workflow():
    actual = {a: (set(t.sources), t.target, set(t.roles)) for a, t in TRANSITIONS.items()}
    assert actual == EXPECTED_TABLE
    assert workflow.HANDLING == _HANDLING


def test_the_main_path_and_the_side_flows_follow_the_table():
    path = ["accept", "dispatch", "sign", "start", "report_result", "close"]
    status = S.PENDING_REVIEW
    for action in path:
        assert status in TRANSITIONS[action].sources
        status = TRANSITIONS[action].target
    assert status is S.CLOSED
    assert TRANSITIONS["reopen"].target is S.AWAITING_CHECK
    assert TRANSITIONS["rework"].target is S.REWORK and S.REWORK in TRANSITIONS["sign"].sources
    assert TRANSITIONS["return"].target is S.RETURNED and S.RETURNED in TRANSITIONS["dispatch"].sources
    assert TRANSITIONS["suspend"].target is S.SUSPENDED and TRANSITIONS["resume"].sources == {S.SUSPENDED}


# --- Every action × every status, with an allowed role -------------------------------------------------------

ALLOWED_PAIRS = [(action, role) for action, t in TRANSITIONS.items() for role in sorted(t.roles)]


@pytest.mark.parametrize(("action", "role"), ALLOWED_PAIRS, ids=[f"{a}-{r}" for a, r in ALLOWED_PAIRS])
def test_action_succeeds_exactly_from_its_sources(ctx, action, role):
    transition = TRANSITIONS[action]
    department = make_department()
    actor = _actor(role, department.id)
    for status in S:
        report = _case_for(action, actor, status, department.id)
        version, events = report.version, len(report.events)
        reporter_messages = len(notifications_of(report.reporter)) if report.reporter else 0
        expected = status in transition.sources
        assert allowed(report, action, actor) is expected, status

        if not expected:
            with pytest.raises(InvalidTransition) as refused:
                perform(report, action, actor, note=NOTE)
            assert refused.value.status == 409
            assert status.label in str(refused.value.message), status
            _assert_unchanged(report, status, version, events)
            continue

        event = perform(report, action, actor, note=NOTE)
        target = transition.target or status
        assert report.status is target, status
        assert (event.action, event.from_status, event.to_status) == (action, status, target)
        assert event.actor_role == role
        assert event.actor_id == (actor.id if actor else None)
        assert event.note == NOTE
        assert event.id is not None and report.events[-1] is event
        assert _stored(report) == (target, version + 1, events + 1), status
        if report.reporter is not None:
            told = target is not status and report.reporter is not actor
            assert len(notifications_of(report.reporter)) == reporter_messages + told, status


# --- Every action refused for every other role ----------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_action_is_refused_for_every_other_role(ctx, action):
    transition = TRANSITIONS[action]
    status = sorted(transition.sources)[0]
    department = make_department()
    refused_roles = [role for role in ALL_ROLES if role not in transition.roles]
    assert refused_roles, "an action open to everyone and the system is suspicious"
    for role in refused_roles:
        actor = _actor(role, department.id)
        report = _case_for(action, actor, status, department.id)
        version, events = report.version, len(report.events)
        assert not allowed(report, action, actor)
        with pytest.raises(InvalidTransition) as refused:
            perform(report, action, actor, note=NOTE)
        assert str(refused.value.message) == gettext("Your role cannot do this."), role
        _assert_unchanged(report, status, version, events)


def test_an_unknown_action_is_refused(ctx):
    report = make_case()
    with pytest.raises(InvalidTransition) as refused:
        perform(report, "teleport", make_staff(Role.ADMIN))
    assert str(refused.value.message) == gettext("Unknown action.")
    assert len(report.events) == 1


# --- Guards ---------------------------------------------------------------------------------------------------


def _refused_with(report: Report, action: str, actor: User | None, message: str) -> None:
    status, version, events = report.status, report.version, len(report.events)
    assert not allowed(report, action, actor)
    with pytest.raises(InvalidTransition) as refused:
        perform(report, action, actor, note=NOTE)
    assert str(refused.value.message) == gettext(message)
    _assert_unchanged(report, status, version, events)


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("sign", S.DISPATCHED),
        ("sign", S.REWORK),
        ("start", S.SIGNED),
        ("report_result", S.IN_PROGRESS),
        ("return", S.DISPATCHED),
        ("request_extension", S.SIGNED),
    ],
)
def test_department_actions_are_for_the_assigned_department_only(ctx, action, status):
    ours, theirs = make_department(), make_department()
    report = make_case(status=status, department_id=ours.id)
    message = "This case is not assigned to your department."
    _refused_with(report, action, make_staff(Role.DEPARTMENT, theirs), message)
    _refused_with(report, action, make_staff(Role.DEPARTMENT), message)  # staff not in any department
    unassigned = make_case(status=status)
    _refused_with(unassigned, action, make_staff(Role.DEPARTMENT), message)
    assert allowed(report, action, make_staff(Role.DEPARTMENT, ours))


def test_only_the_volunteer_who_took_the_case_posts_its_result(ctx):
    volunteer, other = make_staff(Role.VOLUNTEER), make_staff(Role.VOLUNTEER)
    report = make_case(status=S.IN_PROGRESS, category_code=LITTER, handler_id=volunteer.id)
    _refused_with(report, "volunteer_result", other, "Only the volunteer who took this case can post its result.")
    assert allowed(report, "volunteer_result", volunteer)


@pytest.mark.parametrize("category_code", [GAS_LEAK, "06042"], ids=["safety-critical", "not-volunteer-ok"])
def test_volunteers_cannot_claim_or_self_fix_unsuitable_categories(ctx, category_code):
    volunteer = make_staff(Role.VOLUNTEER)
    message = "Volunteers cannot handle this kind of problem themselves."
    _refused_with(make_case(status=S.ACCEPTED, category_code=category_code), "claim", volunteer, message)
    _refused_with(make_case(status=S.PENDING_REVIEW, category_code=category_code), "self_fix", volunteer, message)


def test_a_case_already_taken_cannot_be_claimed(ctx):
    volunteer = make_staff(Role.VOLUNTEER)
    message = "This case has already been taken."
    dispatched = make_case(status=S.ACCEPTED, category_code=LITTER, department_id=make_department().id)
    _refused_with(dispatched, "claim", volunteer, message)
    claimed = make_case(status=S.ACCEPTED, category_code=LITTER, handler_id=make_staff(Role.VOLUNTEER).id)
    _refused_with(claimed, "claim", volunteer, message)
    assert allowed(make_case(status=S.ACCEPTED, category_code=LITTER), "claim", volunteer)


def test_only_the_reporter_can_reopen(ctx):
    reporter = make_user()
    report = make_case(reporter, status=S.CLOSED)
    _refused_with(report, "reopen", make_user(), "Only the resident who reported this problem can reopen it.")
    _refused_with(
        report, "reopen", make_staff(Role.VOLUNTEER), "Only the resident who reported this problem can reopen it."
    )
    anonymous = make_case(None, status=S.CLOSED)
    _refused_with(anonymous, "reopen", make_user(), "Only the resident who reported this problem can reopen it.")
    assert allowed(report, "reopen", reporter)


def test_reject_result_only_for_a_case_a_volunteer_fixed_at_once(ctx):
    report = make_case(status=S.AWAITING_CHECK, department_id=make_department().id)
    message = "Only a case a volunteer fixed at once can be refused at this step."
    _refused_with(report, "reject_result", make_staff(Role.REVIEWER), message)
    assert allowed(make_case(status=S.AWAITING_CHECK, self_handled=True), "reject_result", make_staff(Role.REVIEWER))


# --- Notes ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", NEEDS_NOTE)
def test_actions_that_need_a_reason_refuse_an_empty_note(ctx, action):
    transition = TRANSITIONS[action]
    department = make_department()
    role = sorted(transition.roles)[0]
    actor = _actor(role, department.id)
    report = _case_for(action, actor, sorted(transition.sources)[0], department.id)
    status, version, events = report.status, report.version, len(report.events)
    for note in ("", "   \n\t "):
        with pytest.raises(InvalidTransition) as refused:
            perform(report, action, actor, note=note)
        assert refused.value.field == "note"
        assert str(refused.value.message) == gettext("Please give a reason.")
        _assert_unchanged(report, status, version, events)
    event = perform(report, action, actor, note="  不归我们管  ")
    assert event.note == "不归我们管"


def test_the_reason_giving_actions_are_the_expected_ones():
    assert set(NEEDS_NOTE) == {
        "reject",
        "report_result",
        "return",
        "request_extension",
        "refuse_extension",
        "suspend",
        "rework",
        "reject_result",
        "reopen",
    }


# --- Stale forms and concurrent updates -----------------------------------------------------------------------


def test_a_stale_form_is_already_handled(ctx):
    reviewer = make_staff(Role.REVIEWER)
    report = make_case()
    version = report.version
    with pytest.raises(AlreadyHandled) as stale:
        perform(report, "accept", reviewer, expected_version=version - 1)
    assert stale.value.status == 409 and stale.value.code == "already_handled"
    _assert_unchanged(report, S.PENDING_REVIEW, version, 1)
    perform(report, "accept", reviewer, expected_version=version)
    assert report.status is S.ACCEPTED and report.version == version + 1
    # The form the other reviewer still has open is now stale, even for an action that would be allowed.
    with pytest.raises(AlreadyHandled):
        perform(report, "dispatch", reviewer, expected_version=version)


@pytest.mark.commits  # several connections: needs real commits
def test_a_concurrent_update_is_already_handled_not_a_crash(app, ctx):
    reviewer = make_staff(Role.REVIEWER)
    report = make_case()
    report_id = report.id
    db.session.commit()
    assert report.version == 1  # loaded; another reviewer now acts on the same case
    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE reports SET version = version + 1 WHERE id = :id"), {"id": report_id})

    with pytest.raises(AlreadyHandled) as stale:
        perform(report, "accept", reviewer, note=NOTE)
    assert isinstance(stale.value, DomainError) and stale.value.status == 409
    db.session.rollback()

    status, version = db.session.execute(sa.select(Report.status, Report.version).where(Report.id == report_id)).one()
    assert (status, version) == (S.PENDING_REVIEW, 2)
    assert [e.action for e in events_of(db.session.get(Report, report_id))] == ["submit"]


# --- The audit trail ------------------------------------------------------------------------------------------


def test_events_are_append_only(ctx):
    report = make_case()
    event = perform(report, "accept", make_staff(Role.REVIEWER))
    event.note = "rewritten history"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()

    report = make_case()
    db.session.delete(report.events[0])
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()


def test_events_record_time_actor_and_the_system(ctx):
    at = utcnow() - timedelta(hours=1)
    admin = make_staff(Role.ADMIN)
    report = make_case(status=S.DISPATCHED, department_id=make_department().id)
    event = perform(report, "escalate", admin, note="督办", at=at)
    assert event.at == at and report.updated_at == at
    assert (event.actor_id, event.actor_role) == (admin.id, "admin")
    system_event = perform(report, "escalate", None)
    assert (system_event.actor_id, system_event.actor_role) == (None, SYSTEM)
    assert [e.action for e in events_of(report)] == ["submit", "escalate", "escalate"]


def test_status_changes_tell_the_reporter_but_notes_do_not(ctx):
    reporter = make_user()
    report = make_case(reporter, status=S.DISPATCHED, department_id=make_department().id)
    perform(report, "approve_extension", make_staff(Role.REVIEWER))  # status stays
    assert notifications_of(reporter) == []
    perform(report, "suspend", make_staff(Role.REVIEWER), note=NOTE)
    [message] = notifications_of(reporter)
    assert (message.kind, message.params["status"]) == ("status", "suspended")


def test_each_step_is_announced_once_with_its_event(ctx):
    """perform() announces the step (webapp.review.signals.case_event); points and notifications listen."""
    from webapp.review.signals import case_event

    heard: list[tuple[Report, ReportEvent, S]] = []

    def listener(report: Report, *, event: ReportEvent, from_status: S, **_extra: object) -> None:
        heard.append((report, event, from_status))

    report = make_case()
    case_event.connect(listener)
    try:
        event = perform(report, "accept", make_staff(Role.REVIEWER))
    finally:
        case_event.disconnect(listener)
    assert heard == [(report, event, S.PENDING_REVIEW)]
    assert event.action == "accept" and report.status is not S.PENDING_REVIEW
