"""Local time: the city's time zone, local days, day and month bounds, calendar periods and ISO weeks.

The time zone comes from the ``TIMEZONE`` setting (``BABEL_DEFAULT_TIMEZONE`` in the config, Asia/Shanghai by
default); outside an application (a benchmark, a module-level constant in a test) the default applies. Every
module that asks "which local day is this?" or "when does this local month start?" asks this one.

Bounds are returned as timezone-aware datetimes; ``UTCDateTime`` columns store them as UTC, so they compare
correctly with stored times on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, get_timezone_name
from flask import current_app, has_app_context
from flask_babel import LazyString, get_locale

from webapp.db import utcnow
from webapp.extensions import lazy_gettext as _l

DEFAULT_TIMEZONE = "Asia/Shanghai"
FIRST_YEAR, LAST_YEAR = 2000, 2100


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_name() -> str:
    if has_app_context():
        return current_app.config.get("BABEL_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE
    return DEFAULT_TIMEZONE


def zone() -> ZoneInfo:
    """The city's time zone (``TIMEZONE``)."""
    return _zone(zone_name())


# What people call a zone where CLDR's generic name is not it (CLDR: 中国时间 / "China Time"; UTC has no region).
_ZONE_NAMES = {"Asia/Shanghai": _l("Beijing time"), "UTC": "UTC", "Etc/UTC": "UTC"}


def zone_label() -> str:
    """The city's time zone as the reader says it, for texts such as "In force from (Beijing time)": 北京时间 for
    Asia/Shanghai, otherwise CLDR's name in the reader's language (中欧时间, "Central European Time")."""
    name = zone_name()
    if name in _ZONE_NAMES:
        return str(_ZONE_NAMES[name])
    return get_timezone_name(zone(), locale=get_locale() or "zh_Hans_CN")


#: ``zone_label()`` for a text made at import time (a form's label): worked out each time the text is shown.
ZONE_LABEL = LazyString(zone_label)


def local_date(moment: datetime) -> date:
    """The local day a (timezone-aware) moment falls on."""
    return moment.astimezone(zone()).date()


def today() -> date:
    return local_date(utcnow())


def midnight(day: date) -> datetime:
    """Local midnight at the start of ``day`` (timezone-aware, in the local zone)."""
    return datetime.combine(day, time(), tzinfo=zone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Local midnight at ``day`` and at the day after."""
    return midnight(day), midnight(day + timedelta(days=1))


def days_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight at ``first`` and at the day after ``last`` (an inclusive day range)."""
    return midnight(first).astimezone(UTC), midnight(last + timedelta(days=1)).astimezone(UTC)


def month_bounds(day: date) -> tuple[datetime, datetime]:
    """Local midnight at the first day of ``day``'s month and at the first day of the next month."""
    month = Period.containing(PeriodKind.MONTH, day)
    return month.start, month.end


def offset_minutes() -> int:
    """The zone's current offset from UTC in minutes (China: +480; no daylight saving time)."""
    offset = utcnow().astimezone(zone()).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


# --- Periods -----------------------------------------------------------------------------------------------------


class PeriodKind(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def label(self) -> str:
        return str(PERIOD_KIND_LABELS[self])


PERIOD_KIND_LABELS = {
    PeriodKind.WEEK: _l("Week"),
    PeriodKind.MONTH: _l("Month"),
    PeriodKind.QUARTER: _l("Quarter"),
    PeriodKind.YEAR: _l("Year"),
}


@dataclass(frozen=True)
class Period:
    """An ISO week, a calendar month, a quarter or a year in local time.

    ``number``: ISO week 1–53, month 1–12, quarter 1–4 (0 for a year). ``year`` is the ISO year for a week.
    """

    kind: PeriodKind
    year: int
    number: int = 0

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        if kind is PeriodKind.WEEK:
            iso_year, week, _ = day.isocalendar()
            return cls(kind, iso_year, week)
        if kind is PeriodKind.MONTH:
            return cls(kind, day.year, day.month)
        if kind is PeriodKind.QUARTER:
            return cls(kind, day.year, (day.month - 1) // 3 + 1)
        return cls(kind, day.year)

    @property
    def first_day(self) -> date:
        if self.kind is PeriodKind.WEEK:
            return date.fromisocalendar(self.year, self.number, 1)
        if self.kind is PeriodKind.MONTH:
            return date(self.year, self.number, 1)
        if self.kind is PeriodKind.QUARTER:
            return date(self.year, 3 * (self.number - 1) + 1, 1)
        return date(self.year, 1, 1)

    @property
    def after_last_day(self) -> date:
        return self.next().first_day

    @property
    def last_day(self) -> date:
        return self.after_last_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """Local midnight at the first day."""
        return midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """Local midnight after the last day (excluded)."""
        return midnight(self.after_last_day)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """``start`` and ``end`` in UTC."""
        return self.start.astimezone(UTC), self.end.astimezone(UTC)

    def next(self) -> Period:
        if self.kind is PeriodKind.WEEK:
            return Period.containing(self.kind, self.first_day + timedelta(days=7))
        if self.kind is PeriodKind.MONTH:
            return Period(self.kind, self.year + (self.number == 12), self.number % 12 + 1)
        if self.kind is PeriodKind.QUARTER:
            return Period(self.kind, self.year + (self.number == 4), self.number % 4 + 1)
        return Period(self.kind, self.year + 1)

    def previous(self) -> Period:
        if self.kind is PeriodKind.WEEK:
            return Period.containing(self.kind, self.first_day - timedelta(days=7))
        if self.kind is PeriodKind.MONTH:
            return Period(self.kind, self.year - (self.number == 1), (self.number - 2) % 12 + 1)
        if self.kind is PeriodKind.QUARTER:
            return Period(self.kind, self.year - (self.number == 1), (self.number - 2) % 4 + 1)
        return Period(self.kind, self.year - 1)

    def in_range(self) -> bool:
        return FIRST_YEAR <= self.year <= LAST_YEAR

    def is_over(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.end

    def has_started(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.start

    @property
    def key(self) -> str:
        """2026-W48, 2026-11, 2026-Q4 or 2026 (the week is ISO 8601, as ``<input type="week">`` sends it)."""
        if self.kind is PeriodKind.WEEK:
            return f"{self.year}-W{self.number:02d}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.year}-{self.number:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year}-Q{self.number}"
        return str(self.year)

    @property
    def label(self) -> str:
        """ "November 2026", "4th quarter 2026", "2026" — or 2026年11月, 2026年第4季度, 2026年 — from the CLDR data."""
        if self.kind is PeriodKind.WEEK:
            return self.key
        skeleton = {PeriodKind.MONTH: "yMMMM", PeriodKind.QUARTER: "yQQQQ", PeriodKind.YEAR: "y"}[self.kind]
        return format_skeleton(skeleton, self.first_day, locale=get_locale() or "zh_Hans_CN")

    def query_args(self) -> dict[str, object]:
        """The URL parameters that name this period (?period=month&year=2026&month=11)."""
        args: dict[str, object] = {"period": self.kind.value, "year": self.year}
        if self.kind is PeriodKind.WEEK:
            args["week"] = self.number
        elif self.kind is PeriodKind.MONTH:
            args["month"] = self.number
        elif self.kind is PeriodKind.QUARTER:
            args["quarter"] = self.number
        return args


def current_period(kind: PeriodKind = PeriodKind.MONTH, day: date | None = None) -> Period:
    """The period of ``kind`` that holds ``day`` (today by default)."""
    return Period.containing(kind, day or today())


def parse_week(raw: str) -> Period:
    """An ISO week, 2026-W48 (as ``<input type="week">`` sends it). Anything else raises ``ValueError``."""
    year, number = raw.strip().upper().split("-W")
    return Period.containing(PeriodKind.WEEK, date.fromisocalendar(int(year), int(number), 1))


def parse_month(raw: str) -> Period:
    """A month, 2026-11 (as ``<input type="month">`` sends it). Anything else raises ``ValueError``."""
    year, number = raw.strip().split("-")
    return Period.containing(PeriodKind.MONTH, date(int(year), int(number), 1))


def minutes(moment: datetime | None) -> str:
    """A moment as people read it on a page: the local date and time to the minute, no seconds
    (“2026年12月4日 19:09”, “Dec 4, 2026, 19:09”)."""
    if moment is None:
        return ""
    from babel import Locale
    from babel.dates import format_date, format_time

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone())
    locale = Locale.parse(get_locale() or "zh_Hans_CN")
    pattern = str(locale.datetime_formats["medium"])
    return pattern.format(format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale))
