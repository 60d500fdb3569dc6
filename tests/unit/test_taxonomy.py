from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.db import db
from webapp.reports import category_facts, privacy, taxonomy
from webapp.reports.models import Category, CategoryGroup, TimeUnit


def test_data_file_names_its_source_and_has_twelve_groups():
    data = taxonomy.load_taxonomy()
    assert "GB/T 47678.5-2026" in data["source"] and "city-inspection-ai" in data["source"]
    assert [g["code"] for g in data["groups"]] == list("ABCDEFGHIJKL")


def test_codes_are_unique_five_digits_and_well_formed():
    seen: set[str] = set()
    for group in taxonomy.load_taxonomy()["groups"]:
        assert group["name_zh"] and group["name_en"] and group["categories"]
        for c in group["categories"]:
            assert re.fullmatch(r"\d{5}", c["code"]), c
            assert c["code"] not in seen
            seen.add(c["code"])
            assert c["name_zh"] and c["name_en"]
            assert c["kind"] in {"component", "event"}
            assert c["time_limit"]["unit"] in {u.value for u in TimeUnit} and c["time_limit"]["value"] > 0
            assert c["local_extension"] == c["code"].startswith("9")
    assert len(seen) > 200


def test_safety_rules():
    by_code = {c["code"]: c for g in taxonomy.load_taxonomy()["groups"] for c in g["categories"]}
    for c in by_code.values():
        assert not (c["volunteer_ok"] and c["safety_critical"]), f"{c['code']} is safety-critical"
    # Manhole covers and the emergency group are always safety-critical; simple litter may be self-handled.
    assert by_code["01001"]["safety_critical"] and by_code["90002"]["safety_critical"]
    assert by_code["09012"]["safety_critical"]  # blocked fire lane
    assert by_code["06010"]["volunteer_ok"] and by_code["07001"]["volunteer_ok"]


def test_sync_loads_the_database(ctx):
    groups = db.session.scalar(sa.select(sa.func.count()).select_from(CategoryGroup))
    categories = db.session.scalar(sa.select(sa.func.count()).select_from(Category))
    assert groups == 12 and categories > 200
    light = taxonomy.get_category("01037")
    assert light.name_zh == "路灯" and light.group.code == "B" and light.standard_ref == "GB/T 47678.5-2026"
    assert taxonomy.get_category("90001").standard_ref == "Citizen Grid local"
    assert taxonomy.get_category("99999") is None and taxonomy.get_category("") is None


def test_sync_is_repeatable_and_retires_dropped_categories(ctx):
    extra = Category(
        code="88888",
        group_code="A",
        name_zh="旧类别",
        name_en="Old",
        kind="event",
        time_limit_value=1,
        time_limit_unit=TimeUnit.WORK_DAYS,
        standard_ref="old",
    )
    db.session.add(extra)
    db.session.flush()
    count = taxonomy.sync_categories()
    assert count == db.session.scalar(sa.select(sa.func.count()).select_from(Category).where(Category.active))
    assert taxonomy.get_category("88888") is None  # kept for old reports, no longer offered


def test_search_in_chinese_and_english(ctx):
    assert taxonomy.search("路灯")[0].code == "01037"
    assert "06042" in [c.code for c in taxonomy.search("垃圾满了")]
    assert "09012" in [c.code for c in taxonomy.search("消防通道")]
    assert "01037" in [c.code for c in taxonomy.search("streetlight")] + [
        c.code for c in taxonomy.search("street light")
    ]
    assert taxonomy.search("") == [] and taxonomy.search("   ") == []
    assert len(taxonomy.search("井盖", limit=3)) == 3


def test_groups_in_display_order(ctx):
    groups = taxonomy.groups()
    assert [g.code for g in groups] == list("ABCDEFGHIJKL")
    assert groups[1].categories[0].sort_order < groups[1].categories[-1].sort_order


def test_category_facts_come_from_the_data_file(ctx):
    """Sensitive, the Open311 questions and volunteer suitability are properties of Category, defined once."""
    by_code = {c["code"]: c for g in taxonomy.load_taxonomy()["groups"] for c in g["categories"]}
    categories = {c.code: c for c in db.session.scalars(sa.select(Category))}
    for code, row in by_code.items():
        category = categories[code]
        assert category.sensitive is bool(row.get("sensitive")) is privacy.is_sensitive(code)
        assert category.open311_attributes == tuple(row.get("open311_attributes", ()))
        assert category.volunteer_suitable is (row["volunteer_ok"] and not row["safety_critical"])
    assert {"06028", "01012", "91002"} <= category_facts.sensitive_codes()  # a noisy neighbour, police, a flat
    assert not privacy.is_sensitive("90002") and not privacy.is_sensitive(None)  # a gas leak warns people away
    suitable = set(db.session.scalars(sa.select(Category.code).where(Category.volunteer_suitable)))
    assert suitable == {code for code, c in categories.items() if c.volunteer_suitable} and suitable
