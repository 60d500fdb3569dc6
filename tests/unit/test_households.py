"""Households (家庭): make one, join with the invite code, leave; the board adds up what the members earned.

A person is in one household at most; staff cannot join; joining and leaving never move points; the last member
to leave removes the household. Every refusal has a clear message.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_user
from webapp import localtime
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.points import households, ledger
from webapp.points.households import (
    AlreadyInHousehold,
    BadInviteCode,
    HouseholdError,
    HouseholdFull,
    NotInHousehold,
    StaffCannotJoin,
)
from webapp.points.models import AccountKind, Household, HouseholdMember, LedgerEntry, TransactionKind


def earn(user: User, points: int, *, at: datetime | None = None, key: str | None = None) -> str:
    key = key or f"award:test:{uuid.uuid4()}"
    ledger.post(
        key,
        TransactionKind.AWARD,
        "report_accepted",
        [(ledger.system_account(AccountKind.FUND), -points), (ledger.account_for(user), points)],
        at=at,
    )
    return key


def entries() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0)


def test_create_makes_the_maker_its_first_member_with_a_readable_code(ctx):
    mother = make_user(name="妈妈")
    household = households.create(mother, "  张家   小院 ")
    assert household.name == "张家 小院"  # spaces tidied
    assert households.CODE_PATTERN.fullmatch(household.invite_code)
    assert not set(household.invite_code) & set("01ILO")  # nothing to misread
    assert households.household_of(mother).id == household.id
    assert household.show_publicly is False  # opt-in
    assert households.format_code(household.invite_code) == f"{household.invite_code[:4]} {household.invite_code[4:]}"


def test_join_with_the_code_as_people_type_it(ctx):
    household = households.create(make_user(), "李家")
    son = make_user()
    typed = households.format_code(household.invite_code).lower().replace(" ", " - ")
    assert households.join(son, typed).id == household.id
    assert households.member_count(household) == 2


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "Please enter the invite code."),
        ("ABC", "8 letters and digits"),
        ("ABCD1234", "8 letters and digits"),  # 1 is not in the alphabet
        ("ABCDEFGHJ", "8 letters and digits"),
        ("ABCD EFGH", "No household has this invite code"),
    ],
)
def test_bad_invite_codes_say_what_is_wrong(ctx, code, message):
    households.create(make_user(), "王家")
    with force_locale("en"), pytest.raises(BadInviteCode) as caught:
        households.join(make_user(), code)
    assert message in str(caught.value.message) and caught.value.field == "code"


def test_a_person_is_in_one_household_at_most(ctx):
    first = households.create(make_user(), "一家")
    second = households.create(make_user(), "二家")
    person = make_user()
    households.join(person, first.invite_code)
    with force_locale("en"):
        with pytest.raises(AlreadyInHousehold, match="already in this household"):
            households.join(person, first.invite_code)
        with pytest.raises(AlreadyInHousehold, match="Leave it first"):
            households.join(person, second.invite_code)
        with pytest.raises(AlreadyInHousehold):
            households.create(person, "三家")
    assert households.household_of(person).id == first.id


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.DEPARTMENT, Role.ADMIN])
def test_staff_cannot_make_or_join_households(ctx, role):
    household = households.create(make_user(), "居民家")
    staff = make_user(role)
    with pytest.raises(StaffCannotJoin):
        households.create(staff, "员工家")
    with pytest.raises(StaffCannotJoin):
        households.join(staff, household.invite_code)


def test_volunteers_can_join(ctx):
    household = households.create(make_user(), "志愿之家")
    assert households.join(make_user(Role.VOLUNTEER), household.invite_code).id == household.id


def test_a_household_is_full_at_its_limit(ctx, monkeypatch):
    monkeypatch.setattr(households, "MAX_MEMBERS", 3)
    household = households.create(make_user(), "大家庭")
    households.join(make_user(), household.invite_code)
    households.join(make_user(), household.invite_code)
    with force_locale("en"), pytest.raises(HouseholdFull, match="at most 3 members"):
        households.join(make_user(), household.invite_code)


@pytest.mark.parametrize(("name", "message"), [("", "Please give"), ("   ", "Please give"), ("家" * 41, "at most 40")])
def test_household_names(ctx, name, message):
    with force_locale("en"), pytest.raises(HouseholdError, match=message):
        households.create(make_user(), name)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) == 0


def test_leaving_keeps_the_points_and_the_last_one_out_removes_the_household(ctx):
    parent, child = make_user(), make_user()
    earn(parent, 20)
    earn(child, 7)
    household = households.create(parent, "陈家")
    households.join(child, household.invite_code)
    before = entries()
    assert households.leave(child).id == household.id
    assert households.household_of(child) is None and ledger.balance_of(child) == 7
    assert households.leave(parent) is None  # the last member: the household goes
    assert db.session.get(Household, household.id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HouseholdMember)) == 0
    assert entries() == before and ledger.balance_of(parent) == 20  # no points moved either way
    with force_locale("en"), pytest.raises(NotInHousehold, match="not in a household"):
        households.leave(parent)


def test_someone_who_left_can_join_another(ctx):
    first = households.create(make_user(), "甲家")
    second = households.create(make_user(), "乙家")
    person = make_user()
    households.join(person, first.invite_code)
    households.leave(person)
    assert households.join(person, second.invite_code).id == second.id


def test_any_member_chooses_whether_the_name_is_shown(ctx):
    household = households.create(make_user(), "周家")
    member = make_user()
    households.join(member, household.invite_code)
    assert households.set_shown_publicly(member, True).show_publicly is True
    assert households.set_shown_publicly(member, False).show_publicly is False
    with pytest.raises(NotInHousehold):
        households.set_shown_publicly(make_user(), True)


def test_the_board_adds_up_what_members_earned_this_month_and_in_all(ctx):
    today = localtime.local_date(utcnow())
    month_start = datetime(today.year, today.month, 1, 12, tzinfo=localtime.zone())
    earlier = month_start - timedelta(days=40)
    parent, child = make_user(name="爸爸"), make_user(name="")
    earn(parent, 30, at=earlier)
    earn(parent, 10, at=month_start)
    false_report = earn(child, 8, at=month_start)
    earn(child, 4, at=month_start)
    # A false report taken back counts against what was earned; spending does not.
    ledger.post(
        f"reversal:{false_report}",
        TransactionKind.REVERSAL,
        "false_report",
        [(ledger.account_for(child), -8), (ledger.system_account(AccountKind.FUND), 8)],
    )
    ledger.post(
        "spend:1",
        TransactionKind.REDEMPTION,
        "redemption",
        [(ledger.account_for(parent), -25), (ledger.system_account(AccountKind.STORE), 25)],
    )
    household = households.create(parent, "赵家")
    households.join(child, household.invite_code)
    board = households.summary(household)
    assert [(m.user.id, m.this_month, m.total) for m in board.members] == [(parent.id, 10, 40), (child.id, 4, 4)]
    assert (board.this_month, board.total) == (14, 44)
    with force_locale("en"):
        assert board.members[1].name == "A member without a name"
    assert board.members[0].name == "爸爸"
