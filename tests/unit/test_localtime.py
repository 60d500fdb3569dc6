"""Local time in one module: the TIMEZONE setting, local days, day and month bounds, periods and ISO weeks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask_babel import force_locale

from webapp import localtime
from webapp.localtime import Period, PeriodKind
from webapp.review import services as review_services

W, M, Q, Y = PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR


@pytest.fixture
def berlin(app: Flask, ctx: None) -> Iterator[None]:
    before = app.config["BABEL_DEFAULT_TIMEZONE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Berlin"
    try:
        yield
    finally:
        app.config["BABEL_DEFAULT_TIMEZONE"] = before


def test_the_default_zone_is_shanghai_outside_an_app():
    assert localtime.zone_name() == "Asia/Shanghai"
    assert localtime.local_date(datetime(2026, 3, 31, 16, 30, tzinfo=UTC)) == date(2026, 4, 1)


def test_day_and_month_bounds_are_local_midnights(ctx):
    start, end = localtime.day_bounds(date(2026, 3, 1))
    assert start.astimezone(UTC) == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    first, after = localtime.month_bounds(date(2026, 12, 15))
    assert (first.date(), after.date()) == (date(2026, 12, 1), date(2027, 1, 1))
    assert localtime.days_bounds(date(2026, 1, 1), date(2026, 1, 31)) == (
        datetime(2025, 12, 31, 16, tzinfo=UTC),
        datetime(2026, 1, 31, 16, tzinfo=UTC),
    )


def test_the_timezone_setting_moves_days_deadlines_and_points(berlin):
    assert localtime.zone_name() == "Europe/Berlin"
    assert localtime.offset_minutes() in (60, 120)
    moment = datetime(2026, 1, 9, 23, 30, tzinfo=UTC)  # already the 10th in Berlin
    assert localtime.local_date(moment) == date(2026, 1, 10)
    start, _end = localtime.day_bounds(date(2026, 1, 10))
    assert start.astimezone(UTC) == datetime(2026, 1, 9, 23, tzinfo=UTC)
    # The working calendar of deadlines follows the setting too.
    assert review_services.working_calendar().timezone == "Europe/Berlin"


def test_the_zone_is_named_in_the_readers_language(app, ctx):
    with force_locale("zh_Hans_CN"):
        assert localtime.zone_label() == "北京时间" and str(localtime.ZONE_LABEL) == "北京时间"
    with force_locale("en"):
        assert localtime.zone_label() == "Beijing time"
    before = app.config["BABEL_DEFAULT_TIMEZONE"]
    try:
        for name, chinese, english in (("Europe/Berlin", "中欧时间", "Central European Time"), ("UTC", "UTC", "UTC")):
            app.config["BABEL_DEFAULT_TIMEZONE"] = name
            with force_locale("zh_Hans_CN"):
                assert str(localtime.ZONE_LABEL) == chinese  # a lazy text: worked out when shown
            with force_locale("en"):
                assert str(localtime.ZONE_LABEL) == english
    finally:
        app.config["BABEL_DEFAULT_TIMEZONE"] = before


@pytest.mark.parametrize(
    ("period", "first", "last", "key"),
    [
        (Period(W, 2026, 1), date(2025, 12, 29), date(2026, 1, 4), "2026-W01"),
        (Period(W, 2026, 53), date(2026, 12, 28), date(2027, 1, 3), "2026-W53"),
        (Period(M, 2026, 2), date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
        (Period(Q, 2026, 4), date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        (Period(Y, 2026), date(2026, 1, 1), date(2026, 12, 31), "2026"),
    ],
)
def test_periods_know_their_days_and_keys(ctx, period, first, last, key):
    assert (period.first_day, period.last_day, period.key) == (first, last, key)
    assert period.next().previous() == period
    assert period.previous().after_last_day == period.first_day
    start, end = period.bounds
    assert start.tzinfo is UTC and start == localtime.midnight(first) and end == localtime.midnight(last) + timedelta(1)


def test_the_period_containing_a_day():
    day = date(2026, 11, 30)
    assert localtime.current_period(W, day) == Period(W, 2026, 49)
    assert localtime.current_period(M, day) == Period(M, 2026, 11)
    assert localtime.current_period(Q, day) == Period(Q, 2026, 4)
    assert localtime.current_period(Y, day) == Period(Y, 2026)
    assert Period.containing(W, date(2027, 1, 2)) == Period(W, 2026, 53)  # ISO year, not calendar year


def test_iso_weeks_and_months_parse():
    assert localtime.parse_week("2026-w48") == Period(W, 2026, 48)
    assert localtime.parse_month(" 2026-11 ") == Period(M, 2026, 11)
    for raw in ("2026-48", "2026-W60", "W48", ""):
        with pytest.raises(ValueError):
            localtime.parse_week(raw)
    for raw in ("2026-13", "Nov", "2026"):
        with pytest.raises(ValueError):
            localtime.parse_month(raw)
