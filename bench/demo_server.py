"""The app for the browser benchmarks (page_weight.py, dashboard_shift.py, offline_capture.py): a temporary SQLite
database in ``workdir``, migrated, with the categories and the demo data (or what ``seed`` puts in), served on a
free loopback port by a background thread. ``wrap`` puts WSGI middleware around the app (to count bytes, or to
slow some answers down as a phone network would).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server


def seed_demo_data(app: Flask) -> None:
    from webapp.demo import seed_demo

    seed_demo(app.extensions["storage"])


def serve(
    workdir: Path,
    *,
    seed: Callable[[Flask], None] = seed_demo_data,
    wrap: Callable[[Flask], Any] | None = None,
    **config: Any,
) -> tuple[Flask, str]:
    """Start the app; returns it and its base URL. ``config`` adds to or overrides the benchmark settings."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.db import db
    from webapp.reports.taxonomy import sync_categories

    for name in ("werkzeug", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "UPLOAD_DIR": str(workdir / "uploads"),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        sync_categories()
        seed(app)
        db.session.commit()
    server = make_server("127.0.0.1", 0, wrap(app) if wrap else app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{server.server_port}"
