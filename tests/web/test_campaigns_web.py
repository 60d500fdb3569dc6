"""Campaign pages through the test client: anyone reads a published campaign (page and htmx case list), nobody
sees an unpublished one; only admins create (prefilled from a hotspot) and publish campaigns."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import HX, login, post, text
from tests.unit.cases import RUBBISH, make_case, make_grid
from webapp.accounts.models import Role
from webapp.campaigns import services
from webapp.db import db, utcnow
from webapp.localtime import local_date
from webapp.points.campaigns import create_campaign
from webapp.points.models import Campaign
from webapp.reports.status import ReportStatus

GRID = "140109001001001"


def today():  # type: ignore[no-untyped-def]
    return local_date(utcnow())


@pytest.fixture
def english(client):  # type: ignore[no-untyped-def]
    client.set_cookie("lang", "en")
    return client


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        users = {role: make_user(role) for role in (Role.ADMIN, Role.CITIZEN, Role.REVIEWER)}
        db.session.commit()
        return users


def _campaign(app, *, published: bool, cases: int = 0, name: str = "垃圾满溢专项整治") -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        admin = make_user(Role.ADMIN)
        make_grid(GRID)
        campaign = create_campaign(
            admin,
            name=name,
            description="两周",
            categories=f"{RUBBISH} 06010",
            places=GRID[:12],
            starts_on=today(),
            ends_on=today() + timedelta(days=13),
            multiplier=2,
            budget_points=500,
        )
        if published:
            services.set_published(admin, campaign, True)
        for n in range(cases):
            make_case(status=ReportStatus.ACCEPTED if n else ReportStatus.PENDING_REVIEW, grid_code=GRID)
        db.session.commit()
        return campaign.id


def test_anyone_reads_a_published_campaign(english, client, app):
    campaign_id = _campaign(app, published=True, cases=3)
    response = client.get(f"/campaigns/{campaign_id}")
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    page = text(response)
    assert "垃圾满溢专项整治" in page and "两周" in page
    assert "Overflowing bin or refuse station" in page and "×2 points" in page
    assert f"until {(today() + timedelta(days=13)).isoformat()}" in page
    assert "Reports received 3" in page and "2 cases accepted" in page
    body = response.get_data(as_text=True)
    assert '<svg class="cp-outline"' in body and '<svg class="cp-bar"' in body
    assert body.count('class="od-item"') == 2 and 'href="/reports/' in body


def test_the_case_list_is_paginated_as_page_and_fragment(client, app):
    campaign_id = _campaign(app, published=True, cases=13)  # 12 accepted: 10 + 2
    fragment = client.get(f"/campaigns/{campaign_id}?page=2", headers=HX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and "HX-Request" in fragment.headers["Vary"]
    assert body.count('class="od-item"') == 2 and 'rel="prev"' in body and "cp-bar" not in body
    full = client.get(f"/campaigns/{campaign_id}?page=2").get_data(as_text=True)
    assert "<html" in full and full.count('class="od-item"') == 2 and "cp-bar" in full
    assert client.get(f"/campaigns/{campaign_id}?page=x").status_code == 200


def test_unpublished_campaigns_do_not_exist_for_the_public(client, app, people):
    campaign_id = _campaign(app, published=False)
    assert client.get(f"/campaigns/{campaign_id}").status_code == 404
    assert client.get(f"/campaigns/{campaign_id}", headers=HX).status_code == 404
    assert "垃圾满溢专项整治" not in text(client.get("/campaigns"))
    assert "垃圾满溢专项整治" not in text(client.get("/"))
    login(client, people[Role.ADMIN])
    assert client.get(f"/campaigns/{campaign_id}").status_code == 404  # a public page, even for admins
    assert client.get("/campaigns/999999").status_code == 404


def test_the_list_home_page_and_report_form_show_current_campaigns(client, app):
    campaign_id = _campaign(app, published=True)
    with app.app_context():
        db.session.add(
            Campaign(
                name="去年的专项",
                category_codes=RUBBISH,
                starts_on=today() - timedelta(days=400),
                ends_on=today() - timedelta(days=380),
                multiplier=2,
            )
        )
        db.session.flush()
        old = db.session.scalar(sa.select(Campaign).where(Campaign.name == "去年的专项"))
        services.set_published(make_user(Role.ADMIN), old, True)
        db.session.commit()
    listing = client.get("/campaigns").get_data(as_text=True)
    current, past = listing.split('id="cp-past"')
    assert f'href="/campaigns/{campaign_id}"' in current and "去年的专项" in past
    home = client.get("/").get_data(as_text=True)
    assert f'href="/campaigns/{campaign_id}"' in home and "去年的专项" not in home
    form = client.get("/reports/new").get_data(as_text=True)
    assert 'class="cp-note cp-fold"' in form and f'href="/campaigns/{campaign_id}"' in form


# --- Admin: create from a hotspot, publish ------------------------------------------------------------------


def test_the_campaign_form_is_prefilled_from_a_hotspot(client, app, people):
    with app.app_context():
        make_grid(GRID)
        db.session.commit()
    login(client, people[Role.ADMIN])
    start, end = today() + timedelta(days=1), today() + timedelta(days=10)
    response = client.get(
        f"/admin/points/campaigns?grid={GRID}&category={RUBBISH}&category=06010&start={start}&end={end}"
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert re.search(rf'name="places"[^>]*value="{GRID}"', body)
    assert re.search(rf'name="categories"[^>]*value="{RUBBISH} 06010"', body)
    assert re.search(rf'name="starts_on"[^>]*value="{start.isoformat()}"', body)
    assert re.search(rf'name="ends_on"[^>]*value="{end.isoformat()}"', body)
    assert re.search(r'name="multiplier"[^>]*value="2"', body) and re.search(
        r'name="budget_points"[^>]*value="\d+"', body
    )
    assert 'id="hotspot-note"' in body and 'id="hotspot-problems"' not in body


def test_bad_hotspot_arguments_are_explained_with_400(english, client, app, people):
    login(client, people[Role.ADMIN])
    response = client.get("/admin/points/campaigns?grid=abc&category=99999&start=2026-02-30")
    assert response.status_code == 400
    page = text(response)
    assert "is not a grid code" in page and "There is no category" in page and "is not a date" in page
    assert client.get("/admin/points/campaigns").status_code == 200  # no hotspot: the empty form


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.REVIEWER])
def test_only_admins_create_and_publish_campaigns(client, app, people, role):
    campaign_id = _campaign(app, published=False)
    login(client, people[role])
    assert client.get(f"/admin/points/campaigns?grid={GRID}").status_code == 403
    assert post(client, f"/admin/campaigns/{campaign_id}/publish", {"published": "1"}).status_code == 403
    assert client.get(f"/campaigns/{campaign_id}").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, app):
    campaign_id = _campaign(app, published=False)
    assert client.get("/admin/points/campaigns").status_code == 302
    assert post(client, f"/admin/campaigns/{campaign_id}/publish", {"published": "1"}).status_code == 302


def test_an_admin_creates_a_published_campaign_and_can_hide_it(client, app, people):
    with app.app_context():
        make_grid(GRID)
        db.session.commit()
    login(client, people[Role.ADMIN])
    data = {
        "name": "井盖专项",
        "description": "",
        "categories": RUBBISH,
        "places": GRID,
        "starts_on": today().isoformat(),
        "ends_on": (today() + timedelta(days=5)).isoformat(),
        "multiplier": "3",
        "budget_points": "300",
        "published": "y",
    }
    assert post(client, "/admin/points/campaigns", data).status_code == 303
    with app.app_context():
        campaign_id = db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "井盖专项"))
    assert client.get(f"/campaigns/{campaign_id}").status_code == 200
    admin_page = client.get("/admin/points/campaigns").get_data(as_text=True)
    assert f'action="/admin/campaigns/{campaign_id}/publish"' in admin_page
    hidden = post(client, f"/admin/campaigns/{campaign_id}/publish", {"published": "0"})
    assert hidden.status_code == 303 and hidden.headers["Location"].endswith("/admin/points/campaigns")
    assert client.get(f"/campaigns/{campaign_id}").status_code == 404
    assert post(client, "/admin/campaigns/999999/publish", {"published": "1"}).status_code == 404
    # Not ticked: created but not public.
    assert post(client, "/admin/points/campaigns", {**data, "name": "不公开", "published": ""}).status_code == 303
    with app.app_context():
        quiet = db.session.scalar(sa.select(Campaign).where(Campaign.name == "不公开"))
        assert not services.is_published(quiet)
