"""Honour rolls (光荣榜): periods in local time, what counts as earned, ranks with ties, and opt-in names."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from flask_babel import force_locale

from tests.factories import make_user
from webapp import localtime
from webapp.accounts.models import User
from webapp.db import db
from webapp.localtime import Period, PeriodKind
from webapp.points import honour, households, ledger
from webapp.points.honour import PeriodError
from webapp.points.models import AccountKind, TransactionKind

LOCAL = localtime.zone()
M, Q, Y = PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR


def earn(user: User, points: int, at: datetime) -> str:
    key = f"award:test:{uuid.uuid4()}"
    ledger.post(
        key,
        TransactionKind.AWARD,
        "report_accepted",
        [(ledger.system_account(AccountKind.FUND), -points), (ledger.account_for(user), points)],
        at=at,
    )
    return key


def take_back(user: User, award_key: str, points: int, at: datetime) -> None:
    ledger.post(
        f"reversal:{award_key}",
        TransactionKind.REVERSAL,
        "false_report",
        [(ledger.account_for(user), -points), (ledger.system_account(AccountKind.FUND), points)],
        at=at,
    )


def spend(user: User, points: int, at: datetime) -> None:
    ledger.post(
        f"spend:{uuid.uuid4()}",
        TransactionKind.REDEMPTION,
        "redemption",
        [(ledger.account_for(user), -points), (ledger.system_account(AccountKind.STORE), points)],
        at=at,
    )


# --- Periods ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "first", "after_last"),
    [
        (Period(M, 2026, 2), date(2026, 2, 1), date(2026, 3, 1)),
        (Period(M, 2026, 12), date(2026, 12, 1), date(2027, 1, 1)),
        (Period(Q, 2026, 4), date(2026, 10, 1), date(2027, 1, 1)),
        (Period(Q, 2026, 2), date(2026, 4, 1), date(2026, 7, 1)),
        (Period(Y, 2026), date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods_are_calendar_months_quarters_and_years_in_beijing_time(period, first, after_last):
    assert (period.first_day, period.after_last_day) == (first, after_last)
    assert period.start == datetime(first.year, first.month, first.day, tzinfo=LOCAL)
    assert period.next().previous() == period and period.previous().next() == period


def test_the_current_period_of_each_kind():
    day = date(2026, 8, 17)
    assert localtime.current_period(M, day) == Period(M, 2026, 8)
    assert localtime.current_period(Q, day) == Period(Q, 2026, 3)
    assert localtime.current_period(Y, day) == Period(Y, 2026)


def test_parsing_a_period_from_the_address():
    today = date(2026, 8, 17)
    assert honour.parse_period(None, today=today) == Period(M, 2026, 8)
    assert honour.parse_period("quarter", "2025", quarter="1", today=today) == Period(Q, 2025, 1)
    assert honour.parse_period("month", month="3", today=today) == Period(M, 2026, 3)
    assert honour.parse_period("year", "2024", today=today) == Period(Y, 2024)


@pytest.mark.parametrize(
    ("kind", "year", "month", "quarter"),
    [
        ("week", None, None, None),
        ("month", "1999", None, None),
        ("month", None, "13", None),
        ("month", None, "1.5", None),
        ("quarter", None, None, "-1"),
        ("month", "２０２６", None, None),
    ],
)
def test_nonsense_periods_are_refused_clearly(ctx, kind, year, month, quarter):
    with force_locale("en"):
        with pytest.raises(PeriodError) as caught:
            honour.parse_period(kind, year, month, quarter, today=date(2026, 8, 17))
        assert caught.value.status == 400
        assert str(caught.value.message) == "Please choose a month, a quarter or a year."


def test_period_labels_follow_the_language(ctx):
    with force_locale("en"):
        assert Period(M, 2026, 11).label == "November 2026"
    with force_locale("zh_Hans_CN"):
        assert Period(M, 2026, 11).label == "2026年11月"
        assert Period(Y, 2026).label == "2026年"


# --- What counts -----------------------------------------------------------------------------------------------


def test_local_month_boundaries_decide_the_period(ctx):
    user = make_user()
    earn(user, 5, datetime(2026, 2, 28, 23, 30, tzinfo=LOCAL))  # 15:30 UTC: still February in Beijing
    earn(user, 7, datetime(2026, 3, 1, 0, 30, tzinfo=LOCAL))  # 16:30 UTC on 28 Feb: March in Beijing
    assert [(r.user_id, r.points) for r in honour.top_people(Period(M, 2026, 2))] == [(user.id, 5)]
    assert [(r.user_id, r.points) for r in honour.top_people(Period(M, 2026, 3))] == [(user.id, 7)]
    assert honour.top_people(Period(Q, 2026, 1))[0].points == 12


def test_earned_means_awards_net_of_their_reversals_in_the_awards_period(ctx):
    honest, cheat = make_user(), make_user()
    march = datetime(2026, 3, 10, tzinfo=LOCAL)
    earn(honest, 10, march)
    spend(honest, 10, march + timedelta(days=1))  # spending changes nothing about what was earned
    false = earn(cheat, 30, march)
    earn(cheat, 4, march)
    take_back(cheat, false, 30, datetime(2026, 4, 20, tzinfo=LOCAL))  # found false next month
    march_roll = honour.top_people(Period(M, 2026, 3))
    assert [(r.rank, r.user_id, r.points) for r in march_roll] == [(1, honest.id, 10), (2, cheat.id, 4)]
    assert honour.top_people(Period(M, 2026, 4)) == []  # the reversal does not count in April


def test_ties_share_a_rank_and_inactive_accounts_are_left_out(ctx):
    a, b, c, gone = make_user(), make_user(), make_user(), make_user()
    day = datetime(2026, 5, 5, tzinfo=LOCAL)
    for user, points in ((a, 9), (b, 9), (c, 3), (gone, 50)):
        earn(user, points, day)
    gone.active = False
    db.session.flush()
    assert [(r.rank, r.points) for r in honour.top_people(Period(M, 2026, 5))] == [(1, 9), (1, 9), (3, 3)]


def test_names_only_for_those_who_chose_to_show_them(ctx):
    shown = make_user(name="王阿姨", public=True)
    hidden = make_user(name="李先生", public=False)
    day = datetime(2026, 5, 5, tzinfo=LOCAL)
    earn(shown, 9, day)
    earn(hidden, 8, day)
    with force_locale("en"):
        rows = honour.rolls(Period(M, 2026, 5)).people
        assert [(r.name, r.display) for r in rows] == [("王阿姨", "王阿姨"), (None, "A resident")]


def test_households_rank_by_their_members_and_show_a_name_only_by_choice(ctx):
    day = datetime(2026, 5, 5, tzinfo=LOCAL)
    mum, dad, single = make_user(), make_user(), make_user()
    family = households.create(mum, "张家")
    households.join(dad, family.invite_code)
    alone = households.create(single, "独居老人")
    households.set_shown_publicly(single, True)
    earn(mum, 6, day)
    earn(dad, 6, day)
    earn(single, 10, day)
    rows = honour.top_households(Period(M, 2026, 5))
    assert [(r.rank, r.household_id, r.points, r.members, r.name) for r in rows] == [
        (1, family.id, 12, 2, None),
        (2, alone.id, 10, 1, "独居老人"),
    ]


def test_a_residents_place_and_certificate(ctx, monkeypatch):
    day = datetime(2026, 6, 1, 12, tzinfo=LOCAL)
    people = [make_user() for _ in range(4)]
    for points, user in zip((40, 30, 20, 10), people, strict=True):
        earn(user, points, day)
    june = Period(M, 2026, 6)
    assert honour.rank_of(people[3], june).rank == 4
    assert honour.rank_of(make_user(), june) is None
    assert honour.certificate_rank(people[2], june, top=3).rank == 3
    assert honour.certificate_rank(people[3], june, top=3) is None
    rolls = honour.rolls(june, viewer=people[3])
    assert rolls.mine is not None and rolls.mine.rank == 4
