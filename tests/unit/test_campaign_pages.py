"""Public campaign pages: publishing, the campaign's cases and their progress, its area, and the prefill of a new
campaign from a hotspot."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from tests.factories import make_user
from tests.unit.cases import LITTER, RUBBISH, STREET_LIGHT, make_case, make_grid
from webapp.accounts.models import Role
from webapp.campaigns import prefill, services
from webapp.db import db
from webapp.errors import NotFound
from webapp.points.campaigns import create_campaign
from webapp.points.models import FundAudit
from webapp.reports.status import ReportStatus

START = date(2026, 5, 10)
END = date(2026, 5, 20)
IN_AREA = "140109001001001"
ELSEWHERE = "140109002001001"


def at(day: date, hour: int = 4) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def admin(ctx):  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


@pytest.fixture
def campaign(admin):  # type: ignore[no-untyped-def]
    return create_campaign(
        admin,
        name="垃圾满溢专项整治",
        categories=f"{RUBBISH} {LITTER}",
        places="140109001",
        starts_on=START,
        ends_on=END,
        multiplier=2,
        budget_points=1000,
        today=START,
    )


def test_publishing_is_audited_and_unpublished_campaigns_are_not_found(admin, campaign):
    with pytest.raises(NotFound):
        services.get_public(campaign.id)
    page = services.set_published(admin, campaign, True)
    assert page.published and page.published_at is not None
    assert services.get_public(campaign.id) is campaign
    assert services.published_ids() == {campaign.id}
    services.set_published(admin, campaign, False)
    with pytest.raises(NotFound):
        services.get_public(campaign.id)
    with pytest.raises(NotFound):
        services.get_public(campaign.id + 99)
    actions = list(db.session.scalars(sa.select(FundAudit.action).order_by(FundAudit.id)))
    assert actions == ["campaign_created", "campaign_published", "campaign_unpublished"]


def test_progress_counts_by_hand(campaign):
    make_grid(IN_AREA)
    make_grid(ELSEWHERE, lat=37.87)
    due = at(START + timedelta(days=2))
    inside = {"grid_code": IN_AREA}
    # Its cases: 2 closed (one on time, one late), 1 closed without a deadline, 1 being handled, 1 waiting for
    # review, 1 not accepted. The last day counts until local midnight.
    make_case(
        status=ReportStatus.CLOSED, created_at=at(START), due_at=due, closed_at=due - timedelta(hours=1), **inside
    )
    make_case(
        status=ReportStatus.CLOSED, created_at=at(START), due_at=due, closed_at=due + timedelta(hours=1), **inside
    )
    make_case(status=ReportStatus.CLOSED, category_code=LITTER, created_at=at(START), closed_at=at(END), **inside)
    make_case(status=ReportStatus.DISPATCHED, created_at=at(END, 15), **inside)  # 23:00 in China on the last day
    make_case(status=ReportStatus.PENDING_REVIEW, created_at=at(START + timedelta(days=1)), **inside)
    make_case(status=ReportStatus.REJECTED, created_at=at(START + timedelta(days=1)), **inside)
    # Not its cases: another category, another place, no place, before and after its days.
    make_case(status=ReportStatus.ACCEPTED, category_code=STREET_LIGHT, created_at=at(START), **inside)
    make_case(status=ReportStatus.ACCEPTED, created_at=at(START), grid_code=ELSEWHERE)
    make_case(status=ReportStatus.ACCEPTED, created_at=at(START), grid_code=None)
    make_case(status=ReportStatus.ACCEPTED, created_at=at(START - timedelta(days=1), 15), **inside)  # 23:00 the eve
    make_case(status=ReportStatus.ACCEPTED, created_at=at(END, 16), **inside)  # 00:00 the day after
    progress = services.progress(campaign)
    assert progress == services.Progress(
        received=6, waiting=1, in_progress=1, closed=3, not_accepted=1, closed_due=2, on_time=1
    )
    assert progress.on_time_rate == 0.5
    bar = progress.bar(width=300)
    assert [(kind, n) for kind, n, _, _ in bar] == [
        ("closed", 3),
        ("in_progress", 1),
        ("waiting", 1),
        ("not_accepted", 1),
    ]
    assert bar[0][2:] == (0.0, 150.0) and bar[-1][2] + bar[-1][3] == pytest.approx(300)
    # The public list: the 4 accepted cases, newest first, through the open-data privacy rule.
    page = services.cases(campaign, 1, per_page=3)
    assert (page.total, page.pages, len(page.items)) == (4, 2, 3)
    assert page.items[0].status is ReportStatus.DISPATCHED


def test_a_campaign_everywhere_counts_every_place(admin):
    everywhere = create_campaign(
        admin, name="全城", categories=RUBBISH, starts_on=START, ends_on=END, multiplier=1, budget_points=0, today=START
    )
    make_case(status=ReportStatus.ACCEPTED, created_at=at(START), grid_code=None)
    assert services.progress(everywhere).received == 1
    assert services.area(everywhere).everywhere


def test_the_area_is_named_and_outlined(campaign):
    make_grid(IN_AREA)
    make_grid("140109001001002", lat=37.8611)
    make_grid(ELSEWHERE)
    area = services.area(campaign)
    assert not area.everywhere and area.grid_count == 2
    assert [n for _, n in area.names] == [1, 1]
    assert len(area.paths) == 2 and all(d.startswith("M") and d.endswith("Z") for d in area.paths)
    x, y, width, height = (float(v) for v in area.view_box.split())
    assert (x, y) == (-2, -2) and height > width  # two grids one above the other: taller than wide


def test_listing_sorts_published_campaigns_into_current_upcoming_and_past(admin, campaign):
    later = create_campaign(
        admin, name="下月", categories=RUBBISH, starts_on=END + timedelta(days=5), ends_on=END + timedelta(days=9),
        multiplier=2, budget_points=10, today=START,
    )  # fmt: skip
    hidden = create_campaign(
        admin, name="未公开", categories=RUBBISH, starts_on=START, ends_on=END, multiplier=2, budget_points=10,
        today=START,
    )  # fmt: skip
    for c in (campaign, later):
        services.set_published(admin, c, True)
    listing = services.public_campaigns(today=START)
    ids = [[c.id for c in part] for part in (listing.current, listing.upcoming, listing.past)]
    assert ids == [[campaign.id], [later.id], []]
    assert [c.id for c in services.public_campaigns(today=END + timedelta(days=30)).past] == [later.id, campaign.id]
    assert [c.id for c in services.current_public(today=START)] == [campaign.id]
    assert hidden.id not in [c.id for c in services.current_public(today=START)]


# --- From a hotspot -----------------------------------------------------------------------------------------


def test_a_hotspot_fills_in_the_form(admin):
    make_grid(IN_AREA)
    make_grid("140109001001002", lat=37.8611)
    window = (date(2026, 5, 1), date(2026, 5, 14))  # 14 days, in the past
    for day in range(1, 8):
        make_case(status=ReportStatus.ACCEPTED, created_at=at(date(2026, 5, day)), grid_code=IN_AREA)
    args = MultiDict(
        [
            ("grid", IN_AREA),
            ("grid", "140109001001002"),
            ("category", RUBBISH),
            ("start", "2026-05-01"),
            ("end", "2026-05-14"),
        ]
    )
    result = prefill.from_hotspot(args, today=date(2026, 6, 1))
    assert result.problems == [] and result.hotspot_reports == 7
    values = result.values
    assert values["places"] == f"{IN_AREA} 140109001001002" and values["categories"] == RUBBISH
    # The hotspot's window is over: the campaign starts today and lasts as long (14 days).
    assert (values["starts_on"], values["ends_on"]) == (date(2026, 6, 1), date(2026, 6, 14))
    assert values["multiplier"] == 2
    # 7 reports in 14 days → 7 expected in 14 days × 5 base points × (2 − 1) = 35 → rounded up to 100.
    assert values["budget_points"] == 100
    assert values["name"] and "2026-05-01" in values["description"] and window


def test_a_future_window_is_kept_and_a_street_prefix_is_accepted(admin):
    make_grid(IN_AREA)
    args = MultiDict(
        [("grid", "140109001"), ("category", f"{RUBBISH},{LITTER}"), ("start", "2026-07-01"), ("end", "2026-07-31")]
    )
    result = prefill.from_hotspot(args, today=date(2026, 6, 1))
    assert result.problems == []
    assert (result.values["starts_on"], result.values["ends_on"]) == (date(2026, 7, 1), date(2026, 7, 31))
    assert result.values["places"] == "140109001" and result.values["categories"] == f"{RUBBISH} {LITTER}"


def test_bad_hotspot_arguments_are_left_out_and_explained(admin):
    make_grid(IN_AREA)
    args = MultiDict(
        [
            ("grid", IN_AREA),
            ("grid", "999999999999999"),
            ("grid", "abc"),
            ("category", "99999"),
            ("start", "2026-02-30"),
        ]
    )
    result = prefill.from_hotspot(args, today=date(2026, 6, 1))
    assert len(result.problems) == 4
    assert result.values["places"] == IN_AREA and result.values["categories"] == ""
    assert (result.values["ends_on"] - result.values["starts_on"]).days == prefill.DEFAULT_DAYS - 1
    assert prefill.from_hotspot(MultiDict(), today=date(2026, 6, 1)).values == {}


def test_outline_of_nothing_is_empty():
    assert services.outline([]) == ("", [])
    ring = json.loads("[[112.0, 37.0], [112.01, 37.0], [112.01, 37.01], [112.0, 37.01], [112.0, 37.0]]")
    view_box, [path] = services.outline([ring], width=100)
    assert path.startswith("M0.0,") and view_box.startswith("-2 -2 ")
