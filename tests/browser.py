"""Which Chromium the browser tests drive, in one place (used by conftest.py and by `make test`).

Debian's /usr/bin/chromium when present (CHROMIUM_PATH overrides); otherwise Playwright's own Chromium, which
`python tests/browser.py --prepare` downloads (that needs internet access).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

SYSTEM_CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """The system Chromium to use, or None to use Playwright's own browser."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    if os.path.exists(SYSTEM_CHROMIUM):
        return SYSTEM_CHROMIUM
    return shutil.which("chromium")


def prepare() -> int:
    path = chromium_path()
    if path:
        print(f"Browser tests: using the system Chromium at {path}.")
        return 0
    print(
        "Browser tests: no system Chromium found (install Debian's 'chromium' package to use it).\n"
        "Downloading Playwright's own Chromium instead; this needs internet access."
    )
    return subprocess.call([sys.executable, "-m", "playwright", "install", "chromium"])


if __name__ == "__main__":
    sys.exit(prepare() if "--prepare" in sys.argv else 0)
