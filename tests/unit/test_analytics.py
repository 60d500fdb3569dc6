"""Dashboard aggregates against a small dataset computed by hand, the roll-up against the live query, and the
periodic reports.

Local time is Asia/Shanghai (UTC+8). The dataset, all in November 2026 unless said otherwise:

====  =====  ======  =====================  ==========================================================
id    grid   cat.    received (local)       what happened
====  =====  ======  =====================  ==========================================================
r1    G1     06042   Mon 11-02 09:30        opened after 2 h, dispatched to HW 30 min later, result after
                                            6 h, closed 2 h later, by the deadline; rated 5
r2    G1     06042   Tue 11-03 10:00        opened after 1 h, dispatched to HW, returned once, closed a
                                            day late; rated 3
r3    G2     01037   Tue 11-10 22:00        dispatched to LD, deadline 11-11 passed, still open
r4    G3     06010   Mon 11-16 07:30        (Sun 23:30 UTC) saved offline 1 h before sending, fixed by a
                                            volunteer at once, awaiting check
r5    —      06042   Thu 11-05 14:00        not accepted (no grid)
r6    G1     06042   Thu 10-01 10:00        outside the range
====  =====  ======  =====================  ==========================================================
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from tests.unit.cases import LITTER, RUBBISH, STREET_LIGHT, make_case, make_department, make_grid
from webapp import localtime
from webapp.accounts.models import Role
from webapp.analytics import periodic, queries, rollup
from webapp.analytics.facts import daily_facts
from webapp.analytics.models import KEYS, MEASURES, analytics_daily
from webapp.analytics.queries import BadFilter, Filters
from webapp.db import db
from webapp.feedback.models import Rating
from webapp.localtime import days_bounds
from webapp.points import ledger
from webapp.points.models import AccountKind, TransactionKind
from webapp.reports.services import add_event
from webapp.reports.status import ReportStatus as S

G1, G2, G3 = "140109001001001", "140109001001002", "140109002001001"
NOVEMBER = Filters(date(2026, 11, 1), date(2026, 11, 30))
NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A UTC instant given as local (UTC+8) November time."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture
def ctx(app):  # type: ignore[no-untyped-def]
    """A request context in English, so messages are compared in the source language."""
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        yield
        db.session.rollback()


@pytest.fixture
def data(ctx):  # type: ignore[no-untyped-def]
    hw, ld = make_department("HW"), make_department("LD", name="路灯所")
    make_grid(G1, lat=37.86, lon=112.518)
    make_grid(G2, lat=37.861, lon=112.518)
    make_grid(G3, lat=37.862, lon=112.518)
    alice, bob = make_user(), make_user()
    volunteer = make_user(Role.VOLUNTEER)
    for person in (alice, bob, volunteer):
        person.created_at = utc(20, 12, month=10)
    newcomer = make_user()
    newcomer.created_at = utc(12, 12)

    r1 = make_case(alice, status=S.CLOSED, created_at=utc(2, 9, 30), grid_code=G1, department_id=hw.id)
    r1.accepted_at, r1.dispatched_at = utc(2, 11, 30), utc(2, 12)
    r1.due_at, r1.closed_at = utc(3, 12), utc(2, 20)
    add_event(r1, None, S.IN_PROGRESS, S.AWAITING_CHECK, action="report_result", at=utc(2, 18))
    add_event(r1, None, S.AWAITING_CHECK, S.CLOSED, action="close", at=utc(2, 20))

    r2 = make_case(alice, status=S.CLOSED, created_at=utc(3, 10), grid_code=G1, department_id=hw.id)
    r2.accepted_at, r2.dispatched_at = utc(3, 11), utc(3, 11)
    r2.due_at, r2.closed_at = utc(3, 18), utc(4, 18)
    add_event(r2, None, S.DISPATCHED, S.RETURNED, action="return", at=utc(3, 12))
    add_event(r2, None, S.IN_PROGRESS, S.AWAITING_CHECK, action="report_result", at=utc(4, 12))
    add_event(r2, None, S.AWAITING_CHECK, S.CLOSED, action="close", at=utc(4, 18))

    r3 = make_case(bob, status=S.DISPATCHED, category_code=STREET_LIGHT, created_at=utc(10, 22), grid_code=G2)
    r3.department_id = ld.id
    r3.accepted_at, r3.dispatched_at, r3.due_at = utc(11, 9), utc(11, 9), utc(11, 17)

    r4 = make_case(volunteer, status=S.AWAITING_CHECK, category_code=LITTER, created_at=utc(16, 7, 30), grid_code=G3)
    r4.self_handled, r4.captured_at = True, utc(16, 6, 30)

    r5 = make_case(alice, status=S.REJECTED, created_at=utc(5, 14))
    r6 = make_case(bob, status=S.PENDING_REVIEW, created_at=utc(1, 10, month=10), grid_code=G1)
    db.session.add_all([Rating(report=r1, user=alice, stars=5), Rating(report=r2, user=alice, stars=3)])
    db.session.flush()
    for rating, day in zip(db.session.scalars(sa.select(Rating).order_by(Rating.id)), (3, 5), strict=True):
        rating.created_at = utc(day, 9)
    rollup.refresh_all()
    return {"hw": hw, "ld": ld, "reports": [r1, r2, r3, r4, r5, r6], "alice": alice}


def test_counts_by_category_and_by_place(data):
    # Ties in code order: 01037 before 06010.
    assert [(r.code, r.count) for r in queries.by_category(NOVEMBER)] == [(RUBBISH, 3), (STREET_LIGHT, 1), (LITTER, 1)]
    assert [(r.code, r.count) for r in queries.by_grid(NOVEMBER)] == [(G1, 2), (G2, 1), (G3, 1)]
    assert [(r.code, r.count) for r in queries.by_grid(Filters(NOVEMBER.start, NOVEMBER.end, street=G3[:9]))] == [
        (G3, 1)
    ]
    only_rubbish = Filters(NOVEMBER.start, NOVEMBER.end, category=RUBBISH)
    assert [(r.code, r.count) for r in queries.by_category(only_rubbish)] == [(RUBBISH, 3)]


def test_recurring_spots(data):
    result = queries.recurring(NOVEMBER)
    # r1 (closed 11-02) was followed by r2 at the same place a day later; r2 by nothing within 30 days.
    assert (result.closed, result.recurred, result.rate) == (2, 1, 0.5)
    assert [(s.code, s.extra["category"], s.count, s.extra["closed"]) for s in result.spots] == [(G1, RUBBISH, 1, 2)]


def test_hour_by_weekday_heatmap_and_weekly_trend(data):
    result = queries.peaks(NOVEMBER)
    cells = {(d, h): n for d, row in enumerate(result.heatmap) for h, n in enumerate(row) if n}
    # r4 came in on Sunday 23:30 UTC, which is Monday 07:30 in Shanghai.
    assert cells == {(0, 9): 1, (0, 7): 1, (1, 10): 1, (1, 22): 1, (3, 14): 1}
    assert result.weekly == [
        (date(2026, 10, 26), 0),
        (date(2026, 11, 2), 3),
        (date(2026, 11, 9), 1),
        (date(2026, 11, 16), 1),
        (date(2026, 11, 23), 0),
        (date(2026, 11, 30), 0),
    ]
    assert result.busiest is not None


def test_handling_per_department(data):
    rows = {row.department_id: row for row in queries.handling(NOVEMBER, now=NOW)}
    hw, ld = rows[data["hw"].id], rows[data["ld"].id]
    assert (hw.dispatched, hw.closed_due, hw.on_time, hw.overdue_open, hw.late) == (2, 2, 1, 0, 1)
    assert hw.on_time_rate == 0.5
    assert (hw.returned, hw.rework, hw.rated, hw.satisfaction) == (1, 0, 2, 4.0)
    # review 2 h and 1 h: buckets [2, 4) and [1, 2); the estimate puts the median at the top of [1, 2).
    assert hw.counts == {"review": 2, "dispatch": 2, "handling": 2, "verification": 2}
    assert hw.medians["review"] == pytest.approx(2.0)
    assert hw.medians["handling"] == pytest.approx(8.0)  # 6 h and 25 h: buckets [4, 8) and [24, 48)
    assert (ld.dispatched, ld.on_time, ld.overdue_open, ld.on_time_rate) == (1, 0, 1, 0.0)
    assert rows[0].dispatched == 0  # r4 and r5 have no department
    exact = queries.exact_medians(Filters(NOVEMBER.start, NOVEMBER.end, department_id=data["hw"].id))
    assert exact["review"] == pytest.approx(1.5)


def test_median_from_buckets():
    assert queries.median_from_buckets([0] * 9) is None
    assert queries.median_from_buckets([4, 0, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx(0.5)  # half of [0, 1)
    assert queries.median_from_buckets([0, 0, 0, 0, 2, 2, 0, 0, 0]) == pytest.approx(24.0)  # top of [8, 24)
    assert queries.median_from_buckets([0, 0, 0, 0, 0, 0, 0, 0, 3]) == 192.0  # open bucket: "more than"


def test_participation(data):
    alice = data["alice"]
    fund = ledger.system_account(AccountKind.FUND)
    account = ledger.account_for(alice)
    ledger.post("t1", TransactionKind.AWARD, "report_accepted", [(fund, -10), (account, 10)], at=utc(2, 12))
    ledger.post("t2", TransactionKind.AWARD, "rating", [(fund, -5), (account, 5)], at=utc(1, 12, month=10))
    result = queries.participation(NOVEMBER)
    assert (result.reports, result.offline, result.online, result.self_handled) == (5, 1, 4, 1)
    assert result.active_residents == 3  # alice, bob, the volunteer
    assert result.new_residents == 1
    assert (result.points_issued, result.points_redeemed) == (10, 0)
    assert sum(online + offline for _, online, offline in result.daily) == 5


def test_the_roll_up_equals_the_live_query(data):
    start, end = days_bounds(date(2026, 9, 1), date(2026, 12, 31))
    live = sorted(tuple(row) for row in db.session.execute(daily_facts(start, end)))
    stored = sorted(
        tuple(row) for row in db.session.execute(sa.select(*[analytics_daily.c[name] for name in (*KEYS, *MEASURES)]))
    )
    assert stored == live and len(stored) == 6
    # A grid filter runs the roll-up's statement live; the figures for that grid match the whole-city ones.
    one_grid = Filters(NOVEMBER.start, NOVEMBER.end, grid=G1)
    assert [(r.code, r.count) for r in queries.by_category(one_grid)] == [(RUBBISH, 2)]
    assert {r.department_id: r.on_time for r in queries.handling(one_grid, now=NOW)} == {data["hw"].id: 1}


def test_refreshing_a_day_follows_a_change(data):
    r4 = data["reports"][3]
    r4.status, r4.closed_at = S.CLOSED, utc(17, 9)
    db.session.flush()
    rollup.refresh_days([date(2026, 11, 16)])
    closed = db.session.scalar(
        sa.select(sa.func.sum(analytics_daily.c.closed)).where(analytics_daily.c.day == date(2026, 11, 16))
    )
    assert closed == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start": "2026-13-01"}, "Start date must be a date"),
        ({"end": "yesterday"}, "End date must be a date"),
        ({"start": "2026-11-10", "end": "2026-11-01"}, "before the start date"),
        ({"start": "2000-01-01", "end": "2026-11-01"}, "at most five years"),
        ({"grid": "999999999999999"}, "Unknown grid"),
        ({"grid": "1401090010010011"}, "Unknown grid"),
        ({"street": "140109009"}, "Unknown street"),
        ({"district": "999999"}, "Unknown district"),
        ({"street": G3[:9], "grid": G1}, "not in the chosen"),
        ({"group": "ZZ"}, "Unknown category group"),
        ({"category": "99999"}, "Unknown category"),
        ({"group": "B", "category": RUBBISH}, "not in the chosen group"),
        ({"department": "abc"}, "Unknown department"),
        ({"department": "999999"}, "Unknown department"),
    ],
)
def test_bad_filters_are_refused_with_a_message(data, args, message):
    with pytest.raises(BadFilter) as error:
        queries.parse_filters(args)
    assert message in str(error.value.message) and error.value.status == 400


def test_good_filters_parse(data):
    filters = queries.parse_filters(
        {"start": "2026-11-01", "end": "2026-11-30", "street": G1[:9], "grid": G1, "group": "D", "category": RUBBISH}
    )
    assert filters.args()["grid"] == G1 and filters.days == 30
    default = queries.parse_filters({})
    assert default.days == queries.DEFAULT_DAYS


def test_weekly_and_monthly_summaries(data):
    week = periodic.summary(periodic.parse_period("weekly", "2026-W45"))
    period = week.period
    assert (period.first_day, period.last_day, week.previous.key) == (date(2026, 11, 2), date(2026, 11, 8), "2026-W44")
    c = week.current
    assert (c.received, c.accepted, c.closed, c.closed_due, c.on_time, c.on_time_rate) == (3, 2, 2, 2, 1, 0.5)
    assert (c.ratings, c.satisfaction) == (2, 4.0)
    assert week.before.received == 0
    assert [(row.code, row.count) for row in week.top_categories] == [(RUBBISH, 3)]
    assert [(row.code, row.count) for row in week.top_places] == [(G1, 2)]
    month = periodic.summary(periodic.parse_period("monthly", "2026-11"))
    assert (month.current.received, month.before.received, month.previous.key) == (5, 1, "2026-10")
    assert month.lines()[0] == ("Reports received", "5", "1", "+4")
    header, rows = periodic.csv_rows(month)
    assert header[1:3] == ["2026-11", "2026-10"] and rows[0][0] == "Reports received"


@pytest.mark.parametrize(
    ("kind", "raw"),
    [("weekly", "2026-48"), ("weekly", "2026-W60"), ("monthly", "2026-13"), ("monthly", "Nov"), ("daily", None)],
)
def test_bad_periods_are_refused(ctx, kind, raw):
    with pytest.raises(BadFilter):
        periodic.parse_period(kind, raw)


def test_default_periods_are_the_last_complete_ones(ctx):
    week = periodic.parse_period("weekly", None)
    assert week.last_day < localtime.today() and week.first_day.weekday() == 0
    month = periodic.parse_period("monthly", None)
    assert month.last_day < localtime.today() and month.first_day.day == 1
    assert periodic.parse_period("monthly", "2026-12").last_day == date(2026, 12, 31)
