"""Campaigns (专项整治): some categories, in some places, for a while, earn a points multiplier within a budget.

Awards look a campaign up when a case is opened (``awards.active_campaign``), so a campaign only ever adds to
points given while it runs: it cannot start in the past, and one that is already over cannot be created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import cache as static_cache
from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.localtime import local_date
from webapp.points.models import Campaign
from webapp.points.store import audit
from webapp.reports import taxonomy

NAME_MAX = 80
DESCRIPTION_MAX = 2000
MULTIPLIER_RANGE = (1, 10)
BUDGET_MAX = 10_000_000  # points; far above any real campaign, well inside a 32-bit column
PLACE_MAX = 15  # a grid code has 15 digits; a prefix is at most that
MAX_CODES = 100
_SEPARATORS = re.compile(r"[\s,，;；、]+")


class CampaignError(DomainError):
    code = "invalid_campaign"


def split_codes(text: str | Iterable[str]) -> list[str]:
    """Codes typed into one box, separated by spaces, commas or new lines; order kept, repeats dropped."""
    parts = _SEPARATORS.split(text) if isinstance(text, str) else [str(part) for part in text]
    return list(dict.fromkeys(part.strip() for part in parts if part and part.strip()))


def status(campaign: Campaign, today: date | None = None) -> str:
    """``"scheduled"``, ``"active"`` or ``"ended"`` on ``today`` (local date)."""
    today = today or local_date(utcnow())
    if today < campaign.starts_on:
        return "scheduled"
    if today > campaign.ends_on:
        return "ended"
    return "active"


def all_campaigns() -> list[Campaign]:
    """Newest first."""
    return list(db.session.scalars(sa.select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def _categories(codes: list[str]) -> list[str]:
    if not codes:
        raise CampaignError(_("Please give at least one category code."), field="categories")
    if len(codes) > MAX_CODES:
        raise CampaignError(_("At most %(n)d category codes.", n=MAX_CODES), field="categories")
    malformed = [code for code in codes if not (len(code) == 5 and code.isascii() and code.isdigit())]
    if malformed:
        raise CampaignError(
            _("Category codes have 5 digits: “%(code)s” is not one.", code=malformed[0][:20]), field="categories"
        )
    unknown = [code for code in codes if taxonomy.get_category(code) is None]
    if unknown:
        raise CampaignError(
            _("There is no category %(codes)s (or it is retired).", codes=", ".join(unknown)), field="categories"
        )
    return codes


def _places(prefixes: list[str]) -> list[str]:
    if len(prefixes) > MAX_CODES:
        raise CampaignError(_("At most %(n)d grid or street codes.", n=MAX_CODES), field="places")
    for prefix in prefixes:
        if not (prefix.isascii() and prefix.isdigit() and len(prefix) <= PLACE_MAX):
            raise CampaignError(
                _(
                    "Places are grid or street codes (or their first digits), up to %(n)d digits: “%(code)s” is not.",
                    n=PLACE_MAX,
                    code=prefix[:20],
                ),
                field="places",
            )
    return prefixes


def create_campaign(
    admin: User,
    *,
    name: str,
    categories: str | Iterable[str],
    starts_on: date,
    ends_on: date,
    multiplier: int,
    budget_points: int,
    places: str | Iterable[str] = "",
    description: str = "",
    today: date | None = None,
) -> Campaign:
    """A new campaign; every value is checked and nothing is written unless all are good. Audited."""
    today = today or local_date(utcnow())
    name = (name or "").strip()
    description = (description or "").strip()
    if not name:
        raise CampaignError(_("Please give the campaign a name."), field="name")
    if len(name) > NAME_MAX:
        raise CampaignError(_("The name is too long: at most %(n)d characters.", n=NAME_MAX), field="name")
    if len(description) > DESCRIPTION_MAX:
        raise CampaignError(
            _("The description is too long: at most %(n)d characters.", n=DESCRIPTION_MAX), field="description"
        )
    category_codes = _categories(split_codes(categories))
    place_prefixes = _places(split_codes(places))
    if ends_on < starts_on:
        raise CampaignError(_("The campaign must end on or after the day it starts."), field="ends_on")
    if ends_on < today:
        raise CampaignError(
            _("This campaign would already be over: please choose an end date from today on."), field="ends_on"
        )
    if starts_on < today:
        raise CampaignError(
            _(
                "A campaign cannot start in the past: reports already accepted keep the points they were given. "
                "Please start it today or later."
            ),
            field="starts_on",
        )
    low, high = MULTIPLIER_RANGE
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or not low <= multiplier <= high:
        raise CampaignError(
            _("The multiplier must be a whole number from %(low)d to %(high)d.", low=low, high=high), field="multiplier"
        )
    if isinstance(budget_points, bool) or not isinstance(budget_points, int) or not 0 <= budget_points <= BUDGET_MAX:
        raise CampaignError(
            _("The budget must be a whole number of points from 0 to %(max)d.", max=BUDGET_MAX), field="budget_points"
        )
    campaign = Campaign(
        name=name,
        description=description,
        category_codes=" ".join(category_codes),
        place_prefixes=" ".join(place_prefixes),
        starts_on=starts_on,
        ends_on=ends_on,
        multiplier=multiplier,
        budget_points=budget_points,
        created_by_id=admin.id,
    )
    db.session.add(campaign)
    db.session.flush()
    static_cache.bump("campaigns")
    audit(
        admin,
        "campaign_created",
        campaign=campaign.id,
        name=name,
        categories=category_codes,
        places=place_prefixes,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
        multiplier=multiplier,
        budget_points=budget_points,
    )
    db.session.flush()
    return campaign
