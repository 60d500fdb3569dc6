"""Working calendar, deadlines, traffic lights and limit selection. No app or database: these modules are pure Python.

Dates are 2026 (1 Jan 2026 is a Thursday). The holiday calendars below are test fixtures, not official schedules.
"""

from __future__ import annotations

import subprocess
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp import localtime
from webapp.reports.models import Severity, TimeUnit
from webapp.review.calendar import Light, WorkingCalendar, elapsed_fraction, from_days, light
from webapp.review.time_limits import Limit, limit_for

H, D = TimeUnit.WORK_HOURS, TimeUnit.WORK_DAYS
CN = timezone(timedelta(hours=8))
ZONE = localtime.DEFAULT_TIMEZONE  # the calendar has no default of its own
PLAIN = WorkingCalendar(timezone=ZONE)

# A National-Day-style week, modelled (not official): Thu 1 – Wed 7 Oct 2026 off; Sun 27 Sep and Sat 10 Oct worked.
NATIONAL_DAY = WorkingCalendar(
    timezone=ZONE,
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    extra_workdays=frozenset({date(2026, 9, 27), date(2026, 10, 10)}),
)


def cn(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A 2026 wall-clock time in Beijing (+08:00)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=CN)


# -- working days ---------------------------------------------------------------------------------------------------


def test_weekdays_work_and_weekends_rest():
    assert [PLAIN.is_workday(date(2026, 1, d)) for d in range(5, 12)] == [True] * 5 + [False, False]  # Mon..Sun


def test_holidays_and_make_up_days():
    assert not NATIONAL_DAY.is_workday(date(2026, 10, 1))  # Thursday, holiday
    assert not NATIONAL_DAY.is_workday(date(2026, 10, 3))  # Saturday inside the holiday
    assert NATIONAL_DAY.is_workday(date(2026, 9, 27))  # Sunday, 调休
    assert NATIONAL_DAY.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert NATIONAL_DAY.is_workday(date(2026, 10, 8))  # ordinary Thursday after the holiday
    assert not PLAIN.is_workday(date(2026, 9, 27))


def test_from_days_builds_the_calendar_from_rows():
    calendar = from_days(
        [(date(2026, 10, 1), False), (date(2026, 9, 27), True), (date(2026, 5, 1), False)], timezone=ZONE
    )
    assert calendar.holidays == {date(2026, 10, 1), date(2026, 5, 1)}
    assert calendar.extra_workdays == {date(2026, 9, 27)}
    assert from_days([(date(2026, 5, 1), False), (date(2026, 5, 1), True)], timezone=ZONE).is_workday(
        date(2026, 5, 1)
    )  # last wins
    assert from_days([], timezone=ZONE) == PLAIN


def test_hours_per_day_and_limit_seconds():
    assert PLAIN.hours_per_day == 7.5
    assert PLAIN.limit_seconds(4, H) == 4 * 3600
    assert PLAIN.limit_seconds(2, D) == 15 * 3600
    assert PLAIN.limit_seconds(2, "work_days") == 15 * 3600  # the stored string value works too
    short = WorkingCalendar(timezone=ZONE, periods=((time(9), time(12)), (time(14), time(18))))
    assert short.hours_per_day == 7 and short.limit_seconds(1, D) == 7 * 3600


@pytest.mark.parametrize(
    "kwargs",
    [
        {"holidays": {date(2026, 9, 27)}, "extra_workdays": {date(2026, 9, 27)}},
        {"periods": ()},
        {"periods": ((time(13), time(12)),)},
        {"periods": ((time(8), time(12)), (time(11), time(17)))},
        {"timezone": "Nowhere/City"},
    ],
)
def test_inconsistent_calendars_are_rejected(kwargs):
    with pytest.raises(ValueError):
        WorkingCalendar(**{"timezone": ZONE, **kwargs})


def test_a_calendar_is_always_given_its_time_zone():
    """No second default next to webapp.localtime's: the app passes localtime.zone_name() (the TIMEZONE setting)."""
    with pytest.raises(TypeError):
        WorkingCalendar()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        from_days([])  # type: ignore[call-arg]


def test_calendar_accepts_plain_sets_and_stays_hashable():
    calendar = WorkingCalendar(timezone=ZONE, holidays={date(2026, 10, 1)})  # type: ignore[arg-type]
    assert calendar == WorkingCalendar(timezone=ZONE, holidays=frozenset({date(2026, 10, 1)}))
    assert hash(calendar) == hash(WorkingCalendar(timezone=ZONE, holidays=frozenset({date(2026, 10, 1)})))


# -- add() in working hours ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (cn(1, 5, 9), 2, cn(1, 5, 11)),  # within the morning
        (cn(1, 5, 11), 2, cn(1, 5, 14, 30)),  # across lunch
        (cn(1, 5, 16, 30), 2, cn(1, 6, 9, 30)),  # across the evening
        (cn(1, 9, 16, 30), 2, cn(1, 12, 9, 30)),  # Friday -> Monday across the weekend
        (cn(1, 5, 8, 30), 15, cn(1, 6, 17, 30)),  # two full days end at 17:30, not next day 08:30
        (cn(1, 5, 13, 30), 4, cn(1, 5, 17, 30)),  # the afternoon exactly
        (cn(1, 5, 9), 3, cn(1, 5, 12)),  # the morning exactly: 12:00, not 13:30
    ],
)
def test_add_work_hours(start, hours, due):
    assert PLAIN.add(start, hours, H) == due


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (cn(1, 5, 7), cn(1, 5, 9, 30)),  # before 08:30
        (cn(1, 5, 12, 30), cn(1, 5, 14, 30)),  # during lunch
        (cn(1, 5, 12), cn(1, 5, 14, 30)),  # exactly at 12:00
        (cn(1, 5, 17, 30), cn(1, 6, 9, 30)),  # exactly at 17:30: nothing left today
        (cn(1, 5, 22), cn(1, 6, 9, 30)),  # at night
        (cn(1, 6, 2), cn(1, 6, 9, 30)),  # after midnight
        (cn(1, 11, 10), cn(1, 12, 9, 30)),  # on Sunday
    ],
)
def test_a_start_outside_working_time_counts_from_the_next_period(start, due):
    assert PLAIN.add(start, 1, H) == due


def test_national_day_week_with_make_up_days():
    # Wednesday 30 Sep, one hour left that day; 1–7 Oct off; Thursday 8 Oct.
    assert NATIONAL_DAY.add(cn(9, 30, 16, 30), 2, H) == cn(10, 8, 9, 30)
    # Saturday 26 Sep is off, Sunday 27 Sep is a make-up working day.
    assert NATIONAL_DAY.add(cn(9, 26, 10), 1, H) == cn(9, 27, 9, 30)
    # 3 working days = 22.5 h from Wed 30 Sep 10:00: 6 h that day, 8 and 9 Oct, then 1.5 h on Saturday 10 Oct (调休).
    assert NATIONAL_DAY.add(cn(9, 30, 10), 3, D) == cn(10, 10, 10)
    # Without the make-up Saturday the same limit runs to Monday 12 Oct.
    holidays_only = WorkingCalendar(timezone=ZONE, holidays=NATIONAL_DAY.holidays)
    assert holidays_only.add(cn(9, 30, 10), 3, D) == cn(10, 12, 10)
    # A case reported during the holiday starts counting on 8 Oct.
    assert NATIONAL_DAY.add(cn(10, 3, 10), 1, H) == cn(10, 8, 9, 30)


# -- add() in working days -------------------------------------------------------------------------------------------


def test_one_working_day_from_friday_ends_monday_same_time():
    assert PLAIN.add(cn(1, 9, 10), 1, D) == cn(1, 12, 10)
    assert PLAIN.add(cn(1, 9, 10), 2, D) == cn(1, 13, 10)
    monday_off = WorkingCalendar(timezone=ZONE, holidays=frozenset({date(2026, 1, 12)}))
    assert monday_off.add(cn(1, 9, 10), 1, D) == cn(1, 13, 10)


def test_working_day_edges():
    assert PLAIN.add(cn(1, 5, 8, 30), 1, D) == cn(1, 5, 17, 30)  # a full day ends the same evening
    assert PLAIN.add(cn(1, 9, 12, 30), 1, D) == cn(1, 12, 12)  # from lunch: 4 h Friday + 3.5 h Monday morning
    assert PLAIN.add(cn(1, 10, 15), 1, D) == cn(1, 12, 17, 30)  # from Saturday: all of Monday


def test_sixty_working_days_and_long_holidays_are_fast():
    started = clock.perf_counter()
    # 60 full working days from Mon 5 Jan = 12 weeks -> Friday 27 Mar, 17:30.
    assert PLAIN.add(cn(1, 5, 8, 30), 60, D) == cn(3, 27, 17, 30)
    long_break = WorkingCalendar(timezone=ZONE, holidays=frozenset(date(2026, 2, 1) + timedelta(d) for d in range(120)))
    assert long_break.add(cn(1, 30, 17), 1, H) == cn(6, 1, 9)  # 0.5 h Friday 30 Jan, then 120 days off
    assert PLAIN.add(cn(1, 5, 8, 30), 2000, D) > cn(12, 31)
    assert clock.perf_counter() - started < 2


def test_a_calendar_without_working_days_raises_instead_of_looping():
    first = date(2026, 1, 1)
    never = WorkingCalendar(timezone=ZONE, holidays=frozenset(first + timedelta(d) for d in range(5 * 366)))
    with pytest.raises(ValueError, match="no working day"):
        never.add(cn(1, 1, 9), 1, H)
    assert never.working_seconds_between(cn(1, 1), cn(12, 31)) == 0  # a bounded span needs no guard


# -- time zones and validation ---------------------------------------------------------------------------------------


def test_utc_and_beijing_inputs_give_the_same_utc_result():
    in_utc = PLAIN.add(datetime(2026, 1, 9, 2, tzinfo=UTC), 1, D)  # Friday 10:00 in Beijing
    in_cn = PLAIN.add(cn(1, 9, 10), 1, D)
    in_ny = PLAIN.add(datetime(2026, 1, 8, 21, tzinfo=ZoneInfo("America/New_York")), 1, D)
    assert in_utc == in_cn == in_ny == datetime(2026, 1, 12, 2, tzinfo=UTC)
    for result in (in_utc, in_cn, in_ny):
        assert result.tzinfo is UTC


def test_the_calendar_timezone_decides_the_working_hours():
    berlin = WorkingCalendar(timezone="Europe/Berlin")
    # 08:30 in Beijing is 01:30 in Berlin (winter): Berlin's day has not begun.
    assert berlin.add(cn(1, 5, 8, 30), 1, H) == datetime(2026, 1, 5, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    # Across the spring DST change (29 Mar 2026): Friday 17:00 + 1 h = Monday 09:00 local, 07:00 UTC.
    friday = datetime(2026, 3, 27, 17, tzinfo=ZoneInfo("Europe/Berlin"))
    assert berlin.add(friday, 1, H) == datetime(2026, 3, 30, 7, tzinfo=UTC)


@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_values_are_rejected(value):
    with pytest.raises(ValueError):
        PLAIN.add(cn(1, 5, 9), value, H)


def test_naive_datetimes_and_unknown_units_are_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAIN.add(datetime(2026, 1, 5, 9), 1, H)
    with pytest.raises(ValueError, match="timezone-aware"):
        PLAIN.working_seconds_between(cn(1, 5, 9), datetime(2026, 1, 5, 10))
    with pytest.raises(ValueError, match="unknown time unit"):
        PLAIN.add(cn(1, 5, 9), 1, "minutes")


# -- working_seconds_between ------------------------------------------------------------------------------------------


def test_working_seconds_between():
    assert PLAIN.working_seconds_between(cn(1, 5, 8, 30), cn(1, 5, 17, 30)) == 7.5 * 3600
    assert PLAIN.working_seconds_between(cn(1, 5, 11), cn(1, 5, 14)) == 1.5 * 3600  # lunch not counted
    assert PLAIN.working_seconds_between(cn(1, 9, 17), cn(1, 12, 9)) == 3600  # weekend not counted
    assert PLAIN.working_seconds_between(cn(1, 10, 9), cn(1, 11, 18)) == 0  # all weekend
    assert PLAIN.working_seconds_between(cn(1, 5, 10), cn(1, 5, 9)) == 0  # end before start
    assert PLAIN.working_seconds_between(cn(1, 5, 10), cn(1, 5, 10)) == 0
    assert NATIONAL_DAY.working_seconds_between(cn(9, 30, 17), cn(10, 8, 9)) == 3600
    assert PLAIN.working_seconds_between(datetime(2026, 1, 5, 0, tzinfo=UTC), cn(1, 5, 10)) == 1.5 * 3600  # 08:00 +08


TIMEZONES = st.sampled_from(
    [UTC, CN, ZoneInfo("Asia/Shanghai"), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
)
STARTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59, 59), timezones=TIMEZONES)


@settings(database=None, deadline=None, max_examples=200)
@given(start=STARTS, hours=st.integers(1, 80), calendar=st.sampled_from([PLAIN, NATIONAL_DAY]))
def test_add_and_working_seconds_between_agree(start, hours, calendar):
    due = calendar.add(start, hours, H)
    assert due.tzinfo is UTC and due > start
    assert calendar.working_seconds_between(start, due) == pytest.approx(hours * 3600, abs=1)
    assert elapsed_fraction(calendar, start, due, due) == pytest.approx(1)


@settings(database=None, deadline=None, max_examples=200)
@given(start=STARTS, a=st.integers(1, 80), b=st.integers(1, 80), calendar=st.sampled_from([PLAIN, NATIONAL_DAY]))
def test_add_is_monotonic_in_value(start, a, b, calendar):
    low, high = sorted((a, b))
    assert calendar.add(start, low, H) <= calendar.add(start, high, H)
    if low < high:
        assert calendar.add(start, low, H) < calendar.add(start, high, H)
    assert calendar.add(start, low, D) <= calendar.add(start, high, D)


# -- traffic lights ---------------------------------------------------------------------------------------------------

# 10 working hours from Monday 08:30: 7.5 h Monday + 2.5 h Tuesday, due Tuesday 11:00.
STARTED = cn(1, 5, 8, 30)
DUE = PLAIN.add(STARTED, 10, H)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (cn(1, 5, 8), Light.GREEN),  # before the start
        (cn(1, 6, 8, 54), Light.GREEN),  # 79 % (7.9 h)
        (cn(1, 6, 9) - timedelta(microseconds=1), Light.GREEN),  # just under 80 %
        (cn(1, 6, 9), Light.YELLOW),  # exactly 80 % (8 h)
        (cn(1, 6, 10, 54), Light.YELLOW),  # 99 % (9.9 h)
        (cn(1, 6, 11) - timedelta(microseconds=1), Light.YELLOW),
        (cn(1, 6, 11), Light.RED),  # 100 %: the deadline itself is red
        (cn(1, 6, 12, 30), Light.RED),  # overdue, during lunch
        (cn(1, 7, 9), Light.RED),  # overdue
    ],
)
def test_light_thresholds(now, expected):
    assert cn(1, 6, 11) == DUE
    assert light(PLAIN, STARTED, DUE, now) is expected


def test_elapsed_fraction():
    assert elapsed_fraction(PLAIN, STARTED, DUE, cn(1, 5, 8)) == 0
    assert elapsed_fraction(PLAIN, STARTED, DUE, cn(1, 6, 8, 54)) == pytest.approx(0.79)
    assert elapsed_fraction(PLAIN, STARTED, DUE, cn(1, 6, 9)) == pytest.approx(0.8)
    assert elapsed_fraction(PLAIN, STARTED, DUE, cn(1, 6, 11)) == pytest.approx(1)
    assert elapsed_fraction(PLAIN, STARTED, DUE, cn(1, 6, 13, 30)) == pytest.approx(1.1)  # over 1 when overdue
    assert elapsed_fraction(PLAIN, cn(1, 5, 10), cn(1, 5, 9), cn(1, 5, 8)) == 1  # no working time in the limit


def test_the_evening_and_weekend_do_not_turn_the_light_yellow():
    started, due = cn(1, 9, 16, 30), cn(1, 12, 10, 30)  # Friday 16:30 + 3 h -> Monday 10:30
    assert PLAIN.add(started, 3, H) == due
    assert light(PLAIN, started, due, cn(1, 10, 23)) is Light.GREEN  # Saturday night: still 1 h of 3 used
    assert light(PLAIN, started, due, cn(1, 12, 9, 54)) is Light.YELLOW  # 2.4 h of 3 = 80 %


def test_overdue_is_wall_clock_even_without_working_time():
    started, due = cn(1, 9, 13, 30), cn(1, 9, 17, 30)  # due Friday 17:30
    assert light(PLAIN, started, due, cn(1, 10, 10)) is Light.RED  # Saturday: 100 % used and past due


def test_light_when_started_is_not_before_due():
    assert light(PLAIN, cn(1, 5, 10), cn(1, 5, 10), cn(1, 5, 9)) is Light.YELLOW
    assert light(PLAIN, cn(1, 5, 10), cn(1, 5, 10), cn(1, 5, 10)) is Light.RED
    assert light(PLAIN, cn(1, 5, 11), cn(1, 5, 10), cn(1, 5, 9, 59)) is Light.YELLOW
    assert light(PLAIN, cn(1, 5, 11), cn(1, 5, 10), cn(1, 5, 12)) is Light.RED


# -- limit_for ---------------------------------------------------------------------------------------------------------

ONE_DAY = Limit(1, D)


@pytest.mark.parametrize("severity", [Severity.GENERAL, Severity.MAJOR, None])
def test_general_and_major_use_the_category_default(severity):
    assert limit_for(ONE_DAY, severity, {}) is ONE_DAY


def test_urgent_and_critical_are_capped():
    urgent = limit_for(ONE_DAY, Severity.URGENT, {})
    assert urgent == Limit(4, H) and urgent.unit is TimeUnit.WORK_HOURS
    assert limit_for(ONE_DAY, Severity.CRITICAL, {}) == Limit(2, H)
    assert limit_for(Limit(4, H), Severity.CRITICAL, {}) == Limit(2, H)


def test_a_shorter_default_is_kept():
    two_hours = Limit(2, H)
    assert limit_for(two_hours, Severity.URGENT, {}) is two_hours
    assert limit_for(Limit(1, H), Severity.CRITICAL, {}) == Limit(1, H)
    four_hours = Limit(4, H)
    assert limit_for(four_hours, Severity.URGENT, {}) is four_hours  # tie: the default wins


def test_an_override_for_the_severity_wins():
    overrides = {Severity.URGENT: Limit(1, D), Severity.GENERAL: Limit(3, D)}
    assert limit_for(ONE_DAY, Severity.URGENT, overrides) == Limit(1, D)  # even when longer than the cap
    assert limit_for(ONE_DAY, Severity.GENERAL, overrides) == Limit(3, D)
    assert limit_for(ONE_DAY, None, overrides) == Limit(3, D)  # None behaves like general
    assert limit_for(ONE_DAY, Severity.CRITICAL, overrides) == Limit(2, H)  # another severity's override is ignored
    assert limit_for(ONE_DAY, Severity.MAJOR, overrides) is ONE_DAY


def test_limits_compare_on_a_standard_day_unless_told_otherwise():
    # 1 working day is 7.5 h on the standard day; on a 3-hour day it is shorter than the 4-hour urgent cap.
    assert limit_for(ONE_DAY, Severity.URGENT, {}, hours_per_day=3) is ONE_DAY


def test_limit_labels_and_validation():
    assert Limit(3, D).label_parts() == (3, "work_days")
    assert Limit(4, H).label_parts() == (4, "work_hours")
    assert Limit(1, D).working_seconds() == 7.5 * 3600
    with pytest.raises(ValueError):
        Limit(0, H)
    with pytest.raises(ValueError):
        Limit(1, "minutes")  # type: ignore[arg-type]


# -- purity -----------------------------------------------------------------------------------------------------------


def test_modules_import_without_flask_or_sqlalchemy():
    """webapp/__init__.py imports Flask, so load the two modules with stub packages and the frameworks blocked."""
    root = Path(__file__).resolve().parents[2]
    code = f"""
import sys, types
for name in ("flask", "flask_babel", "flask_sqlalchemy", "flask_login", "sqlalchemy", "werkzeug"):
    sys.modules[name] = None  # importing a blocked name raises ImportError
for name, path in (("webapp", {str(root / "webapp")!r}), ("webapp.review", {str(root / "webapp" / "review")!r})):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from datetime import datetime, timezone
from webapp.review import calendar, time_limits
zone = {ZONE!r}
due = calendar.WorkingCalendar(timezone=zone).add(datetime(2026, 1, 9, 2, tzinfo=timezone.utc), 1, "work_days")
assert due == datetime(2026, 1, 12, 2, tzinfo=timezone.utc), due
assert time_limits.limit_for(time_limits.Limit(1, "work_days"), "urgent", {{}}) == time_limits.Limit(4, "work_hours")
assert not any(m.startswith(("webapp.reports", "webapp.db")) for m in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- Working time between two moments: counted days against a walk through every day --------------------------------


def walked_working_time(calendar: WorkingCalendar, start: datetime, end: datetime) -> timedelta:
    """The working time between two moments the plain way: every working period of every day between them."""
    zone = ZoneInfo(calendar.timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta()
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        if calendar.is_workday(day):
            for begin, finish in calendar.periods:
                period_start = max(datetime.combine(day, begin, tzinfo=zone).astimezone(UTC), start)
                period_end = min(datetime.combine(day, finish, tzinfo=zone).astimezone(UTC), end)
                total += max(period_end - period_start, timedelta())
        day += timedelta(days=1)
    return total


BASE = datetime(2026, 3, 1, tzinfo=UTC)  # Europe/Berlin's clocks go forward on 29 March, back on 25 October


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]),
    holidays=st.sets(st.integers(0, 400), max_size=20),
    extra=st.sets(st.integers(0, 400), max_size=5),
    night_shift=st.booleans(),  # a period over the small hours, when clocks change
    moments=st.lists(st.integers(-30 * 24 * 60, 400 * 24 * 60), min_size=2, max_size=6),
)
def test_working_time_between_two_moments_is_what_a_walk_through_every_day_gives(
    zone, holidays, extra, night_shift, moments
):
    periods = ((time(1, 30), time(3, 30)), (time(8, 30), time(12, 0))) if night_shift else DEFAULT_LIKE
    calendar = WorkingCalendar(
        holidays={BASE.date() + timedelta(days=n) for n in holidays},
        extra_workdays={BASE.date() + timedelta(days=n) for n in extra - holidays},
        periods=periods,
        timezone=zone,
    )
    instants = [BASE + timedelta(minutes=m) for m in moments]
    for start in instants:  # in the order drawn: earlier and later days than the table counted so far
        for end in instants:
            expected = walked_working_time(calendar, start, end) if end > start else timedelta()
            assert calendar._working_between(start, end) == expected


DEFAULT_LIKE = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))


def test_a_calendar_counts_each_day_once_however_long_the_cases_run():
    calendar = WorkingCalendar(timezone="Asia/Shanghai")
    started = datetime(2026, 1, 5, 1, tzinfo=UTC)
    calendar._working_between(started, started + timedelta(days=300))
    counted = calendar.__dict__["_cumulative"]
    calendar._working_between(started + timedelta(days=10), started + timedelta(days=200))
    assert calendar.__dict__["_cumulative"] is counted  # nothing counted again
    assert calendar == WorkingCalendar(timezone="Asia/Shanghai")  # the table is not part of the calendar's value
