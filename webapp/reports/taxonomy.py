"""The category taxonomy: 12 resident-facing groups, each with standard 5-digit sub-categories.

The data lives in ``data/categories.json`` (source named inside it; read by ``category_facts``) and is copied
into the database by ``sync_categories`` whenever the schema is upgraded, so reports can reference categories by code.
"""

from __future__ import annotations

import sqlalchemy as sa

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
    return len(seen)


def groups() -> list[CategoryGroup]:
    """All groups with their active categories, in display order."""
    result = db.session.scalars(sa.select(CategoryGroup).order_by(CategoryGroup.sort_order)).all()
    return [g for g in result if any(c.active for c in g.categories)]


def get_category(code: str | None) -> Category | None:
    if not code:
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


def search(query: str, limit: int = 12) -> list[Category]:
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
    scored: list[tuple[int, int, Category]] = []
    for category in db.session.scalars(sa.select(Category).where(Category.active.is_(True))):
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
