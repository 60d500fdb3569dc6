"""Screenshots of the main screens for the README, taken in Chromium from a freshly seeded demo.

Seeds the demo data into a temporary SQLite database, serves the app on a free local port, and saves small PNGs
(reduced to a 64-colour palette with Pillow, a few tens of KB each) under docs/screenshots/:

  report-form.png        /reports/new at 360×740, normal text, a logged-in resident
  report-form-large.png  the same with large text
  review-case.png        the reviewer's case page at 1366×900
  notifications.png      the resident's notification centre at 360×740

Run: make screenshots   (or .venv/bin/python tools/screenshots.py [--out DIR])
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from bench.page_weight import start_app  # noqa: E402  (the demo on a temporary SQLite database, served locally)
from tests.browser import LAUNCH_ARGS, chromium_path  # noqa: E402

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1366, "height": 900}
RESIDENT, REVIEWER = "13800000001", "13800000003"
COLOURS = 64


def log_in(page: Page, base: str, phone: str) -> None:
    from webapp.demo import DEMO_PASSWORD

    page.goto(base + "/login")
    page.locator("#phone").fill(phone)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(base + "/")


def save(page: Page, path: Path) -> int:
    """A screenshot of the viewport, reduced to a small palette PNG; returns its size in bytes."""
    image = Image.open(io.BytesIO(page.screenshot(animations="disabled")))
    small = image.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = start_app(Path(tmp))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
            shots: list[tuple[str, int]] = []

            phone = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1)
            page = phone.new_page()
            log_in(page, base, RESIDENT)
            page.goto(base + "/reports/new")
            shots.append(("report-form.png", save(page, args.out / "report-form.png")))
            page.locator("footer button[name=large_text][value=on]").click()
            page.wait_for_load_state()
            page.goto(base + "/reports/new")
            shots.append(("report-form-large.png", save(page, args.out / "report-form-large.png")))
            page.locator("footer button[name=large_text][value=off]").click()
            page.wait_for_load_state()
            page.goto(base + "/me/notifications")
            shots.append(("notifications.png", save(page, args.out / "notifications.png")))
            phone.close()

            desk = browser.new_context(viewport=DESK, locale="zh-CN", device_scale_factor=1)
            page = desk.new_page()
            log_in(page, base, REVIEWER)
            page.goto(base + "/review/")
            page.locator("[data-case-link]").first.click()
            page.wait_for_load_state()
            shots.append(("review-case.png", save(page, args.out / "review-case.png")))
            desk.close()
            browser.close()
    for name, size in shots:
        print(f"{args.out / name}: {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
