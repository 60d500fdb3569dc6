"""Layout shift of the supervisor dashboard while its panels arrive, measured in Chromium.

The dashboard's page comes first with a placeholder per panel; each panel then loads by its own htmx request and
replaces its placeholder. If a placeholder is smaller than its panel, everything below it jumps (Cumulative Layout
Shift). The script seeds the demo data into a temporary SQLite database, serves the app on loopback (each panel
delayed as on a phone network), logs in as the demo supervisor and loads ``/dashboard/`` at a desktop (1350x940) and
a phone (360x740) size. For each it prints the CLS (sum of the layout-shift entries without recent input, as
Lighthouse counts it), and per panel the placeholder's height and the loaded panel's height, so a panel outgrowing
its reserved space shows up.

Run: .venv/bin/python bench/dashboard_shift.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.demo_server import serve  # noqa: E402
from tests.browser import LAUNCH_ARGS, chromium_path  # noqa: E402

SIZES = {"desktop": (1350, 940), "phone": (360, 740)}
OBSERVER = """
window.__shifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shifts.push(entry.value);
}).observe({type: "layout-shift", buffered: true});
"""
HEIGHTS = (
    """() => Array.from(document.querySelectorAll('.dash-panel')).map(p => [p.id, p.getBoundingClientRect().height])"""
)


class SlowPanels:
    """Panels answer after 0.3–1.5 s, one after another, as on a phone network (locally they would all arrive
    before the first paint and shift nothing)."""

    DELAYS = {"hotspots": 1.5, "peaks": 0.3, "handling": 0.6, "participation": 0.9, "activities": 1.2}

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/dashboard/panels/"):
            time.sleep(self.DELAYS.get(path.rsplit("/", 1)[-1], 0.5))
        return self.app(environ, start_response)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cg_dash_") as tmp, sync_playwright() as playwright:
        _app, base = serve(Path(tmp), wrap=SlowPanels)
        launch: dict = {"args": LAUNCH_ARGS}
        if chromium_path():
            launch["executable_path"] = chromium_path()
        browser = playwright.chromium.launch(**launch)
        for label, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
            page = context.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=phone]", "13800000005")
            page.fill("input[name=password]", "demo12345")
            page.click("form button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.add_init_script(OBSERVER)
            page.goto(f"{base}/dashboard/", wait_until="domcontentloaded")
            placeholders = dict(page.evaluate(HEIGHTS))
            page.wait_for_function("() => !document.querySelector('.dash-panel[aria-busy=true]')", timeout=60_000)
            page.wait_for_timeout(500)
            loaded = dict(page.evaluate(HEIGHTS))
            cls = page.evaluate("() => window.__shifts.reduce((a, b) => a + b, 0)")
            print(f"{label} {width}x{height}: CLS {cls:.3f}")
            for name, before in placeholders.items():
                after = loaded.get(name, 0.0)
                flag = "  grows" if after > before + 1 else ""
                print(f"  {name:<22} placeholder {before:7.0f} px   loaded {after:7.0f} px{flag}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
