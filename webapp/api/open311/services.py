"""Open311 service definitions: our active categories as services, and the extra questions (attributes) a few
services ask. The questions and which category asks them are category facts (data/categories.json)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from webapp.api.open311.base import Open311Error
from webapp.reports import category_facts
from webapp.reports.models import Category

# --- Service definitions: the extra questions a few services ask ------------------------------------------------

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (§3.4). Texts are kept in both languages; keys are stable."""

    code: str
    datatype: str
    description_zh: str
    description_en: str
    required: bool = False
    variable: bool = True  # False: informational text, no input
    values: tuple[tuple[str, str, str], ...] = ()  # (key, name_zh, name_en) for the list types
    datatype_description_zh: str = ""
    datatype_description_en: str = ""
    max_length: int = 200

    @property
    def keys(self) -> list[str]:
        return [key for key, _zh, _en in self.values]

    def value_name(self, key: str, *, english: bool = False) -> str:
        for value_key, zh, en in self.values:
            if value_key == key:
                return en if english else zh
        return key

    def as_open311(self, order: int, *, english: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": (self.datatype_description_en if english else self.datatype_description_zh) or None,
            "order": order,
            "description": self.description_en if english else self.description_zh,
        }
        if self.datatype in ("singlevaluelist", "multivaluelist"):
            data["values"] = [{"key": key, "name": en if english else zh} for key, zh, en in self.values]
        return data


@cache
def attribute_definitions() -> dict[str, Attribute]:
    """Every question a service may ask, by code, from the category data file (``open311_attributes``)."""
    return {
        code: Attribute(
            code=code,
            datatype=spec["datatype"],
            description_zh=spec["description_zh"],
            description_en=spec["description_en"],
            required=bool(spec.get("required", False)),
            variable=bool(spec.get("variable", True)),
            values=tuple((key, zh, en) for key, zh, en in spec.get("values", ())),
            datatype_description_zh=spec.get("datatype_description_zh", ""),
            datatype_description_en=spec.get("datatype_description_en", ""),
            max_length=int(spec.get("max_length", 200)),
        )
        for code, spec in category_facts.open311_attribute_definitions().items()
    }


def attributes_for(service_code: str) -> tuple[Attribute, ...]:
    """The questions of a service: its category's ``open311_attributes`` (``Category.open311_attributes``)."""
    definitions = attribute_definitions()
    return tuple(definitions[code] for code in category_facts.facts(service_code).open311_attributes)


_ATTRIBUTE_PARAM = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def attribute_params(form: MultiDict[str, str]) -> dict[str, list[str]]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` as ``{code: [values]}``."""
    found: dict[str, list[str]] = {}
    for key in form:
        match = _ATTRIBUTE_PARAM.match(key)
        if match:
            found.setdefault(match.group(1), []).extend(value.strip() for value in form.getlist(key))
    return found


def validate_attributes(attributes: Sequence[Attribute], given: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """The answers to a service's questions, checked; unknown attribute codes are ignored (clients such as
    FixMyStreet always send a few of their own)."""
    answers: dict[str, str | list[str]] = {}
    for attribute in attributes:
        if not attribute.variable:
            continue
        name = f"attribute[{attribute.code}]"
        values = [value for value in given.get(attribute.code, []) if value]
        if not values:
            if attribute.required:
                raise Open311Error(400, f"{name} is required for this service")
            continue
        if attribute.datatype == "multivaluelist":
            keys = list(dict.fromkeys(values))
            unknown = [key for key in keys if key not in attribute.keys]
            if unknown:
                raise Open311Error(400, f"{name}: unknown value {unknown[0]!r}; use one of {', '.join(attribute.keys)}")
            answers[attribute.code] = keys
            continue
        if len(values) > 1:
            raise Open311Error(400, f"{name} takes one value")
        value = values[0]
        if attribute.datatype == "singlevaluelist" and value not in attribute.keys:
            raise Open311Error(400, f"{name}: unknown value {value!r}; use one of {', '.join(attribute.keys)}")
        if attribute.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise Open311Error(400, f"{name} must be a number")
        if attribute.datatype == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise Open311Error(400, f"{name} must be an ISO 8601 date-time") from None
        limit = 1000 if attribute.datatype == "text" else attribute.max_length
        if len(value) > limit:
            raise Open311Error(400, f"{name} is too long: at most {limit} characters")
        answers[attribute.code] = value
    return answers


def attribute_summary(attributes: Sequence[Attribute], answers: Mapping[str, str | list[str]]) -> str:
    """The answers as lines for the report's description, in Chinese, the language of the staff who handle it."""
    lines = []
    for attribute in attributes:
        answer = answers.get(attribute.code)
        if not answer:
            continue
        keys = answer if isinstance(answer, list) else [answer]
        shown = "、".join(attribute.value_name(key) for key in keys) if attribute.values else str(answer)
        lines.append(f"{attribute.description_zh}：{shown}")
    return "\n".join(lines)



def service_fields(category: Category, *, english: bool) -> dict[str, Any]:
    group = category.group
    return {
        "service_code": category.code,
        "service_name": category.name_en if english else category.name_zh,
        "description": _service_description(category, english=english),
        "metadata": bool(attributes_for(category.code)),
        "type": "realtime",
        "keywords": ", ".join((category.keywords_en if english else category.keywords_zh).split()),
        "group": group.name_en if english else group.name_zh,
    }


def _service_description(category: Category, *, english: bool) -> str:
    name = category.name_en if english else category.name_zh
    return _("%(name)s. Handled within %(limit)s once dispatched.", name=name, limit=category.time_limit_label)
