"""Rate limits can live in Redis, so several app processes share one budget."""

from __future__ import annotations

import socket

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_redis_storage_shares_the_budget_between_limiters():
    url = "redis://127.0.0.1:6379/15"
    limit = parse("2 per minute")
    first = FixedWindowRateLimiter(storage_from_string(url))
    second = FixedWindowRateLimiter(storage_from_string(url))  # another app process
    first.clear(limit, "citizen-grid-test")
    assert first.hit(limit, "citizen-grid-test")
    assert second.hit(limit, "citizen-grid-test")
    assert not first.hit(limit, "citizen-grid-test")
    first.clear(limit, "citizen-grid-test")
