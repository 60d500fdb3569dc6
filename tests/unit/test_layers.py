"""The dependency rules of the layout, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(package: str = "") -> list[Path]:
    return sorted(p for p in (WEBAPP / package).rglob("*.py") if "migrations" not in p.parts)


def test_review_imports_nothing_from_points_or_notifications():
    offending = {
        f"{path.relative_to(WEBAPP)}: {name}"
        for path in _modules("review")
        for name in _imports(path)
        if name.startswith(("webapp.points", "webapp.notifications"))
    }
    assert not offending


def test_nothing_takes_time_helpers_from_points():
    """Local days, bounds and periods come from webapp.localtime."""
    helpers = {"LOCAL", "local_date", "_day_bounds", "_month_bounds", "Period", "PeriodKind", "current_period"}
    offending = {
        f"{path.relative_to(WEBAPP)}: {name}"
        for path in _modules()
        for name in _imports(path)
        if name.startswith("webapp.points.") and name.rsplit(".", 1)[-1] in helpers
    }
    assert not offending


def test_no_module_imports_a_view():
    """Only the application factory imports views modules (to register their blueprints)."""
    offending = {
        f"{path.relative_to(WEBAPP)}: {name}"
        for path in _modules()
        if path != WEBAPP / "__init__.py"
        for name in _imports(path)
        if name.startswith("webapp.") and (name.endswith(".views") or name.rsplit(".", 1)[-1].endswith("_views"))
    }
    assert not offending
