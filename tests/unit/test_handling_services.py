"""Handling services: the department inbox with its deadline lights, sign/start/result/return/extension, and the
volunteers' paths (claiming an opened case, reporting and fixing at once)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.factories import jpeg_bytes, make_user, new_report_data
from tests.unit.cases import (
    GAS_LEAK,
    LAT,
    LITTER,
    RUBBISH,
    events_of,
    make_case,
    make_department,
    make_grid,
    make_staff,
    notifications_of,
)
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.handling import services
from webapp.handling.services import HandlingError
from webapp.reports.models import Report, ReportPhoto, TimeUnit
from webapp.reports.services import PhotoError
from webapp.reports.status import ReportStatus
from webapp.review import services as review
from webapp.review.calendar import Light
from webapp.review.models import ExtensionRequest, ExtensionStatus
from webapp.review.workflow import AlreadyHandled, InvalidTransition

S = ReportStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 3, 2, tzinfo=SHANGHAI)  # a Monday, no holiday rows in the test calendar


def small_jpeg(pattern: int = 0) -> bytes:
    return jpeg_bytes((40, 160, 40), (64, 48), pattern=pattern)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time ``day`` days after Monday 2 March 2026."""
    return MONDAY.replace(hour=hour, minute=minute) + timedelta(days=day)


def ids(*reports: Report) -> list[int]:
    return [report.id for report in reports]


def actions(report: Report) -> list[str]:
    return [event.action for event in events_of(report)]


def photo_rows(report: Report) -> list[ReportPhoto]:
    return list(db.session.scalars(sa.select(ReportPhoto).where(ReportPhoto.report_id == report.id)))


def stored_files(storage) -> set[str]:  # type: ignore[no-untyped-def]
    return {str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()}


# --- Inbox and lights ---------------------------------------------------------------------------------------------


def test_inbox_lists_the_departments_open_cases_with_their_lights(ctx):
    department, other = make_department(), make_department()
    calendar = review.working_calendar()
    now = at(0, 13, 40)

    def case(start: datetime | None, hours: int | None, **fields) -> Report:  # type: ignore[no-untyped-def]
        due = calendar.add(start, hours, TimeUnit.WORK_HOURS) if start and hours else None
        values = {"status": S.SIGNED, "department_id": department.id, "dispatched_at": start, "due_at": due}
        values.update(fields)
        return make_case(**values)

    red = case(at(-3, 9), 4)  # Friday, due 14:30 that day
    yellow = case(at(0, 8, 30), 4, status=S.DISPATCHED)  # due 14:00; 3 h 40 of 4 h used
    green = case(at(0, 13, 30), 15, status=S.IN_PROGRESS)
    emergency = case(at(0, 13, 30), 40, status=S.REWORK, emergency=True)
    unknown = case(None, None)
    for status in (S.AWAITING_CHECK, S.SUSPENDED, S.CLOSED, S.ACCEPTED):
        case(at(-3, 9), 4, status=status)
    case(at(-3, 9), 4, department_id=other.id)

    result = services.inbox(department, now=now)
    assert [i.case.id for i in result.items] == ids(emergency, red, yellow, green, unknown)
    assert [i.light for i in result.items] == [Light.GREEN, Light.RED, Light.YELLOW, Light.GREEN, None]
    assert result.total == 5 and result.pages == 1
    assert [i.case.id for i in services.inbox(department, only="red", now=now).items] == ids(red)
    assert [i.case.id for i in services.inbox(department, only="yellow", now=now).items] == ids(yellow)
    assert [i.case.id for i in services.inbox(department, only="green", now=now).items] == ids(emergency, green)
    assert services.inbox(department, only="purple", now=now).total == 5
    assert services.deadline_light(yellow, now=now) is Light.YELLOW
    assert services.deadline_light(yellow, now=at(0, 14)) is Light.RED
    assert services.deadline_light(yellow, now=at(0, 9)) is Light.GREEN
    assert services.deadline_light(unknown, now=now) is None



def test_the_inbox_is_paged_in_its_order_with_the_count_of_every_case(ctx):
    """Pages follow the inbox's order (emergencies, then the nearest deadline); the total counts every matching
    case, also with a light filter; a page past the last one shows the last page."""
    department, other = make_department(), make_department()
    calendar = review.working_calendar()
    now = at(0, 13, 40)
    start = at(-3, 9)  # Friday

    def case(hours: int, **fields) -> Report:  # type: ignore[no-untyped-def]
        due = calendar.add(start, hours, TimeUnit.WORK_HOURS)
        return make_case(status=S.SIGNED, department_id=department.id, dispatched_at=start, due_at=due, **fields)

    overdue = [case(hours) for hours in (4, 3, 2, 1)]  # due on Friday: past
    on_time = [case(40 + hours) for hours in range(4)]  # a week ahead: green
    emergency = case(60, emergency=True)
    make_case(status=S.SIGNED, department_id=other.id, dispatched_at=start, due_at=calendar.add(start, 1, "work_hours"))
    expected = [emergency, *reversed(overdue), *on_time]

    pages = [services.inbox(department, page=n, per_page=4, now=now) for n in (1, 2, 3)]
    assert [i.case.id for p in pages for i in p.items] == ids(*expected)
    assert [(p.page, p.pages, p.total) for p in pages] == [(1, 3, 9), (2, 3, 9), (3, 3, 9)]
    assert [len(p.items) for p in pages] == [4, 4, 1]

    past = services.inbox(department, page=7, per_page=4, now=now)
    assert (past.page, past.total, [i.case.id for i in past.items]) == (3, 9, ids(on_time[-1]))

    red = [services.inbox(department, only="red", page=n, per_page=3, now=now) for n in (1, 2)]
    assert [i.case.id for p in red for i in p.items] == ids(*reversed(overdue))
    assert [(p.total, p.pages) for p in red] == [(4, 2), (4, 2)]
    assert services.inbox(department, only="red", page=5, per_page=3, now=now).page == 2

    green = [services.inbox(department, only="green", page=n, per_page=3, now=now) for n in (1, 2)]
    assert [i.case.id for p in green for i in p.items] == ids(emergency, *on_time)
    assert [(p.total, p.pages) for p in green] == [(5, 2), (5, 2)]
    assert all(i.light is Light.GREEN for p in green for i in p.items)
    assert services.inbox(department, only="green", page=9, per_page=3, now=now).page == 2
    assert services.inbox(department, only="yellow", now=now).total == 0

    assert services.inbox(make_department(), page=3, now=now).items == []



def test_an_inbox_card_names_the_address_else_the_grid(ctx):
    department = make_department()
    grid = make_grid("140109001001007")
    grid.street_name, grid.community_name = "兴华街道", "和平社区"
    with_address = make_case(status=S.SIGNED, department_id=department.id, address="千峰南路 12 号")
    in_grid = make_case(status=S.SIGNED, department_id=department.id, address="", grid_code=grid.code)
    nowhere = make_case(status=S.SIGNED, department_id=department.id, address="", grid_code=None)
    db.session.flush()
    cases = {item.case.id: item.case for item in services.inbox(department).items}
    assert cases[with_address.id].place == "千峰南路 12 号"
    assert cases[in_grid.id].place == grid.label == "兴华街道 和平社区 第007网格"
    assert cases[nowhere.id].place == ""
    assert cases[in_grid.id].category_name == in_grid.category.name
    assert cases[in_grid.id].status is S.SIGNED


# --- Department actions -------------------------------------------------------------------------------------------


def test_sign_then_start(ctx):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    report = make_case(status=S.DISPATCHED, department_id=department.id)
    with pytest.raises(InvalidTransition):
        services.sign(report, make_staff(Role.DEPARTMENT, make_department()))
    with pytest.raises(AlreadyHandled):
        services.sign(report, staff, expected_version=report.version + 1)
    services.sign(report, staff, expected_version=report.version)
    assert report.status is S.SIGNED
    with pytest.raises(InvalidTransition):
        services.sign(report, staff)  # twice
    services.start(report, staff)
    assert report.status is S.IN_PROGRESS
    assert actions(report) == ["submit", "sign", "start"]


def test_post_result_stores_after_photos_linked_to_the_event(ctx, storage):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    reporter = make_user()
    report = make_case(reporter, status=S.IN_PROGRESS, department_id=department.id)
    services.post_result(
        report,
        staff,
        note="已清运",
        photos=[small_jpeg(), small_jpeg(3)],
        storage=storage,
        expected_version=report.version,
    )
    assert report.status is S.AWAITING_CHECK
    event = events_of(report)[-1]
    assert (event.action, event.note) == ("report_result", "已清运")
    photos = photo_rows(report)
    assert [(p.kind, p.position, p.event_id) for p in photos] == [("after", 0, event.id), ("after", 1, event.id)]
    assert report.after_photos == photos and report.before_photos == []
    for photo in photos:
        assert storage.exists(photo.display_key) and storage.exists(photo.thumb_key)
    assert notifications_of(reporter)[-1].params["status"] == "awaiting_check"


@pytest.mark.parametrize(
    ("note", "photos", "error", "field"),
    [
        ("", [b"photo"], InvalidTransition, "note"),
        ("已清运", [], HandlingError, "photos"),
        ("已清运", [b"1", b"2", b"3", b"4"], HandlingError, "photos"),
        ("x" * (services.RESULT_NOTE_MAX + 1), [b"photo"], HandlingError, "note"),
        ("已清运", [b"not a picture"], PhotoError, "photos"),
    ],
    ids=["no-note", "no-photo", "too-many-photos", "note-too-long", "not-a-photo"],
)
def test_a_refused_result_writes_nothing(ctx, storage, note, photos, error, field):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    report = make_case(status=S.IN_PROGRESS, department_id=department.id)
    photos = [small_jpeg(n) if p == b"photo" or p.isdigit() else p for n, p in enumerate(photos)]
    with pytest.raises(error) as refused:
        services.post_result(report, staff, note=note, photos=photos, storage=storage)
    assert refused.value.field == field
    assert report.status is S.IN_PROGRESS and actions(report) == ["submit"]
    assert photo_rows(report) == [] and stored_files(storage) == set()


def test_post_result_is_for_the_assigned_department_only(ctx, storage):
    report = make_case(status=S.IN_PROGRESS, department_id=make_department().id)
    outsider = make_staff(Role.DEPARTMENT, make_department())
    with pytest.raises(InvalidTransition):
        services.post_result(report, outsider, note="已清运", photos=[small_jpeg()], storage=storage)
    assert photo_rows(report) == [] and stored_files(storage) == set()


def test_return_case_hands_it_back_to_the_reviewers(ctx):
    department = make_department()
    staff, colleague = make_staff(Role.DEPARTMENT, department), make_staff(Role.DEPARTMENT, department)
    reviewer, admin = make_staff(Role.REVIEWER), make_staff(Role.ADMIN)
    report = make_case(
        status=S.SIGNED,
        department=department,
        dispatched_at=utcnow(),
        due_at=utcnow() + timedelta(hours=4),
    )
    with pytest.raises(InvalidTransition):
        services.return_case(report, staff, "  ")
    assert report.department is department
    services.return_case(report, staff, "属于供水公司", expected_version=report.version)
    db.session.flush()
    assert report.status is S.RETURNED
    assert report.department_id is None and report.department is None and report.due_at is None
    assert events_of(report)[-1].note == "属于供水公司"
    assert [n.kind for n in notifications_of(reviewer)] == ["returned"]
    assert [n.kind for n in notifications_of(admin)] == ["returned"]
    assert notifications_of(colleague) == []
    assert services.inbox(department).items == []
    assert review.queue("returned").items == [report]


def test_request_extension_asks_the_reviewers(ctx):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    reviewer = make_staff(Role.REVIEWER)
    due = utcnow() + timedelta(hours=3)
    report = make_case(status=S.IN_PROGRESS, department_id=department.id, dispatched_at=utcnow(), due_at=due)
    services.request_extension(report, staff, extra_value=2, extra_unit=TimeUnit.WORK_DAYS, reason="等待配件")
    [request] = db.session.scalars(sa.select(ExtensionRequest)).all()
    assert (request.report_id, request.requested_by_id) == (report.id, staff.id)
    assert (request.extra_value, request.extra_unit, request.reason) == (2, TimeUnit.WORK_DAYS, "等待配件")
    assert request.status is ExtensionStatus.PENDING
    assert report.due_at == due and report.status is S.IN_PROGRESS  # only an approval moves it
    assert actions(report)[-1] == "request_extension"
    assert [n.kind for n in notifications_of(reviewer)] == ["extension_requested"]


@pytest.mark.parametrize(
    ("value", "unit"),
    [(0, TimeUnit.WORK_HOURS), (201, TimeUnit.WORK_HOURS), (61, TimeUnit.WORK_DAYS), (-1, TimeUnit.WORK_DAYS)],
)
def test_request_extension_needs_a_sensible_amount(ctx, value, unit):
    department = make_department()
    report = make_case(status=S.SIGNED, department_id=department.id)
    with pytest.raises(HandlingError) as refused:
        services.request_extension(
            report, make_staff(Role.DEPARTMENT, department), extra_value=value, extra_unit=unit, reason="等待配件"
        )
    assert refused.value.field == "extra_value"
    assert db.session.scalars(sa.select(ExtensionRequest)).all() == []


def test_request_extension_before_signing_or_without_a_reason_is_refused(ctx):
    department = make_department()
    staff = make_staff(Role.DEPARTMENT, department)
    unsigned = make_case(status=S.DISPATCHED, department_id=department.id)
    with pytest.raises(InvalidTransition):
        services.request_extension(unsigned, staff, extra_value=1, extra_unit=TimeUnit.WORK_DAYS, reason="等待配件")
    signed = make_case(status=S.SIGNED, department_id=department.id)
    with pytest.raises(InvalidTransition):
        services.request_extension(signed, staff, extra_value=1, extra_unit=TimeUnit.WORK_DAYS, reason="")
    assert db.session.scalars(sa.select(ExtensionRequest)).all() == []


# --- Volunteers: claiming -----------------------------------------------------------------------------------------


def test_claimable_lists_only_open_cases_volunteers_may_fix(ctx):
    metre = 1 / 111_195
    t0 = utcnow() - timedelta(hours=5)
    far = make_case(status=S.ACCEPTED, category_code=LITTER, accepted_at=t0, lat=LAT + 900 * metre)
    near = make_case(status=S.ACCEPTED, category_code=LITTER, accepted_at=t0 + timedelta(hours=1))
    nowhere = make_case(
        status=S.ACCEPTED, category_code=LITTER, accepted_at=t0 + timedelta(hours=2), lat=None, lon=None
    )
    make_case(status=S.ACCEPTED, category_code=RUBBISH, accepted_at=t0)  # not for volunteers
    make_case(status=S.ACCEPTED, category_code=GAS_LEAK, accepted_at=t0)  # safety-critical
    make_case(status=S.ACCEPTED, category_code=LITTER, accepted_at=t0, department_id=make_department().id)
    make_case(status=S.ACCEPTED, category_code=LITTER, accepted_at=t0, handler_id=make_staff(Role.VOLUNTEER).id)
    make_case(status=S.PENDING_REVIEW, category_code=LITTER)
    make_case(status=S.IN_PROGRESS, category_code=LITTER)

    assert [c.report for c in services.claimable()] == [far, near, nowhere]
    assert all(c.distance_m is None for c in services.claimable())
    by_distance = services.claimable(LAT + 100 * metre, 112.5180)
    assert [c.report for c in by_distance] == [near, far, nowhere]
    assert by_distance[0].distance_m == pytest.approx(100, rel=0.02)
    assert by_distance[1].distance_m == pytest.approx(800, rel=0.02)
    assert by_distance[2].distance_m is None
    assert [c.report for c in services.claimable(LAT, 112.5180, limit=1)] == [near]


def test_claim_and_post_a_volunteer_result(ctx, storage):
    volunteer, other = make_staff(Role.VOLUNTEER), make_staff(Role.VOLUNTEER)
    report = make_case(status=S.ACCEPTED, category_code=LITTER)
    with pytest.raises(InvalidTransition):
        services.claim(report, make_user())  # residents who are not volunteers
    services.claim(report, volunteer, expected_version=report.version)
    assert report.status is S.IN_PROGRESS and report.handler_id == volunteer.id
    assert services.my_claims(volunteer) == [report] and services.my_claims(other) == []
    assert services.claimable() == []
    with pytest.raises(InvalidTransition):
        services.claim(report, other)
    with pytest.raises(InvalidTransition):
        services.post_result(report, other, note="", photos=[small_jpeg()], storage=storage)

    services.post_result(report, volunteer, note="", photos=[small_jpeg()], storage=storage)
    assert report.status is S.AWAITING_CHECK and not report.self_handled
    event = events_of(report)[-1]
    assert (event.action, event.actor_role) == ("volunteer_result", "volunteer")
    [photo] = report.after_photos
    assert photo.event_id == event.id and storage.exists(photo.display_key)
    assert review.queue("check").items == [report]


def test_two_volunteers_claiming_from_the_same_page(ctx):
    first, second = make_staff(Role.VOLUNTEER), make_staff(Role.VOLUNTEER)
    report = make_case(status=S.ACCEPTED, category_code=LITTER)
    version = report.version
    services.claim(report, first, expected_version=version)
    with pytest.raises(AlreadyHandled):
        services.claim(report, second, expected_version=version)
    assert report.handler_id == first.id


# --- Volunteers: report and fix at once ---------------------------------------------------------------------------


def test_report_and_fix_sends_the_result_straight_to_the_check(app, ctx, storage):
    volunteer = make_staff(Role.VOLUNTEER)
    data = new_report_data(category_code=LITTER, photos=[small_jpeg()])
    report, created = services.report_and_fix(
        volunteer, data, after_photos=[small_jpeg(4)], note="已捡拾干净", storage=storage
    )
    assert created
    assert report.status is S.AWAITING_CHECK and report.self_handled and report.handler_id == volunteer.id
    assert report.reporter_id == volunteer.id and not report.emergency
    events = events_of(report)
    assert [(e.action, e.to_status) for e in events] == [("submit", S.PENDING_REVIEW), ("self_fix", S.AWAITING_CHECK)]
    assert events[1].note == "已捡拾干净"
    assert [p.kind for p in report.photos] == ["before", "after"]
    assert report.after_photos[0].event_id == events[1].id and report.before_photos[0].event_id is None
    for photo in report.photos:
        assert storage.exists(photo.display_key) and storage.exists(photo.thumb_key)
    assert review.queue("check").items == [report]
    assert app.extensions["sms"].sent == type(app.extensions["sms"].sent)()  # no emergency

    again, created_again = services.report_and_fix(
        volunteer, new_report_data(client_id=data.client_id, category_code=LITTER, photos=[small_jpeg()]),
        after_photos=[small_jpeg(4)], note="已捡拾干净", storage=storage,
    )  # fmt: skip
    assert again is report and created_again is False
    assert len(events_of(report)) == 2 and len(report.after_photos) == 1


@pytest.mark.parametrize(
    ("category", "after", "field"),
    [(GAS_LEAK, True, "category"), (RUBBISH, True, "category"), (LITTER, False, "photos")],
    ids=["safety-critical", "not-for-volunteers", "no-after-photo"],
)
def test_report_and_fix_refusals_write_nothing(ctx, storage, category, after, field):
    volunteer = make_staff(Role.VOLUNTEER)
    data = new_report_data(category_code=category, photos=[small_jpeg()])
    with pytest.raises(HandlingError) as refused:
        services.report_and_fix(
            volunteer, data, after_photos=[small_jpeg(2)] if after else [], note="", storage=storage
        )
    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0
    assert stored_files(storage) == set()


def test_a_volunteers_fix_that_fails_the_check_goes_to_a_department(ctx, storage):
    fallback = make_department(fallback=True)  # the report lies outside every grid: the district's catch-all
    make_staff(Role.DEPARTMENT, fallback)
    volunteer = make_staff(Role.VOLUNTEER)
    report, _ = services.report_and_fix(
        volunteer,
        new_report_data(category_code=LITTER, photos=[small_jpeg()]),
        after_photos=[small_jpeg(5)],
        note="",
        storage=storage,
    )
    assert report.grid_code is None
    review.send_back(report, make_staff(Role.REVIEWER), "还有垃圾")
    assert report.status is S.REWORK and report.department is fallback and not report.self_handled
    [item] = services.inbox(fallback).items
    assert item.case.id == report.id and item.light is Light.GREEN
