"""The dashboard keeps its layout while its panels arrive: each placeholder reserves the room its panel takes, so
nothing below a panel jumps when it loads (no layout shift), on a desktop screen and on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route

from tests.e2e.conftest import log_in
from tests.e2e.test_dashboard import supervisor  # noqa: F401  (fixture: an admin and a few closed cases)
from webapp.analytics.views import PANELS

HEIGHTS = "() => Object.fromEntries([...document.querySelectorAll('.dash-panel')].map(p => [p.id, p.offsetHeight]))"


@pytest.mark.e2e
@pytest.mark.parametrize("size", [(1350, 940), (360, 740)], ids=["desktop", "phone"])
def test_panels_never_outgrow_their_reserved_space(browser: Browser, live_server, supervisor, size):  # noqa: F811
    base = live_server.url
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", service_workers="block")
    page = context.new_page()
    log_in(page, base, supervisor)
    held: list[Route] = []
    page.route("**/dashboard/panels/**", lambda route: held.append(route))  # held until the placeholders are measured
    page.goto(base + "/dashboard/")
    while len(held) < len(PANELS):
        page.wait_for_timeout(50)
    placeholders = page.evaluate(HEIGHTS)
    for route in held:
        route.continue_()
    page.wait_for_function("() => !document.querySelector('.dash-panel[aria-busy=true]')")
    loaded = page.evaluate(HEIGHTS)
    assert set(loaded) == {f"panel-{name}" for name in PANELS}
    for panel, reserved in placeholders.items():
        assert loaded[panel] <= reserved, f"{panel}: {loaded[panel]} px loaded, {reserved} px reserved"
        assert loaded[panel] >= reserved * 0.5, f"{panel}: {reserved} px reserved for {loaded[panel]} px"
    context.close()
