"""Honour rolls (光荣榜): who earned the most points in a month, a quarter or a year.

"Earned" means awards only (valid reports, campaign bonuses, volunteer results, ratings, adopted feedback), net of
their reversals: a reversal counts against the period of the award it takes back, so a report found false later
disappears from the roll it was on. Spending, refunds and expiry do not change what someone earned.

Everything is aggregated in SQL. The period's awards are found through ``ix_points_transactions_created_at``,
their reversals through the unique business key (``reversal:<award key>``), the entries through
``ix_points_entries_transaction_id``; nothing loops over entries in Python.

Privacy: a resident is named only when they chose "show my name publicly" (and have a name), a household only
when its members chose to show it; phone numbers never leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from webapp import cache as static_cache
from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l
from webapp.geo.models import Grid
from webapp.localtime import FIRST_YEAR, LAST_YEAR, Period, PeriodKind, current_period, local_date
from webapp.points.models import (
    Account,
    AccountKind,
    Household,
    HouseholdMember,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from webapp.reports.models import Report

TOP_PEOPLE = 50  # the monthly 光荣榜 of the cities we follow lists 50 residents; certificates go to them
TOP_HOUSEHOLDS = 20
TOP_COMMUNITIES = 20
ROLL_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR)  # honour rolls are not weekly
REVERSAL_PREFIX = "reversal:"  # awards.reverse_report posts "reversal:<award's business key>"


class PeriodError(DomainError):
    status = 400
    code = "bad_period"
    default_message = _l("Please choose a month, a quarter or a year.")


def _whole_number(value: str | None, low: int, high: int) -> int | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 4 or not low <= int(value) <= high:
        raise PeriodError()
    return int(value)


def parse_period(
    kind: str | None,
    year: str | None = None,
    month: str | None = None,
    quarter: str | None = None,
    *,
    today: date | None = None,
) -> Period:
    """The period named by URL parameters; missing parts are today's. Nonsense raises ``PeriodError`` (400)."""
    today = today or local_date(utcnow())
    try:
        period_kind = PeriodKind((kind or PeriodKind.MONTH.value).strip())
    except ValueError:
        raise PeriodError() from None
    if period_kind not in ROLL_KINDS:
        raise PeriodError()
    current = current_period(period_kind, today)
    chosen_year = _whole_number(year, FIRST_YEAR, LAST_YEAR)
    the_year = chosen_year if chosen_year is not None else current.year
    if period_kind is PeriodKind.MONTH:
        number = _whole_number(month, 1, 12)
        return Period(period_kind, the_year, number if number is not None else current.number)
    if period_kind is PeriodKind.QUARTER:
        number = _whole_number(quarter, 1, 4)
        return Period(period_kind, the_year, number if number is not None else current.number)
    return Period(period_kind, the_year)


# --- What counts as earned ---------------------------------------------------------------------------------------


def _earned_entries(period: Period) -> sa.CTE:
    """What each resident earned in the period, entry by entry: (user_id, report_id, amount).

    Two branches: the entries of the period's awards, and the entries of every reversal of those awards (found by
    its key, ``reversal:<award key>``, through the unique index on the key). Entries carry their transaction's
    time, so the awards' branch also bounds the entries' own ``created_at``: whichever table the planner starts
    from, it reads the period through an index (without it SQLite read every resident entry through the account
    index). The reversals' branch starts from the period's awards and finds the few reversals by key.
    """
    award = aliased(LedgerTransaction)
    reversal = aliased(LedgerTransaction)
    in_period = (
        award.kind == TransactionKind.AWARD,
        award.created_at >= period.start,
        award.created_at < period.end,
    )
    resident = sa.and_(Account.id == LedgerEntry.account_id, Account.kind == AccountKind.RESIDENT)
    awards = (
        sa.select(
            Account.user_id.label("user_id"), award.report_id.label("report_id"), LedgerEntry.amount.label("amount")
        )
        .select_from(award)
        .join(LedgerEntry, LedgerEntry.transaction_id == award.id)
        .join(Account, resident)
        .where(*in_period, LedgerEntry.created_at >= period.start, LedgerEntry.created_at < period.end)
    )
    reversals = (
        sa.select(Account.user_id, award.report_id, LedgerEntry.amount)
        .select_from(award)
        .join(reversal, reversal.business_key == sa.literal(REVERSAL_PREFIX, sa.String) + award.business_key)
        .join(LedgerEntry, LedgerEntry.transaction_id == reversal.id)
        .join(Account, resident)
        .where(*in_period, reversal.kind == TransactionKind.REVERSAL)
    )
    return sa.union_all(awards, reversals).cte("earned")


def _per_person(earned: sa.CTE) -> sa.CTE:
    """Points per active resident who earned any (net of reversals)."""
    points = sa.func.sum(earned.c.amount)
    return (
        sa.select(earned.c.user_id, points.label("points"))
        .join(User, User.id == earned.c.user_id)
        .where(User.active.is_(True))
        .group_by(earned.c.user_id)
        .having(points > 0)
        .cte("per_person")
    )


def _people_ranked(per_person: sa.CTE) -> sa.CTE:
    return sa.select(
        per_person.c.user_id,
        per_person.c.points,
        sa.func.rank().over(order_by=per_person.c.points.desc()).label("rank"),
    ).cte("people_ranked")


def _households_ranked(per_person: sa.CTE) -> sa.CTE:
    """Households by what their members (today's members) earned."""
    points = sa.func.sum(per_person.c.points)
    per_household = (
        sa.select(HouseholdMember.household_id.label("household_id"), points.label("points"))
        .select_from(per_person)
        .join(HouseholdMember, HouseholdMember.user_id == per_person.c.user_id)
        .group_by(HouseholdMember.household_id)
        .subquery("per_household")
    )
    return sa.select(
        per_household.c.household_id,
        per_household.c.points,
        sa.func.rank().over(order_by=per_household.c.points.desc()).label("rank"),
    ).cte("households_ranked")


def _communities_ranked(earned: sa.CTE) -> sa.CTE:
    """Communities (社区) by the points their reports earned: the report's grid names the community."""
    points = sa.func.sum(earned.c.amount)
    per_community = (
        sa.select(Grid.community_code.label("code"), points.label("points"))
        .select_from(earned)
        .join(Report, Report.id == earned.c.report_id)
        .join(Grid, Grid.code == Report.grid_code)
        .where(Grid.community_code != "")
        .group_by(Grid.community_code)
        .having(points > 0)
        .subquery("per_community")
    )
    return sa.select(
        per_community.c.code,
        per_community.c.points,
        sa.func.rank().over(order_by=per_community.c.points.desc()).label("rank"),
    ).cte("communities_ranked")


def earned_by(user_ids: Iterable[int], period: Period | None = None) -> dict[int, int]:
    """Points earned by these residents in the period (all time when ``period`` is None): {user id: points}.

    Meant for a few people (a household): it reads their accounts through ``ix_points_entries_account_created``.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    owners = dict(
        db.session.execute(
            sa.select(Account.id, Account.user_id).where(Account.kind == AccountKind.RESIDENT, Account.user_id.in_(ids))
        ).all()
    )
    if not owners:
        return {}
    accounts = sorted(owners)  # constants, so the planner reads just these accounts from the index
    if period is None:
        stmt = (
            sa.select(LedgerEntry.account_id, sa.func.sum(LedgerEntry.amount))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                LedgerEntry.account_id.in_(accounts),
                LedgerTransaction.kind.in_((TransactionKind.AWARD, TransactionKind.REVERSAL)),
            )
            .group_by(LedgerEntry.account_id)
        )
    else:
        award = aliased(LedgerTransaction)
        reversal = aliased(LedgerTransaction)
        in_period = (
            award.kind == TransactionKind.AWARD,
            award.created_at >= period.start,
            award.created_at < period.end,
        )
        awards = (
            sa.select(LedgerEntry.account_id.label("account_id"), LedgerEntry.amount.label("amount"))
            .join(award, award.id == LedgerEntry.transaction_id)
            .where(
                LedgerEntry.account_id.in_(accounts),
                # Entries carry their transaction's time: the (account, created_at) index narrows the scan.
                LedgerEntry.created_at >= period.start,
                LedgerEntry.created_at < period.end,
                *in_period,
            )
        )
        reversals = (
            sa.select(LedgerEntry.account_id.label("account_id"), LedgerEntry.amount.label("amount"))
            .join(reversal, reversal.id == LedgerEntry.transaction_id)
            .join(award, award.business_key == sa.func.substr(reversal.business_key, len(REVERSAL_PREFIX) + 1))
            .where(
                LedgerEntry.account_id.in_(accounts),
                LedgerEntry.created_at >= period.start,  # a reversal never comes before its award
                reversal.kind == TransactionKind.REVERSAL,
                *in_period,
            )
        )
        both = sa.union_all(awards, reversals).subquery()
        stmt = sa.select(both.c.account_id, sa.func.sum(both.c.amount)).group_by(both.c.account_id)
    return {owners[account_id]: int(points or 0) for account_id, points in db.session.execute(stmt)}


# --- The rolls -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    rank: int
    points: int
    user_id: int
    name: str | None  # None: the resident stays anonymous

    @property
    def display(self) -> str:
        return self.name or _("A resident")


@dataclass(frozen=True)
class HouseholdRow:
    rank: int
    points: int
    household_id: int
    name: str | None  # None: the household is not shown by name
    members: int

    @property
    def display(self) -> str:
        return self.name or _("A household")


@dataclass(frozen=True)
class CommunityRow:
    rank: int
    points: int
    code: str
    name: str

    @property
    def display(self) -> str:
        return self.name or self.code


@dataclass(frozen=True)
class Rolls:
    period: Period
    people: list[PersonRow]
    households: list[HouseholdRow]
    communities: list[CommunityRow]
    mine: PersonRow | None


def _people_rows(ranked: list[tuple[int, int, int]]) -> dict[int, PersonRow]:
    """(rank, points, user id) → rows with the public name of those who chose to show it (never anything else)."""
    ids = [user_id for _rank, _points, user_id in ranked]
    names = {
        user_id: (display_name.strip() or None) if show and display_name else None
        for user_id, display_name, show in db.session.execute(
            sa.select(User.id, User.display_name, User.show_name_publicly).where(User.id.in_(ids))
        )
    }
    return {
        user_id: PersonRow(rank=rank, points=points, user_id=user_id, name=names.get(user_id))
        for rank, points, user_id in ranked
    }


def _household_rows(ranked: list[tuple[int, int, int]]) -> list[HouseholdRow]:
    ids = [household_id for _rank, _points, household_id in ranked]
    members = dict(
        db.session.execute(
            sa.select(HouseholdMember.household_id, sa.func.count())
            .where(HouseholdMember.household_id.in_(ids))
            .group_by(HouseholdMember.household_id)
        ).all()
    )
    shown = {
        household_id: name if show else None
        for household_id, name, show in db.session.execute(
            sa.select(Household.id, Household.name, Household.show_publicly).where(Household.id.in_(ids))
        )
    }
    return [
        HouseholdRow(
            rank=rank,
            points=points,
            household_id=household_id,
            name=shown.get(household_id),
            members=int(members.get(household_id, 0)),
        )
        for rank, points, household_id in ranked
    ]


def _community_rows(ranked: list[tuple[int, int, str]]) -> list[CommunityRow]:
    codes = [code for _rank, _points, code in ranked]
    names = dict(
        db.session.execute(
            sa.select(Grid.community_code, sa.func.max(Grid.community_name))
            .where(Grid.community_code.in_(codes))
            .group_by(Grid.community_code)
        ).all()
    )
    return [
        CommunityRow(rank=rank, points=points, code=code, name=names.get(code) or "") for rank, points, code in ranked
    ]


def rolls(period: Period, viewer: User | None = None) -> Rolls:
    """Everything the honour page shows for a period, and the viewer's own place if they have one.

    One statement aggregates the period once (the CTEs used twice are materialised) and returns the three
    rankings, each already cut to its length; names are then read for those few rows only.
    """
    earned = _earned_entries(period)
    per_person = _per_person(earned)
    people = _people_ranked(per_person)
    households = _households_ranked(per_person)
    communities = _communities_ranked(earned)
    viewer_id = viewer.id if viewer is not None else -1
    text_key = sa.String(30)
    stmt = sa.union_all(
        sa.select(
            sa.literal("person").label("roll"),
            people.c.rank,
            people.c.points,
            sa.cast(people.c.user_id, text_key).label("key"),
        ).where(sa.or_(people.c.rank <= TOP_PEOPLE, people.c.user_id == viewer_id)),
        sa.select(
            sa.literal("household"),
            households.c.rank,
            households.c.points,
            sa.cast(households.c.household_id, text_key),
        ).where(households.c.rank <= TOP_HOUSEHOLDS),
        sa.select(
            sa.literal("community"), communities.c.rank, communities.c.points, sa.cast(communities.c.code, text_key)
        ).where(communities.c.rank <= TOP_COMMUNITIES),
    )
    found: dict[str, list[tuple[int, int, str]]] = {"person": [], "household": [], "community": []}
    for roll, rank, points, key in db.session.execute(stmt):
        found[roll].append((int(rank), int(points), key))
    people_rows = _people_rows([(rank, points, int(key)) for rank, points, key in found["person"]])
    mine = people_rows.get(viewer_id)
    return Rolls(
        period=period,
        people=sorted((row for row in people_rows.values() if row.rank <= TOP_PEOPLE), key=_order),
        households=sorted(
            _household_rows([(rank, points, int(key)) for rank, points, key in found["household"]]), key=_order
        ),
        communities=sorted(_community_rows(found["community"]), key=lambda row: (row.rank, row.code)),
        mine=mine,
    )


ROLLS_SECONDS = 120  # the public rolls are kept this long per process (webapp.cache.remember)


def public_rolls(period: Period) -> Rolls:
    """The rolls as anyone sees them (no viewer), kept ROLLS_SECONDS per process: the ledger is not aggregated on
    every page view."""
    return static_cache.remember("honour-rolls", ROLLS_SECONDS, period, lambda: rolls(period, None))


def _order(row: PersonRow | HouseholdRow) -> tuple[int, int]:
    return (row.rank, row.user_id if isinstance(row, PersonRow) else row.household_id)


def top_people(period: Period, limit: int = TOP_PEOPLE) -> list[PersonRow]:
    """The residents who earned most in the period, ranked 1, 2, 2, 4 … (ties share a rank)."""
    ranked = _people_ranked(_per_person(_earned_entries(period)))
    rows = db.session.execute(
        sa.select(ranked.c.rank, ranked.c.points, ranked.c.user_id).where(ranked.c.rank <= limit)
    ).all()
    return sorted(_people_rows([(int(r), int(p), u) for r, p, u in rows]).values(), key=_order)


def top_households(period: Period, limit: int = TOP_HOUSEHOLDS) -> list[HouseholdRow]:
    ranked = _households_ranked(_per_person(_earned_entries(period)))
    rows = db.session.execute(
        sa.select(ranked.c.rank, ranked.c.points, ranked.c.household_id).where(ranked.c.rank <= limit)
    ).all()
    return sorted(_household_rows([(int(r), int(p), h) for r, p, h in rows]), key=_order)


def top_communities(period: Period, limit: int = TOP_COMMUNITIES) -> list[CommunityRow]:
    ranked = _communities_ranked(_earned_entries(period))
    rows = db.session.execute(sa.select(ranked.c.rank, ranked.c.points, ranked.c.code).where(ranked.c.rank <= limit))
    return sorted(_community_rows([(int(r), int(p), c) for r, p, c in rows]), key=lambda row: (row.rank, row.code))


def rank_of(user: User, period: Period) -> PersonRow | None:
    """This resident's place on the period's roll (whether or not it is within the top), or None without points."""
    ranked = _people_ranked(_per_person(_earned_entries(period)))
    row = db.session.execute(sa.select(ranked.c.rank, ranked.c.points).where(ranked.c.user_id == user.id)).one_or_none()
    if row is None:
        return None
    return PersonRow(rank=int(row.rank), points=int(row.points), user_id=user.id, name=user.public_name)


def certificate_rank(user: User, period: Period, top: int = TOP_PEOPLE) -> PersonRow | None:
    """The resident's row if they are within the top ``top`` of the period (a certificate is due), else None."""
    row = rank_of(user, period)
    return row if row is not None and row.rank <= top else None


def tab_periods(period: Period, today: date | None = None) -> Mapping[PeriodKind, Period]:
    """The month, quarter and year tabs: those around today while the shown period runs, else around its start."""
    today = today or local_date(utcnow())
    anchor = today if period.first_day <= today < period.after_last_day else period.first_day
    return {kind: current_period(kind, anchor) for kind in ROLL_KINDS}
