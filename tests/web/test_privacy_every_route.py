"""Every public route, taken from the URL map, as an anonymous visitor and as another resident: nothing of a
sensitive report, nothing of a report still waiting for review, and no unmasked phone or ID-card number appears.

The reports: a sensitive one (a noisy neighbour) and a normal one, both accepted by the review team, whose
descriptions carry a phone number, an ID-card-like number and a marker word; and a normal one still waiting for
review. The normal accepted report is public (its description shows, with the numbers masked); the other two show
only category, status and a coarse place. Their photos are refused by /media/ to anyone but the reporter and staff.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from werkzeug.routing import BuildError

from tests.factories import jpeg_bytes, make_report, make_user, mark_accepted
from tests.helpers import HX, login
from tests.unit.cases import make_grid
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.localtime import local_date
from webapp.points.campaigns import create_campaign
from webapp.reports.privacy import is_sensitive

MARKER = "ZEBRAQUOKKA"  # never public: in the sensitive and the unreviewed reports only
VISIBLE = "PUBLICPELICAN"  # public: in the accepted normal report
NUMBERS = {
    "sensitive": ("13712345678", "14010919800101123X"),
    "normal": ("13912345678", "140109198001011234"),
    "pending": ("13812345678", "140109199002023456"),
}
# Any of these digits runs, also written with spaces or hyphens, is a leak.
LEAKS = [re.compile(r"[\s-]?".join(re.escape(c) for c in number)) for pair in NUMBERS.values() for number in pair]
NOISE, RUBBISH = "06028", "06042"
SKIP_ENDPOINTS = {"static"}


@pytest.fixture
def world(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert is_sensitive(NOISE) and not is_sensitive(RUBBISH)
    with app.app_context():
        make_grid()
        reporter, other = make_user(phone="13800000301"), make_user(phone="13800000302")
        admin = make_user(Role.ADMIN)
        sensitive = make_report(
            reporter,
            category_code=NOISE,
            description=f"{MARKER} 楼上 402 每晚装修，电话 {NUMBERS['sensitive'][0]}，身份证 {NUMBERS['sensitive'][1]}",
            address=f"{MARKER} 兴华街 12 号 3 单元 402 室",
            photos=[jpeg_bytes((10, 200, 10), pattern=3)],
        )
        normal = make_report(
            reporter,
            category_code=RUBBISH,
            description=f"{VISIBLE} 垃圾满了，电话 {NUMBERS['normal'][0]}，身份证 {NUMBERS['normal'][1]}",
            photos=[jpeg_bytes((10, 10, 200), pattern=5)],
        )
        pending = make_report(
            reporter,
            category_code=RUBBISH,
            description=f"{MARKER} 还没审核，电话 {NUMBERS['pending'][0]}，身份证 {NUMBERS['pending'][1]}",
            address=f"{MARKER} 千峰南路 7 号",
            photos=[jpeg_bytes((200, 200, 10), pattern=7)],
        )
        today = local_date(utcnow())
        campaign = create_campaign(
            admin, name="专项", categories=f"{NOISE} {RUBBISH}", starts_on=today, ends_on=today, multiplier=1,
            budget_points=10,
        )  # fmt: skip
        from webapp.campaigns import services as campaign_pages

        campaign_pages.set_published(admin, campaign, True)
        db.session.commit()
        ids = {"sensitive": sensitive.id, "normal": normal.id, "pending": pending.id}
        keys = {
            name: [key for photo in report.photos for key in (photo.display_key, photo.thumb_key)]
            for name, report in (("sensitive", sensitive), ("normal", normal), ("pending", pending))
        }
        world = {"ids": ids, "keys": keys, "reporter": reporter, "other": other, "campaign": campaign.id}
    for name in ("sensitive", "normal"):
        with app.app_context():
            mark_accepted(ids[name])
    return world


def _values(rule, world: dict[str, Any]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every combination of sensible values for the rule's arguments."""
    choices: list[list[tuple[str, Any]]] = []
    for name in sorted(rule.arguments):
        converter = rule._converters.get(name)
        if name in ("report_id", "request_id"):
            options: list[Any] = list(world["ids"].values())
        elif name == "key":
            options = [key for keys in world["keys"].values() for key in keys]
        elif name == "campaign_id":
            options = [world["campaign"]]
        elif getattr(converter, "items", None):
            options = sorted(converter.items)
        elif type(converter).__name__ in ("DatabaseId", "IntegerConverter"):
            options = [1]
        else:
            options = ["1"]
        choices.append([(name, option) for option in options])
    return [dict(combination) for combination in itertools.product(*choices)]


def public_urls(app, world: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    adapter = app.url_map.bind("localhost")
    urls: set[str] = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in SKIP_ENDPOINTS:
            continue
        for values in _values(rule, world):
            try:
                urls.add(adapter.build(rule.endpoint, values, force_external=False))
            except (BuildError, ValueError):
                continue
    extra = [f"/open311/v2/requests.{fmt}?service_request_id={','.join(map(str, world['ids'].values()))}"
             for fmt in ("json", "xml")]  # fmt: skip
    extra += ["/reports?status=pending_review", "/open-data?category=06028", "/open-data/reports.csv?category=06028"]
    extra += [f"/reports/nearby?category={RUBBISH}&lat=37.8601&lon=112.518"]
    return sorted(urls) + extra


def check(response, url: str, hidden_keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, url
    body = response.get_data(as_text=True) if not response.mimetype.startswith("image/") else ""
    assert MARKER not in body, f"{url} shows a marker word"
    for leak in LEAKS:
        assert not leak.search(body), f"{url} shows an unmasked number {leak.pattern}"
    for key in hidden_keys:
        assert key not in body, f"{url} links a photo that is not public"


@pytest.mark.parametrize("viewer", ["anonymous", "other resident"])
def test_no_public_route_shows_what_it_must_not(app, client, world, viewer):
    if viewer == "other resident":
        login(client, world["other"])
    urls = public_urls(app, world)
    assert len(urls) > 40  # the URL map, not a hand list
    assert any(url.startswith("/open311/v2/requests/") for url in urls)
    hidden_keys = world["keys"]["sensitive"] + world["keys"]["pending"]
    for url in urls:
        if url.startswith("/media/"):
            continue  # below
        check(client.get(url), url, hidden_keys)
        check(client.get(url, headers=HX), url, hidden_keys)
    # The photos of the sensitive and the unreviewed report are refused; the public one is served.
    for name in ("sensitive", "pending"):
        for key in world["keys"][name]:
            assert client.get(f"/media/{key}").status_code == 404
    public_photo = client.get(f"/media/{world['keys']['normal'][0]}")
    assert public_photo.status_code == 200 and "private" not in public_photo.headers["Cache-Control"]
    # Not vacuous: the public report is shown, its numbers masked.
    page = client.get(f"/reports/{world['ids']['normal']}").get_data(as_text=True)
    assert VISIBLE in page and "电话 ***" in page
    assert VISIBLE in client.get(f"/open311/v2/requests/{world['ids']['normal']}.json").get_data(as_text=True)


def test_the_reporter_sees_everything_privately(app, client, world):
    login(client, world["reporter"])
    for name in ("sensitive", "pending"):
        page = client.get(f"/reports/{world['ids'][name]}").get_data(as_text=True)
        assert MARKER in page and NUMBERS[name][0] in page
        photo = client.get(f"/media/{world['keys'][name][0]}")
        cache = photo.headers["Cache-Control"]
        assert photo.status_code == 200 and cache.startswith("private") and "immutable" not in cache
