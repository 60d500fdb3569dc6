"""Production mode: the app started through ``webapp.wsgi`` (gunicorn, ``make serve``) refuses to boot while a
demo default is in force, naming each offending variable and what to set instead.

The demo defaults make ``make run`` work on a fresh machine, and each one is fatal on a real server: a generated
``SECRET_KEY`` lives in one machine's instance folder (sessions break across servers and anyone with the file can
forge them); ``SMS_BACKEND=log`` sends nothing; shown development codes let anyone reset any account's password
(the admin's too); ``memory://`` rate limits count per process, so several workers multiply every limit; a
``memory://`` job queue, or jobs run in the web processes (``HUEY_IMMEDIATE``) with several of them, loses jobs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SECRET_KEY_MIN = 32
EXIT_STATUS = 78  # EX_CONFIG: a configuration error


@dataclass(frozen=True)
class UnsafeSetting:
    variable: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.problem} Set instead: {self.fix}"


def unsafe_settings(config: Mapping[str, Any], *, workers: int) -> list[UnsafeSetting]:
    """Every demo default in ``config`` that must not serve real residents, in a stable order."""
    found: list[UnsafeSetting] = []
    key = config.get("SECRET_KEY") or ""
    if not key or config.get("SECRET_KEY_IS_DEMO"):
        found.append(
            UnsafeSetting(
                "SECRET_KEY",
                "is not set, so the demo key generated into instance/secret_key would sign sessions.",
                "SECRET_KEY=<a random value of 64 hex characters, the same on every app server> "
                "(python -c 'import secrets; print(secrets.token_hex(32))').",
            )
        )
    elif len(str(key)) < SECRET_KEY_MIN:
        found.append(
            UnsafeSetting(
                "SECRET_KEY",
                f"is shorter than {SECRET_KEY_MIN} characters and can be guessed.",
                "SECRET_KEY=<a random value of 64 hex characters> (python -c 'import secrets; "
                "print(secrets.token_hex(32))').",
            )
        )
    if config.get("SMS_BACKEND", "log") == "log":
        found.append(
            UnsafeSetting(
                "SMS_BACKEND",
                "is 'log', the development backend: it sends no text messages.",
                "SMS_BACKEND=<a provider backend> with its keys (see README, SMS), or SMS_BACKEND=none when "
                "residents are registered at a service desk.",
            )
        )
    if config.get("SMS_SHOW_DEV_CODE"):
        found.append(
            UnsafeSetting(
                "SMS_SHOW_DEV_CODE",
                "is on: verification codes would be shown on the page, so anyone could reset any account's password.",
                "SMS_SHOW_DEV_CODE=0.",
            )
        )
    storage = str(config.get("RATELIMIT_STORAGE_URI", "memory://"))
    if storage.startswith("memory://") and workers > 1:
        found.append(
            UnsafeSetting(
                "RATELIMIT_STORAGE_URI",
                f"is memory:// with {workers} worker processes: each counts on its own, multiplying every limit.",
                "RATELIMIT_STORAGE_URI=redis://<host>:6379/0 (shared by every process and server), "
                "or WEB_CONCURRENCY=1.",
            )
        )
    jobs_url = str(config.get("HUEY_URL") or "")
    if jobs_url.startswith("memory:"):
        found.append(
            UnsafeSetting(
                "HUEY_URL",
                "is memory://: each process keeps its own job queue in memory, so jobs queued by a web worker (text "
                "messages and their retries, roll-up refreshes) are never seen by `make worker` and are lost when "
                "the process restarts.",
                "HUEY_URL=redis://<host>:6379/3 (shared by every app server and worker), and run `make worker`.",
            )
        )
    elif config.get("HUEY_IMMEDIATE") and workers > 1:
        found.append(
            UnsafeSetting(
                "HUEY_IMMEDIATE",
                f"is on (the default without HUEY_URL) with {workers} worker processes: jobs run inside the "
                "requests that queue them, and retries of failed text messages wait in this machine's SQLite "
                "queue, lost unless a `make worker` runs on every app server.",
                "HUEY_URL=redis://<host>:6379/3 (HUEY_IMMEDIATE is then off) and run `make worker`, "
                "or WEB_CONCURRENCY=1.",
            )
        )
    return found


def refusal_text(found: list[UnsafeSetting]) -> str:
    lines = ["Citizen Grid refuses to start in production with demo settings:"]
    lines += [f"  - {item}" for item in found]
    lines.append(
        "Set these environment variables and start again (the demo is `make run`). See README, Running in production."
    )
    return "\n".join(lines)


def workers_from_env() -> int:
    try:
        return max(int(os.environ.get("WEB_CONCURRENCY") or 1), 1)
    except ValueError:
        return 1


def refuse_unsafe_settings(config: Mapping[str, Any], *, workers: int) -> None:
    """Exit with ``EXIT_STATUS`` and the list of offending variables on stderr when anything is unsafe."""
    found = unsafe_settings(config, workers=workers)
    if found:
        print(refusal_text(found), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_STATUS)


def create_production_app(workers: int | None = None) -> Any:
    """The app as production serves it, or SystemExit naming every unsafe setting."""
    from webapp import create_app

    app = create_app({"PRODUCTION": True})
    refuse_unsafe_settings(app.config, workers=workers if workers is not None else workers_from_env())
    return app
