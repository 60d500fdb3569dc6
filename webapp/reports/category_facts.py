"""The category data file, read once: the facts each category carries besides its name.

``data/categories.json`` is the one definition of the taxonomy and of these facts (its ``facts`` entry explains
each): ``sensitive`` (privacy coarsens such reports), ``volunteer_ok`` and ``safety_critical`` (together: may
volunteers handle it, ``Category.volunteer_suitable``) and ``open311_attributes`` (the Open311 questions asked).
This module imports neither Flask nor the models, so models and pure functions can read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("data") / "categories.json"


@cache
def load_taxonomy() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CategoryFacts:
    code: str
    sensitive: bool = False
    volunteer_ok: bool = False
    safety_critical: bool = False
    open311_attributes: tuple[str, ...] = ()


@cache
def _by_code() -> dict[str, CategoryFacts]:
    return {
        c["code"]: CategoryFacts(
            code=c["code"],
            sensitive=bool(c.get("sensitive", False)),
            volunteer_ok=bool(c["volunteer_ok"]),
            safety_critical=bool(c["safety_critical"]),
            open311_attributes=tuple(c.get("open311_attributes", ())),
        )
        for g in load_taxonomy()["groups"]
        for c in g["categories"]
    }


def facts(code: str | None) -> CategoryFacts:
    """The facts of category ``code``; an unknown code (a category dropped from the file) has none."""
    return _by_code().get(code or "", CategoryFacts(code or ""))


@cache
def sensitive_codes() -> frozenset[str]:
    return frozenset(code for code, f in _by_code().items() if f.sensitive)


def open311_attribute_definitions() -> dict[str, dict[str, Any]]:
    """Open311 attribute code → its definition (datatype, descriptions, values …) from the data file."""
    return load_taxonomy()["open311_attributes"]
