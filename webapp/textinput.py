"""Text as it comes in, cleaned in one place: every query parameter, form field and JSON string of every request
loses the invisible bidirectional and zero-width control characters (U+202A–U+202E, U+2066–U+2069,
U+200B–U+200F, U+2060, U+FEFF). They let a name or an address read differently from what is stored ("Trojan
Source" spoofing) and make equal-looking texts differ. NUL is refused separately (``webapp.errors``)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

CONTROL = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def clean(text: str) -> str:
    return CONTROL.sub("", text)


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_clean_value(item) for item in value]
    if isinstance(value, dict):
        return {_clean_value(key): _clean_value(item) for key, item in value.items()}
    return value


class CleanMultiDict(ImmutableMultiDict):  # type: ignore[type-arg]
    """The query string and form fields, cleaned as they are parsed."""

    def __init__(self, mapping: Any = None) -> None:
        if mapping is None:
            pairs: Any = []
        elif isinstance(mapping, MultiDict):
            pairs = mapping.items(multi=True)
        elif isinstance(mapping, dict):
            pairs = [
                (key, item)
                for key, value in mapping.items()
                for item in (value if isinstance(value, list) else [value])
            ]
        else:
            pairs = mapping
        super().__init__([(_clean_value(key), _clean_value(value)) for key, value in pairs])


class CleanInput:
    """Mixed into the app's request class (``install``)."""

    parameter_storage_class = CleanMultiDict

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        return _clean_value(super().get_json(force=force, silent=silent, cache=cache))  # type: ignore[misc]


def install(app: Flask) -> None:
    """Clean every request's input; called after the extensions that set their own request class (htmx)."""
    if not issubclass(app.request_class, CleanInput):
        app.request_class = type("CleanRequest", (CleanInput, app.request_class), {})
