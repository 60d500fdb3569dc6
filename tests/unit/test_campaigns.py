"""Creating campaigns (专项整治): every value checked, nothing written unless all are good, and audited."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_report, make_user
from webapp import localtime
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.points import awards, campaigns
from webapp.points.campaigns import CampaignError, create_campaign, split_codes
from webapp.points.models import Campaign, FundAudit

TODAY = date(2026, 5, 10)


@pytest.fixture
def admin(ctx):  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


def good(**overrides):  # type: ignore[no-untyped-def]
    values = {
        "name": " 井盖专项整治 ",
        "description": "五月",
        "categories": "01001 01002, 01002",
        "places": "140109 140109001",
        "starts_on": TODAY,
        "ends_on": TODAY + timedelta(days=20),
        "multiplier": 3,
        "budget_points": 500,
        "today": TODAY,
    }
    values.update(overrides)
    return values


def rows() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)),
        db.session.scalar(sa.select(sa.func.count()).select_from(FundAudit)),
    )


def test_a_campaign_is_created_and_audited(admin):
    campaign = create_campaign(admin, **good())
    assert campaign.id and campaign.name == "井盖专项整治" and campaign.description == "五月"
    assert campaign.categories == ["01001", "01002"]  # repeats dropped, order kept
    assert campaign.places == ["140109", "140109001"]
    assert (campaign.starts_on, campaign.ends_on, campaign.multiplier, campaign.budget_points) == (
        TODAY,
        TODAY + timedelta(days=20),
        3,
        500,
    )
    assert campaign.created_by_id == admin.id
    audit = db.session.scalar(sa.select(FundAudit))
    assert audit.action == "campaign_created" and audit.actor_id == admin.id
    details = json.loads(audit.details_json)
    assert details["campaign"] == campaign.id and details["categories"] == ["01001", "01002"]
    assert details["multiplier"] == 3 and details["budget_points"] == 500 and details["ends_on"] == "2026-05-30"


def test_codes_may_come_as_a_list_and_places_may_be_empty(admin):
    campaign = create_campaign(admin, **good(categories=["06042"], places=[]))
    assert campaign.categories == ["06042"] and campaign.places == []


def test_a_one_day_campaign_starting_today_is_fine(admin):
    campaign = create_campaign(admin, **good(ends_on=TODAY))
    assert campaigns.status(campaign, TODAY) == "active"


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("06042 06010", ["06042", "06010"]),
        ("06042,06010，06042\n06011;06012、06013", ["06042", "06010", "06011", "06012", "06013"]),
        ("  ", []),
        ("", []),
    ],
)
def test_split_codes(text, codes):
    assert split_codes(text) == codes


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "长" * 81}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"categories": ""}, "categories"),
        ({"categories": "1234"}, "categories"),
        ({"categories": "１２３４５"}, "categories"),  # full-width digits are not a code
        ({"categories": "01001 00000"}, "categories"),  # no such category
        ({"categories": " ".join(f"{n:05d}" for n in range(1001, 1102))}, "categories"),  # too many
        ({"places": "1401-09"}, "places"),
        ({"places": "1" * 16}, "places"),
        ({"ends_on": TODAY - timedelta(days=1)}, "ends_on"),  # ends before it starts
        ({"starts_on": TODAY - timedelta(days=9), "ends_on": TODAY - timedelta(days=1)}, "ends_on"),  # already over
        ({"starts_on": TODAY - timedelta(days=1)}, "starts_on"),  # starts in the past
        ({"multiplier": 0}, "multiplier"),
        ({"multiplier": 11}, "multiplier"),
        ({"multiplier": True}, "multiplier"),
        ({"multiplier": 2.5}, "multiplier"),
        ({"budget_points": -1}, "budget_points"),
        ({"budget_points": campaigns.BUDGET_MAX + 1}, "budget_points"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(admin, overrides, field):
    before = rows()
    with pytest.raises(CampaignError) as refused:
        create_campaign(admin, **good(**overrides))
    assert refused.value.field == field and refused.value.status == 422 and str(refused.value.message)
    assert rows() == before


def test_a_retired_category_is_refused(admin):
    from webapp.reports.models import Category

    db.session.get(Category, "01001").active = False
    db.session.flush()
    with pytest.raises(CampaignError, match="01001"):
        create_campaign(admin, **good())


def test_status_on_a_day():
    campaign = Campaign(name="x", starts_on=TODAY, ends_on=TODAY + timedelta(days=2))
    assert campaigns.status(campaign, TODAY - timedelta(days=1)) == "scheduled"
    assert campaigns.status(campaign, TODAY) == "active"
    assert campaigns.status(campaign, TODAY + timedelta(days=2)) == "active"
    assert campaigns.status(campaign, TODAY + timedelta(days=3)) == "ended"


def test_all_campaigns_newest_first(admin):
    first = create_campaign(admin, **good(name="一"))
    later = create_campaign(admin, **good(name="二", starts_on=TODAY + timedelta(days=5)))
    assert campaigns.all_campaigns() == [later, first]


def test_a_created_campaign_pays_its_bonus(admin):
    """The campaign made here is the one the awards find: base 5 × 3, the bonus within the budget."""
    today = localtime.local_date(utcnow())
    create_campaign(admin, **good(categories="06042", places="", today=today, starts_on=today, ends_on=today))
    report = make_report(make_user(Role.CITIZEN), category_code="06042")
    paid = awards.award_report(report)
    assert [sum(e.amount for e in t.entries if e.amount > 0) for t in paid] == [5, 10]
