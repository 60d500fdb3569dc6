"""Bytes transferred on a first visit to the citizen pages, measured in Chromium.

For each page a fresh browser context (empty cache) loads the page on a 360 px wide screen with the CPU slowed
4x; the script adds up what crossed the network (Chrome's encodedDataLength: headers plus the gzip body) for
every request the page made, and prints the biggest resources. The same page is then loaded with compression
refused (Accept-Encoding: identity) as a baseline, so the figures show what gzip saves. Target: 60 KB per page.
A last column counts, on the server, every byte of the visit including what the service worker downloads in the
background after the page has loaded (the offline copy of the app).

Run: .venv/bin/python bench/page_weight.py [--pages /reports/new /reports]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.demo_server import serve  # noqa: E402
from tests.browser import LAUNCH_ARGS, chromium_path  # noqa: E402

TARGET_BYTES = 60 * 1024


class ByteCounter:
    """Counts the response bytes the server sends (bodies, after compression)."""

    total = 0

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        for chunk in self.app(environ, start_response):
            ByteCounter.total += len(chunk)
            yield chunk


def measure(browser, url: str, *, compressed: bool) -> tuple[int, float, list[tuple[int, str]], int]:  # type: ignore[no-untyped-def]
    headers = {} if compressed else {"Accept-Encoding": "identity"}
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", extra_http_headers=headers)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    ByteCounter.total = 0
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the offline copy is stored by now
    page.wait_for_timeout(500)
    everything = ByteCounter.total
    context.close()
    items = sorted(((size, urls.get(rid, "?")) for rid, size in sizes.items()), reverse=True)
    return sum(size for size, _ in items), float(load_ms), items, everything


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages",
        nargs="+",
        default=[
            "/reports/new",
            "/reports",
            "/",
            "/store",
            "/honour",
            "/feedback",
            "/open-data",
            "/campaigns",
            "/activities",
            "/activities/1",
            "/activities/scan",
            "/verify",
        ],
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        _app, base = serve(Path(tmp), wrap=ByteCounter)
        launch = {"args": LAUNCH_ARGS}
        if path := chromium_path():
            launch["executable_path"] = path
        browser = playwright.chromium.launch(**launch)
        print(f"First-load weight (fresh cache, 360 px, CPU 4x slower); target <= {TARGET_BYTES // 1024} KB\n")
        header = (
            f"{'page':<16}{'gzip KB':>10}{'identity KB':>13}{'saved':>8}{'load ms':>10}  result  {'with SW KB':>10}"
        )
        print(header)
        worst = 0
        details = []
        for page_path in args.pages:
            total, load_ms, items, everything = measure(browser, base + page_path, compressed=True)
            baseline, _, _, _ = measure(browser, base + page_path, compressed=False)
            worst = max(worst, total)
            verdict = "PASS" if total <= TARGET_BYTES else "MISS"
            saved = 1 - total / baseline if baseline else 0
            print(
                f"{page_path:<16}{total / 1024:>10.1f}{baseline / 1024:>13.1f}{saved:>8.0%}{load_ms:>10.0f}"
                f"  {verdict:<6}  {everything / 1024:>10.1f}"
            )
            details.append((page_path, items))
        browser.close()
    print("\nLargest resources (bytes on the wire):")
    for page_path, items in details:
        print(f"  {page_path}")
        for size, url in items[:6]:
            print(f"    {size:>7}  {url.removeprefix(base)[:90]}")
    return 0 if worst <= TARGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
