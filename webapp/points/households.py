"""Households (家庭): residents who collect points together for the household honour roll (文明家庭).

A household is made by one resident and joined by others with its invite code. A person is in at most one
household (the member row's primary key is the user). Points stay on each person's own account: a household only
adds its members' points up, so joining or leaving never touches the ledger. The last member to leave removes the
household itself (and with it the invite code), nothing else.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import localtime
from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l
from webapp.points import honour
from webapp.points.models import Household, HouseholdMember

# Digits and capital letters that cannot be mistaken for one another (no 0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
NAME_MAX = 40
MAX_MEMBERS = 20  # a family, not a club: keeps the household roll about households


class HouseholdError(DomainError):
    code = "invalid"


class AlreadyInHousehold(HouseholdError):
    status = 409
    code = "already_in_household"
    default_message = _l("You are already in a household. Leave it first to join or start another one.")


class NotInHousehold(HouseholdError):
    status = 409
    code = "not_in_household"
    default_message = _l("You are not in a household.")


class BadInviteCode(HouseholdError):
    code = "bad_invite_code"


class HouseholdFull(HouseholdError):
    status = 409
    code = "household_full"


class StaffCannotJoin(HouseholdError):
    status = 403
    code = "forbidden"
    default_message = _l("Households are for residents and volunteers; staff accounts do not earn points.")


def normalise_code(code: str) -> str:
    """What a person typed, as the stored code: capitals, no spaces or dashes."""
    return re.sub(r"[\s\-–—_·.]", "", code or "").upper()


def format_code(code: str) -> str:
    """An invite code in two groups of four, easier to read out: K7MP 3QXA."""
    return f"{code[:4]} {code[4:]}" if len(code) == CODE_LENGTH else code


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
        if db.session.scalar(sa.select(Household.id).where(Household.invite_code == code)) is None:
            return code


def household_of(user: User) -> Household | None:
    return db.session.scalar(
        sa.select(Household)
        .join(HouseholdMember, HouseholdMember.household_id == Household.id)
        .where(HouseholdMember.user_id == user.id)
    )


def find_by_code(code: str) -> Household | None:
    code = normalise_code(code)
    if not CODE_PATTERN.fullmatch(code):
        return None
    return db.session.scalar(sa.select(Household).where(Household.invite_code == code))


def member_count(household: Household) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).select_from(HouseholdMember).where(HouseholdMember.household_id == household.id)
        )
        or 0
    )


def _check_may_join(user: User) -> None:
    if user.role.is_staff:
        raise StaffCannotJoin()
    if household_of(user) is not None:
        raise AlreadyInHousehold()


def _add_member(user: User, household: Household) -> None:
    """Insert the member row; if the same person joined somewhere at the same moment, say so instead of a 500."""
    try:
        with db.session.begin_nested():
            db.session.add(HouseholdMember(user_id=user.id, household_id=household.id, joined_at=utcnow()))
            db.session.flush()
    except sa.exc.IntegrityError:
        if household_of(user) is not None:
            raise AlreadyInHousehold() from None
        raise HouseholdError(_("This household no longer exists.")) from None


def create(user: User, name: str) -> Household:
    """Start a household; its maker is its first member."""
    name = " ".join((name or "").split())
    if not name:
        raise HouseholdError(_("Please give your household a name."), field="name")
    if len(name) > NAME_MAX:
        raise HouseholdError(_("The name is too long: at most %(n)d characters.", n=NAME_MAX), field="name")
    _check_may_join(user)
    household = Household(name=name, invite_code=_new_code(), show_publicly=False, created_by_id=user.id)
    db.session.add(household)
    db.session.flush()
    _add_member(user, household)
    return household


def join(user: User, code: str) -> Household:
    """Join the household with this invite code."""
    cleaned = normalise_code(code)
    if not cleaned:
        raise BadInviteCode(_("Please enter the invite code."), field="code")
    if not CODE_PATTERN.fullmatch(cleaned):
        raise BadInviteCode(
            _("An invite code has 8 letters and digits, like K7MP 3QXA. Please check it and try again."), field="code"
        )
    current = household_of(user) if not user.role.is_staff else None
    if current is not None and current.invite_code == cleaned:
        raise AlreadyInHousehold(_("You are already in this household."))
    _check_may_join(user)
    household = db.session.scalar(sa.select(Household).where(Household.invite_code == cleaned))
    if household is None:
        raise BadInviteCode(
            _("No household has this invite code. Please check it with the person who gave it to you."), field="code"
        )
    if member_count(household) >= MAX_MEMBERS:
        raise HouseholdFull(_("This household is full (at most %(n)d members).", n=MAX_MEMBERS))
    _add_member(user, household)
    return household


def leave(user: User) -> Household | None:
    """Leave the household. The last member's leaving removes the household; no points move either way.

    Returns the household left, or None when it was removed."""
    household = household_of(user)
    if household is None:
        raise NotInHousehold()
    db.session.execute(
        sa.delete(HouseholdMember).where(
            HouseholdMember.user_id == user.id, HouseholdMember.household_id == household.id
        )
    )
    db.session.flush()
    if member_count(household) == 0:
        db.session.delete(household)
        db.session.flush()
        return None
    return household


def set_shown_publicly(user: User, show: bool) -> Household:
    """Any member may choose whether the household's name appears on the honour roll."""
    household = household_of(user)
    if household is None:
        raise NotInHousehold()
    household.show_publicly = bool(show)
    db.session.flush()
    return household


@dataclass(frozen=True)
class MemberPoints:
    user: User
    joined_at: datetime
    this_month: int
    total: int

    @property
    def name(self) -> str:
        return self.user.display_name.strip() or _("A member without a name")


@dataclass(frozen=True)
class HouseholdSummary:
    household: Household
    members: list[MemberPoints]

    @property
    def this_month(self) -> int:
        return sum(m.this_month for m in self.members)

    @property
    def total(self) -> int:
        return sum(m.total for m in self.members)


def members(household: Household) -> list[MemberPoints]:
    """The members, oldest first, with the points each earned this month and in all (awards net of reversals)."""
    rows = db.session.execute(
        sa.select(User, HouseholdMember.joined_at)
        .join(HouseholdMember, HouseholdMember.user_id == User.id)
        .where(HouseholdMember.household_id == household.id)
        .order_by(HouseholdMember.joined_at, User.id)
    ).all()
    ids = [user.id for user, _joined in rows]
    month = honour.earned_by(ids, localtime.current_period())
    total = honour.earned_by(ids)
    return [
        MemberPoints(user=user, joined_at=joined, this_month=month.get(user.id, 0), total=total.get(user.id, 0))
        for user, joined in rows
    ]


def summary(household: Household) -> HouseholdSummary:
    return HouseholdSummary(household=household, members=members(household))
