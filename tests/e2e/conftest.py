"""Browser-test helpers: accessibility checks with axe-core and small page utilities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js").read_text(encoding="utf-8")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def assert_accessible(page: Page, context: str = "") -> None:
    """Run axe-core (WCAG 2.1 A and AA rules) on the current page and fail on any violation."""
    page.evaluate(AXE_SOURCE)
    result = page.evaluate(
        """async () => {
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    assert result == [], f"axe violations on {context or page.url}:\n{json.dumps(result, ensure_ascii=False, indent=1)}"


def dev_sms_code(page: Page) -> str:
    """The development SMS backend shows the code on the page; read it like a resident reads a text."""
    hint = page.locator("#code-status .hint")
    hint.wait_for()
    return "".join(ch for ch in hint.inner_text() if ch.isdigit())[-6:]


def log_in(page: Page, base_url: str, phone: str, password: str = "secret-pass-1") -> None:
    page.goto(base_url + "/login")
    page.locator("#phone").fill(phone)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(base_url + "/")
