"""The category taxonomy: 12 resident-facing groups, each with standard 5-digit sub-categories.

The data lives in ``data/categories.json`` (source named inside it; read by ``category_facts``) and is copied
into the database by ``sync_categories`` whenever the schema is upgraded, so reports can reference categories by code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from webapp import cache as static_cache
from webapp.db import db
from webapp.reports.category_facts import load_taxonomy
from webapp.reports.models import Category, CategoryGroup, TimeUnit


def sync_categories() -> int:
    """Insert or update every group and category from the data file; return the number of categories."""
    data = load_taxonomy()
    standard_ref = data["standard_ref"]
    existing_groups = {g.code: g for g in db.session.scalars(sa.select(CategoryGroup))}
    existing = {c.code: c for c in db.session.scalars(sa.select(Category))}
    seen: set[str] = set()
    for group_order, g in enumerate(data["groups"]):
        group = existing_groups.get(g["code"]) or CategoryGroup(code=g["code"])
        group.name_zh, group.name_en = g["name_zh"], g["name_en"]
        group.hint_zh, group.hint_en = g.get("hint_zh", ""), g.get("hint_en", "")
        group.owner_type = g.get("owner_type", "")
        group.sort_order = group_order
        db.session.add(group)
        for order, c in enumerate(g["categories"]):
            category = existing.get(c["code"]) or Category(code=c["code"])
            category.group_code = g["code"]
            category.name_zh, category.name_en = c["name_zh"], c["name_en"]
            category.kind = c["kind"]
            category.time_limit_value = int(c["time_limit"]["value"])
            category.time_limit_unit = TimeUnit(c["time_limit"]["unit"])
            category.volunteer_ok = bool(c["volunteer_ok"])
            category.safety_critical = bool(c["safety_critical"])
            category.local_extension = bool(c["local_extension"])
            category.standard_ref = "Citizen Grid local" if c["local_extension"] else standard_ref
            category.keywords_zh = c.get("keywords_zh", "")
            category.keywords_en = c.get("keywords_en", "")
            category.sort_order = group_order * 1000 + order
            category.active = True
            db.session.add(category)
            seen.add(c["code"])
    # Categories dropped from the data file stay in the database for old reports but are no longer offered.
    for code, category in existing.items():
        if code not in seen:
            category.active = False
    db.session.flush()
    static_cache.bump("taxonomy")
    return len(seen)


# --- The cached copy pages read ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CategoryInfo:
    """A category as pages show it: the row's values, read from the process's copy instead of the database."""

    code: str
    group_code: str
    name_zh: str
    name_en: str
    kind: str
    time_limit_value: int
    time_limit_unit: TimeUnit
    volunteer_ok: bool
    safety_critical: bool
    local_extension: bool
    standard_ref: str
    keywords_zh: str
    keywords_en: str
    sort_order: int
    active: bool
    group: GroupInfo = field(init=False, repr=False)

    # The same definitions as the model's (one place for each): names by language, time limit, data-file facts.
    name = Category.__dict__["name"]
    time_limit_label = Category.__dict__["time_limit_label"]
    volunteer_suitable = property(Category.__dict__["volunteer_suitable"].fget)
    sensitive = Category.__dict__["sensitive"]
    open311_attributes = Category.__dict__["open311_attributes"]


@dataclass(frozen=True, eq=False)
class GroupInfo:
    code: str
    name_zh: str
    name_en: str
    hint_zh: str
    hint_en: str
    owner_type: str
    sort_order: int
    categories: tuple[CategoryInfo, ...] = ()  # in display order, inactive ones included (old reports)

    name = CategoryGroup.__dict__["name"]
    hint = CategoryGroup.__dict__["hint"]


@dataclass(frozen=True)
class Taxonomy:
    groups: tuple[GroupInfo, ...]  # groups with at least one active category, in display order
    by_code: dict[str, CategoryInfo]  # every category, active or not
    # Markup pages built from this version (e.g. the report form's groups), thrown away with it.
    rendered: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


_CATEGORY_FIELDS = [f.name for f in fields(CategoryInfo) if f.init]
_GROUP_FIELDS = [f.name for f in fields(GroupInfo) if f.name != "categories"]


@static_cache.cached("taxonomy")
def taxonomy() -> Taxonomy:
    """Every group and category, in two queries; kept per process until the data changes (``sync_categories``)."""
    by_group: dict[str, list[CategoryInfo]] = {}
    by_code: dict[str, CategoryInfo] = {}
    for row in db.session.execute(sa.select(Category.__table__).order_by(Category.sort_order)).mappings():
        info = CategoryInfo(**{name: row[name] for name in _CATEGORY_FIELDS})
        by_group.setdefault(info.group_code, []).append(info)
        by_code[info.code] = info
    groups = []
    for row in db.session.execute(sa.select(CategoryGroup.__table__).order_by(CategoryGroup.sort_order)).mappings():
        members = tuple(by_group.get(row["code"], ()))
        group = GroupInfo(**{name: row[name] for name in _GROUP_FIELDS}, categories=members)
        for member in members:
            object.__setattr__(member, "group", group)
        if any(member.active for member in members):
            groups.append(group)
    return Taxonomy(tuple(groups), by_code)


def groups() -> list[GroupInfo]:
    """All groups with active categories, in display order (``group.categories`` lists inactive ones too)."""
    return list(taxonomy().groups)


def category_info(code: str | None) -> CategoryInfo | None:
    """A category (active or retired) for showing it; from the process's copy, no query."""
    return taxonomy().by_code.get(code) if code else None


def active_category(code: str | None) -> CategoryInfo | None:
    """An active category for checking a choice or showing it; from the process's copy, no query."""
    info = category_info(code)
    return info if info is not None and info.active else None


def category_name(code: str) -> str:
    info = category_info(code)
    return info.name if info is not None else code


def get_category(code: str | None) -> Category | None:
    """The active category as a row of this session, for services that link a report to it."""
    if active_category(code) is None:
        return None
    category = db.session.get(Category, code)
    return category if category is not None and category.active else None


def _name_bonus(text: str, name: str) -> int:
    """A category whose name is the query beats one whose name starts with it, which beats one containing it."""
    if name == text:
        return 300
    if name.startswith(text):
        return 150
    return 100 if text in name else 0


def search(query: str, limit: int = 12) -> list[CategoryInfo]:
    """Active categories best matching ``query`` in either language.

    Chinese is written without spaces, so a Chinese word also matches by its two-character pieces
    ("垃圾满了" finds 垃圾站（箱）满溢).
    """
    text = query.lower().strip()[:40]
    if not text:
        return []
    pieces: set[str] = set()
    for term in text.split():
        pieces.add(term)
        if not term.isascii() and len(term) > 2:
            pieces.update(term[i : i + 2] for i in range(len(term) - 1))
    scored: list[tuple[int, int, CategoryInfo]] = []
    for category in taxonomy().by_code.values():
        if not category.active:
            continue
        haystack = " ".join(
            (
                category.code,
                category.name_zh,
                category.name_en.lower(),
                category.keywords_zh,
                category.keywords_en.lower(),
            )
        )
        score = sum(len(piece) for piece in pieces if piece in haystack)
        score += max(_name_bonus(text, name) for name in (category.name_zh, category.name_en.lower()))
        if score:
            scored.append((-score, category.sort_order, category))
    scored.sort(key=lambda item: item[:2])
    return [category for *_, category in scored[:limit]]
