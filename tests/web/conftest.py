"""Fixtures shared by the web tests."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.factories import make_store_world
from webapp.db import db


@pytest.fixture
def store_world(app: Flask) -> dict:  # type: ignore[type-arg]
    """The points store's world, committed (tests.factories.make_store_world)."""
    with app.app_context():
        world = make_store_world()
        db.session.commit()
        return world
