"""The working calendar: time limits (处置时限) are counted in 工作时/工作日, not wall-clock time.

Pure Python on purpose (no Flask, no SQLAlchemy), so deadlines and traffic lights can be computed and tested anywhere.
`TimeUnit` lives with the SQLAlchemy models, so it is imported for type checking only; at run time a unit is compared
by its string value, which a `TimeUnit` member (a StrEnum) equals.

Decisions the rest of the app relies on:

* A working day is Monday–Friday, minus `holidays`, plus `extra_workdays` (调休). A date in both sets is an error.
* Working time is the `periods` of a working day, read as wall-clock times in `timezone`; all arithmetic is done in
  UTC, so any aware input works and every result is an aware UTC datetime.
* 1 工作日 = `hours_per_day` working hours (7.5 h by default), not "until the end of the Nth working day": one working
  day from Friday 10:00 ends Monday 10:00. The deadline is then the same whatever the time of day a case arrives.
* A deadline that uses up a period exactly ends at that period's end (e.g. 17:30), not at the next period's start:
  one working day from 08:30 ends 17:30 the same day. Both instants hold the same working time; the earlier is kinder
  to the resident and matches what a clock on the wall shows.
* A start outside working time (night, lunch, weekend, holiday, exactly 17:30) counts from the next period's start.
* Traffic light: green below 80 % of the working time, yellow from 80 %, red once `now >= due` (the deadline instant
  itself is red: the time is used up).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from webapp.reports.models import TimeUnit

WORK_HOURS = "work_hours"  # == TimeUnit.WORK_HOURS
WORK_DAYS = "work_days"  # == TimeUnit.WORK_DAYS

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
# No default time zone here: this module stays free of Flask, so it cannot read the TIMEZONE setting, and a second
# default would drift from webapp.localtime's. The app builds its calendar with localtime.zone_name().

YELLOW_PERCENT = 80

# A calendar with no working day for this long is broken; stop instead of looping for ever.
_MAX_IDLE_DAYS = 3 * 366
# How many days the table of counted working time reaches beyond what was asked (_counted_days).
_COUNT_AHEAD = 366
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = frozenset()  # days off that would otherwise be working days
    extra_workdays: frozenset[date] = frozenset()  # weekend days that are working days (调休)
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    timezone: str = field(kw_only=True)  # an IANA name, e.g. localtime.zone_name()

    def __post_init__(self) -> None:
        # Accept any iterables but keep the instance hashable and immutable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "extra_workdays", frozenset(self.extra_workdays))
        object.__setattr__(self, "periods", tuple((start, end) for start, end in self.periods))
        if clash := self.holidays & self.extra_workdays:
            raise ValueError(f"days both holiday and working day: {sorted(clash)}")
        if not self.periods:
            raise ValueError("a working calendar needs at least one working period")
        previous_end: time | None = None
        for start, end in self.periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("working periods are wall-clock times in the calendar's timezone (no tzinfo)")
            if not start < end or (previous_end is not None and start < previous_end):
                raise ValueError("working periods must be increasing and must not overlap")
            previous_end = end
        try:
            ZoneInfo(self.timezone)  # fail early, not on the first deadline
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"unknown timezone: {self.timezone!r}") from exc
        # Working time up to the start of each day, counted as far as asked (_counted_days). Not a field: equality
        # and hashing stay those of the calendar's settings.
        object.__setattr__(self, "_cumulative", (None, ()))

    def is_workday(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.extra_workdays:
            return True
        return day.weekday() < 5

    @property
    def hours_per_day(self) -> float:
        return self._day_length().total_seconds() / 3600

    def add(self, start: datetime, value: int, unit: TimeUnit | str) -> datetime:
        """The deadline `value` working hours/days after `start`, as an aware UTC datetime.

        WORK_DAYS means value × hours_per_day working hours (see the module docstring), so one working day from
        Friday 10:00 is Monday 10:00 when Monday is a working day.
        """
        remaining = self._limit(value, unit)
        for period_start, period_end in self._working_periods(_to_utc(start)):
            available = period_end - period_start
            if remaining <= available:
                return period_start + remaining
            remaining -= available
        raise AssertionError("unreachable: _working_periods is endless or raises")  # pragma: no cover

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        return self._working_between(start, end).total_seconds()

    def limit_seconds(self, value: int, unit: TimeUnit | str) -> float:
        return self._limit(value, unit).total_seconds()

    # -- internals (timedelta keeps exact microseconds, so 80 % comparisons do not drift) --

    def _day_length(self) -> timedelta:
        return sum((_span(start, end) for start, end in self.periods), timedelta())

    def _limit(self, value: int, unit: TimeUnit | str) -> timedelta:
        if value <= 0:
            raise ValueError(f"a time limit must be positive, got {value}")
        unit = str(unit)
        if unit == WORK_HOURS:
            return timedelta(hours=value)
        if unit == WORK_DAYS:
            return self._day_length() * value
        raise ValueError(f"unknown time unit: {unit!r}")

    def _working_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end``.

        Each day's working time is added up once per calendar (``_counted_days``), so the time between two moments
        costs two lookups instead of a walk through every day between them: the inbox works out a light for each
        case on every visit, and cases run for weeks."""
        start, end = _to_utc(start), _to_utc(end)
        if end <= start:
            return timedelta()
        zone = ZoneInfo(self.timezone)
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        origin, cumulative = self._counted_days(first, last, zone)
        return self._working_until(end, last, origin, cumulative, zone) - self._working_until(
            start, first, origin, cumulative, zone
        )

    def _working_until(
        self, moment: datetime, day: date, origin: date, cumulative: tuple[timedelta, ...], zone: ZoneInfo
    ) -> timedelta:
        """Working time from the start of ``origin`` to ``moment`` (on the local date ``day``)."""
        within = sum(
            (min(end, moment) - begin for begin, end in self._day_periods(day, zone) if begin < moment), timedelta()
        )
        return cumulative[(day - origin).days] + within

    def _counted_days(self, first: date, last: date, zone: ZoneInfo) -> tuple[date, tuple[timedelta, ...]]:
        """(origin, working time from the start of ``origin`` to the start of each day from it), covering ``first``
        to ``last``. Counted from a year before the first day asked to a year after the last, further on when a
        later day is asked and from further back when an earlier one is. Replaced whole, never changed in place:
        a thread always reads one consistent table."""
        origin, cumulative = self.__dict__["_cumulative"]
        if origin is not None and origin <= first and (last - origin).days < len(cumulative):
            return origin, cumulative
        if origin is None or first < origin:
            origin, cumulative = first - timedelta(days=_COUNT_AHEAD), (timedelta(),)
        counted = list(cumulative)
        while len(counted) <= (last - origin).days + _COUNT_AHEAD:
            day = origin + timedelta(days=len(counted) - 1)
            counted.append(counted[-1] + sum((end - begin for begin, end in self._day_periods(day, zone)), timedelta()))
        table = (origin, tuple(counted))
        object.__setattr__(self, "_cumulative", table)
        return table

    def _day_periods(self, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """The working periods of the local date ``day`` in UTC; none on a day off."""
        if not self.is_workday(day):
            return []
        return [
            (
                datetime.combine(day, begin, tzinfo=zone).astimezone(UTC),
                datetime.combine(day, end, tzinfo=zone).astimezone(UTC),
            )
            for begin, end in self.periods
        ]

    def _working_periods(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods in UTC from `start` on (the first one clipped to start), day by day, without end; raises
        ValueError after ~3 years without a working day, so a broken calendar cannot hang a request."""
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date()
        idle_days = 0
        while True:
            periods = self._day_periods(day, zone)
            idle_days = 0 if periods else idle_days + 1
            if idle_days > _MAX_IDLE_DAYS:
                raise ValueError(f"no working day in the {_MAX_IDLE_DAYS} days after {day - timedelta(idle_days)}")
            for begin, end in periods:
                if end > start:
                    yield max(begin, start), end
            day += timedelta(days=1)


def from_days(
    days: Iterable[tuple[date, bool]],
    *,
    timezone: str,
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS,
) -> WorkingCalendar:
    """Build a calendar from CalendarDay rows as (day, is_workday) pairs, without importing the models.

    Rows are exceptions to the Monday–Friday week; a redundant row (a Saturday marked off) is harmless. If a day
    appears twice, the last row wins.
    """
    by_day = dict(days)
    return WorkingCalendar(
        holidays=frozenset(d for d, workday in by_day.items() if not workday),
        extra_workdays=frozenset(d for d, workday in by_day.items() if workday),
        periods=periods,
        timezone=timezone,
    )


class Light(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def light(calendar: WorkingCalendar, started: datetime, due: datetime, now: datetime) -> Light:
    """The 红黄绿灯 of a stage timer: green under 80 % of the working time used, yellow from 80 %, red at or past due.

    Red depends on wall-clock `now >= due`, so a case due Friday 17:30 is red on Saturday although no working time
    has passed since. With no working time between started and due (started >= due, or both off duty) the light is
    yellow until due, then red.
    """
    if _to_utc(now) >= _to_utc(due):
        return Light.RED
    total = calendar._working_between(started, due)
    if not total:
        return Light.YELLOW
    used = calendar._working_between(started, now)
    # Integer microseconds: exactly 80 % must be yellow, whatever floating point would say.
    if (used // _MICROSECOND) * 100 >= (total // _MICROSECOND) * YELLOW_PERCENT:
        return Light.YELLOW
    return Light.GREEN


def elapsed_fraction(calendar: WorkingCalendar, started: datetime, due: datetime, now: datetime) -> float:
    """Share of the working time from started to due used by now: 0 before started, above 1 once overdue.

    With no working time between started and due the whole limit counts as used (1.0).
    """
    total = calendar._working_between(started, due)
    if not total:
        return 1.0
    return calendar._working_between(started, now) / total


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    return moment.astimezone(UTC)


def _span(start: time, end: time) -> timedelta:
    day = date(2000, 1, 3)
    return datetime.combine(day, end) - datetime.combine(day, start)
