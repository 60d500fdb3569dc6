"""Routing (派遣 target): the most specific rule wins, then the grid's own department (属地), then the district's
fallback (兜底), then any fallback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.cases import RUBBISH, STREET_LIGHT, make_department, make_grid
from webapp.accounts.models import Department
from webapp.db import db
from webapp.reports.models import Category
from webapp.review.models import RoutingRule
from webapp.review.routing import route

GRID = "140109001001001"
OTHER_GRID_SAME_STREET = "140109001002001"
OTHER_STREET_GRID = "140109002001001"
OTHER_DISTRICT_GRID = "140105001001001"


def category(code: str = RUBBISH) -> Category:
    return db.session.get(Category, code)


def rule(department: Department, **where: Any) -> RoutingRule:
    row = RoutingRule(department=department, **where)
    db.session.add(row)
    db.session.flush()
    return row


def test_nothing_set_up_routes_nowhere(ctx):
    assert route(category(), None) is None
    assert route(category(), make_grid(GRID)) is None


def test_the_grids_own_department_handles_it_without_a_rule(ctx):
    street_office = make_department(name="千峰街道办")
    make_department(fallback=True)
    assert route(category(), make_grid(GRID, department=street_office)) is street_office


def test_an_inactive_grid_department_gives_way_to_the_district_fallback(ctx):
    closed = make_department(active=False)
    fallback = make_department(fallback=True)
    assert route(category(), make_grid(GRID, department=closed)) is fallback


def test_the_districts_own_fallback_beats_another_districts(ctx):
    elsewhere = make_department(district_code="140105", fallback=True)
    inactive_local = make_department(fallback=True, active=False)
    local = make_department(fallback=True)
    assert inactive_local.id < local.id
    assert route(category(), make_grid(GRID)) is local
    assert route(category(), make_grid(OTHER_DISTRICT_GRID)) is elsewhere


def test_outside_every_grid_any_active_fallback_is_used(ctx):
    make_department(fallback=True, active=False)
    first = make_department(district_code="140105", fallback=True)
    make_department(fallback=True)
    make_department()  # not a fallback at all
    assert route(category(), None) is first


def test_a_rule_beats_the_grid_department_and_the_fallback(ctx):
    owner, sanitation = make_department(), make_department()
    make_department(fallback=True)
    grid = make_grid(GRID, department=owner)
    rule(sanitation, district_code="140109")
    assert route(category(), grid) is sanitation


@pytest.mark.parametrize(
    ("winner", "losers"),
    [
        ("category", ["group", "any"]),
        ("group", ["any"]),
    ],
)
def test_category_beats_group_beats_any(ctx, winner, losers):
    departments = {name: make_department(code=name) for name in ("category", "group", "any")}
    what = {"category": {"category_code": RUBBISH}, "group": {"group_code": "D"}, "any": {}}
    for name in [winner, *losers]:
        rule(departments[name], **what[name])
    assert route(category(), make_grid(GRID)) is departments[winner]
    assert route(category(), None) is departments[winner]


def test_what_matters_more_than_where(ctx):
    anywhere_for_the_category = make_department()
    grid_for_the_group = make_department()
    grid = make_grid(GRID)
    rule(anywhere_for_the_category, category_code=RUBBISH)
    rule(grid_for_the_group, group_code="D", grid_code=GRID)
    assert route(category(), grid) is anywhere_for_the_category


def test_grid_beats_street_beats_district_beats_anywhere(ctx):
    grid = make_grid(GRID)
    places = [
        ("grid", {"grid_code": GRID}),
        ("street", {"street_code": GRID[:9]}),
        ("district", {"district_code": GRID[:6]}),
        ("anywhere", {}),
    ]
    departments = {name: make_department(code=name) for name, _ in places}
    # Add the least specific first, and check after each that the newest (more specific) rule wins.
    for name, where in reversed(places):
        rule(departments[name], category_code=RUBBISH, **where)
        assert route(category(), grid) is departments[name], name


def test_rules_for_other_places_and_categories_do_not_match(ctx):
    grid = make_grid(GRID)
    make_grid(OTHER_GRID_SAME_STREET)
    fallback = make_department(fallback=True)
    other = make_department()
    rule(other, grid_code=OTHER_GRID_SAME_STREET)
    rule(other, street_code=OTHER_STREET_GRID[:9])
    rule(other, district_code="140105")
    rule(other, category_code=STREET_LIGHT)
    rule(other, group_code="B")
    assert route(category(), grid) is fallback
    assert route(category(STREET_LIGHT), grid) is other


def test_outside_every_grid_only_rules_for_anywhere_match(ctx):
    anywhere, district = make_department(), make_department()
    rule(district, category_code=RUBBISH, district_code="140109")
    assert route(category(), None) is None
    rule(anywhere, category_code=RUBBISH)
    assert route(category(), None) is anywhere


def test_a_rule_for_an_inactive_department_is_skipped(ctx):
    closed, group_level = make_department(active=False), make_department()
    grid = make_grid(GRID)
    rule(closed, category_code=RUBBISH, grid_code=GRID)
    rule(group_level, group_code="D")
    assert route(category(), grid) is group_level
