"""Production mode refuses the demo defaults, naming each variable (webapp.production)."""

from __future__ import annotations

import pytest

from webapp.production import refusal_text, refuse_unsafe_settings, unsafe_settings

SAFE = {
    "SECRET_KEY": "f" * 64,
    "SMS_BACKEND": "aliyun",
    "SMS_SHOW_DEV_CODE": False,
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
}


def names(config: dict, workers: int = 2) -> list[str]:
    return [item.variable for item in unsafe_settings(config, workers=workers)]


def test_safe_settings_pass():
    assert names(SAFE, workers=8) == []
    assert names({**SAFE, "SMS_BACKEND": "none"}) == []


def test_the_demo_defaults_are_each_named():
    demo = {"SECRET_KEY": "abc" * 22, "SECRET_KEY_IS_DEMO": True, "SMS_BACKEND": "log", "SMS_SHOW_DEV_CODE": True,
            "RATELIMIT_STORAGE_URI": "memory://"}  # fmt: skip
    assert names(demo) == ["SECRET_KEY", "SMS_BACKEND", "SMS_SHOW_DEV_CODE", "RATELIMIT_STORAGE_URI"]
    text = refusal_text(unsafe_settings(demo, workers=2))
    for fix in ("SECRET_KEY=", "SMS_BACKEND=none", "SMS_SHOW_DEV_CODE=0", "RATELIMIT_STORAGE_URI=redis://"):
        assert fix in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SECRET_KEY": None}, ["SECRET_KEY"]),
        ({"SECRET_KEY": "short"}, ["SECRET_KEY"]),
        ({"SMS_BACKEND": "log"}, ["SMS_BACKEND"]),
        ({"SMS_SHOW_DEV_CODE": True}, ["SMS_SHOW_DEV_CODE"]),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, ["RATELIMIT_STORAGE_URI"]),
    ],
)
def test_each_unsafe_setting_alone(change, expected):
    assert names({**SAFE, **change}) == expected


def test_memory_rate_limits_are_fine_with_one_worker():
    assert names({**SAFE, "RATELIMIT_STORAGE_URI": "memory://"}, workers=1) == []


def test_a_job_queue_that_would_lose_jobs_is_refused():
    redis_queue = {**SAFE, "HUEY_URL": "redis://127.0.0.1:6379/3", "HUEY_IMMEDIATE": False}
    assert names(redis_queue, workers=8) == []
    assert names({**redis_queue, "HUEY_URL": "memory://"}, workers=1) == ["HUEY_URL"]
    demo_queue = {**SAFE, "HUEY_URL": "sqlite:///instance/jobs.sqlite3", "HUEY_IMMEDIATE": True}
    assert names(demo_queue, workers=1) == []  # one process runs its jobs itself
    [refusal] = unsafe_settings(demo_queue, workers=4)
    assert refusal.variable == "HUEY_IMMEDIATE" and "4 worker processes" in str(refusal)
    assert "lost" in str(refusal) and "HUEY_URL=redis://" in str(refusal)


def test_refusal_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        refuse_unsafe_settings({**SAFE, "SMS_BACKEND": "log"}, workers=1)
    assert exit_info.value.code != 0
    assert "SMS_BACKEND" in capsys.readouterr().err
    refuse_unsafe_settings(SAFE, workers=1)  # no exit
