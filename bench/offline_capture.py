"""Offline capture on a slow phone, measured in Chromium with the real service worker and outbox.

Prints:
  1. the 12 MP camera photo (tests/data/images/make_phone_photo.py) before and after the phone downscales it
     (target <= 350 KB), next to a small ordinary photo as the baseline;
  2. the time from tapping "Send report" until the page says the report is saved on the phone, with the CPU
     slowed 4x and the network off, for the 12 MP photo and for the small photo;
  3. the time from the network coming back until 10 queued reports are all confirmed by the server.

Run: .venv/bin/python bench/offline_capture.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from bench.demo_server import serve  # noqa: E402
from tests.browser import LAUNCH_ARGS, chromium_path  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "images"
PHONE = "13500000001"
PASSWORD = "bench-password"
TARGET_PHOTO_BYTES = 350 * 1024


def one_resident(app) -> None:  # type: ignore[no-untyped-def]
    from webapp.accounts.services import create_user
    from webapp.db import utcnow

    create_user(PHONE, PASSWORD, verified_at=utcnow())


def report_count(app) -> int:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from webapp.db import db
    from webapp.reports.models import Report

    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Report)) or 0
        db.session.remove()
        return count


def capture(page: Page, base: str, photo: Path, address: str) -> float:
    """Fill the form offline and return the seconds from tapping send until "saved on this phone"."""
    page.goto(base + "/reports/new")
    page.locator("#photo-1").set_input_files(str(photo))
    page.get_by_text("垃圾与环境卫生", exact=True).click()
    page.get_by_label("暴露垃圾", exact=True).check()
    page.locator("#address").fill(address)
    started = time.perf_counter()
    page.get_by_role("button", name="发送报告").click()
    expect(page.locator("#saved-note")).to_be_visible(timeout=60000)
    return time.perf_counter() - started


def stored_photo_sizes(page: Page) -> list[int]:
    return page.evaluate("CitizenGridOutbox.list().then(items => items.map(i => i.photos[0].size))")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        workdir = Path(tmp)
        big_photo = workdir / "phone_photo.jpg"
        subprocess.run(
            [sys.executable, str(IMAGES / "make_phone_photo.py"), str(big_photo)], check=True, capture_output=True
        )
        big_original = big_photo.stat().st_size
        small_photo = IMAGES / "flower.jpg"
        app, base = serve(workdir, seed=one_resident, MAP_TILE_URL="")
        launch = {"args": LAUNCH_ARGS}
        if path := chromium_path():
            launch["executable_path"] = path
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "profile"), viewport={"width": 360, "height": 740}, locale="zh-CN", **launch
        )
        page = context.pages[0]
        page.goto(base + "/login")
        page.locator("#phone").fill(PHONE)
        page.locator("#password").fill(PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.goto(base + "/reports/new")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        context.set_offline(True)

        small_seconds = capture(page, base, small_photo, "基线：普通照片")
        big_seconds = capture(page, base, big_photo, "1200 万像素照片")
        small_size, big_size = stored_photo_sizes(page)
        for number in range(8):
            capture(page, base, small_photo if number % 2 else big_photo, f"排队 {number + 3}")
        queued = len(stored_photo_sizes(page))

        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        started = time.perf_counter()
        context.set_offline(False)
        while report_count(app) < queued and time.perf_counter() - started < 120:
            time.sleep(0.05)
        sync_seconds = time.perf_counter() - started
        arrived = report_count(app)
        context.close()

    print("Offline capture on a phone-sized screen (Chromium, service worker and outbox as shipped)\n")
    print(f"{'photo':<26}{'original KB':>12}{'stored KB':>11}{'save ms (4x CPU)':>18}")
    print(
        f"{'baseline: flower.jpg':<26}{small_photo.stat().st_size / 1024:>12.0f}{small_size / 1024:>11.0f}"
        f"{small_seconds * 1000:>18.0f}"
    )
    print(f"{'12 MP camera photo':<26}{big_original / 1024:>12.0f}{big_size / 1024:>11.0f}{big_seconds * 1000:>18.0f}")
    verdict = "PASS" if big_size <= TARGET_PHOTO_BYTES else "MISS"
    print(f"\n12 MP photo after downscaling: {big_size / 1024:.0f} KB (target <= 350 KB)  {verdict}")
    print(
        f"Back online -> {arrived} of {queued} queued reports confirmed in {sync_seconds:.2f} s "
        f"({sync_seconds / max(arrived, 1) * 1000:.0f} ms per report)"
    )
    return 0 if big_size <= TARGET_PHOTO_BYTES and arrived == queued else 1


if __name__ == "__main__":
    sys.exit(main())
