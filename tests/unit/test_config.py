"""Every setting in the README's configuration table is read from the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented_variables() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    names: list[str] = []
    for line in table:
        first_cell = line.split("|")[1]
        names += re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)
    return names


def test_every_documented_variable_is_read_from_the_environment():
    source = "\n".join(p.read_text() for p in (ROOT / "webapp").rglob("*.py"))
    source += (ROOT / "gunicorn.conf.py").read_text()
    names = documented_variables()
    assert len(names) > 15
    unread = [
        name
        for name in names
        if not re.search(rf"""(environ(\.get)?[\[(]|getenv\(|_env_\w+\()\s*["']{name}["']""", source)
    ]
    assert unread == []


def test_settings_that_used_to_be_ignored_come_from_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(
        TRUSTED_PROXIES="2",
        OPEN311_JURISDICTION="taiyuan.example.cn",
        RATELIMIT_OPEN311="7 per minute",
        RATELIMIT_OPEN_DATA="8 per minute",
        RATELIMIT_OPEN_DATA_MAP="9 per minute",
        FLASK_REPORTS_PER_PAGE="13",
        DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite3'}",
        SECRET_KEY="x" * 64,
    )
    keys = ["TRUSTED_PROXIES", "OPEN311_JURISDICTION", "RATELIMIT_OPEN311", "RATELIMIT_OPEN_DATA",
            "RATELIMIT_OPEN_DATA_MAP", "REPORTS_PER_PAGE"]  # fmt: skip
    script = (
        "import json; from webapp import create_app; app = create_app(); "
        f"print(json.dumps([app.config[k] for k in {keys!r}]))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        2, "taiyuan.example.cn", "7 per minute", "8 per minute", "9 per minute", 13
    ]  # fmt: skip


def test_the_request_size_limit_follows_the_photo_limits(tmp_path):
    # The form with the most photos (a volunteer's report and fix: the report's and as many of the result), each
    # at its limit, with its text fields, fits: the whole is never refused where every photo would be accepted.
    from webapp.config import Config

    largest_form = 2 * Config.PHOTOS_PER_REPORT * Config.PHOTO_MAX_BYTES + Config.MAX_FORM_MEMORY_SIZE
    assert largest_form < Config.MAX_CONTENT_LENGTH <= largest_form + 2 * 1024 * 1024
    # A deployment that changes the per-photo limit moves the whole with it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(PHOTO_MAX_BYTES=str(5 * 1024 * 1024), DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    script = "from webapp import create_app; app = create_app(); print(app.config['MAX_CONTENT_LENGTH'])"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    moved = int(out.stdout.strip().splitlines()[-1])
    smaller = 2 * Config.PHOTOS_PER_REPORT * (Config.PHOTO_MAX_BYTES - 5 * 1024 * 1024)
    assert moved == Config.MAX_CONTENT_LENGTH - smaller
