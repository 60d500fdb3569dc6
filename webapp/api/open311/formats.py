"""Open311 answers in XML or JSON, and the language of the texts in them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask import Response, current_app, request

from webapp.api.open311.base import FORMATS, Open311Error

# --- Formats ----------------------------------------------------------------------------------------------------

# In XML a list is an element holding one element per item (§3.1, the "Spark convention" in reverse).
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}
# Characters XML 1.0 cannot carry at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("", str(value))


def _xml_fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        item_tag = LIST_ITEMS[element.tag]
        for item in value:
            _xml_fill(ET.SubElement(element, item_tag), item)
    else:
        element.text = _xml_text(value)


def to_xml(root: str, value: Any) -> str:
    element = ET.Element(root)
    _xml_fill(element, value)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")


def document(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """``value`` as XML (``root`` names the top element) or JSON (a list stays a top-level array)."""
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if fmt == "json" else to_xml(root, value)
    return Response(body.encode("utf-8"), status=status, content_type=FORMATS.get(fmt, FORMATS["xml"]))


def error_document(fmt: str, error: Open311Error) -> Response:
    return document(fmt, "errors", [{"code": error.code, "description": error.description}], error.status)


def format_of_request() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in FORMATS:
        return str(fmt)
    return "json" if request.path.endswith(".json") else "xml"


def wants_english() -> bool:
    """Chinese unless ``locale``/``lang`` or the Accept-Language header asks for English."""
    raw = (request.values.get("locale") or request.values.get("lang") or "").strip().lower()
    if raw:
        return raw.startswith("en")
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh")
    return best.startswith("en")


def babel_locale(english: bool) -> str:
    return "en" if english else current_app.config["BABEL_DEFAULT_LOCALE"]
