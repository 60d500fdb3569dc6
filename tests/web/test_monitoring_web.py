"""/admin/monitoring for admins (full page and the htmx health panel) and /healthz, which shares its database
check and keeps its contract."""

from __future__ import annotations

import sqlalchemy as sa

from tests.factories import make_report, make_user
from tests.helpers import HX, login, text
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.monitoring import services
from webapp.monitoring.models import ErrorEvent


def as_admin(app, client):  # type: ignore[no-untyped-def]
    with app.app_context():
        admin = make_user(Role.ADMIN)
        db.session.commit()
    login(client, admin)


def test_the_full_page_shows_health_errors_and_participation(app, client):
    with app.app_context():
        make_report()
        db.session.add(ErrorEvent(at=utcnow(), kind="sms_failed", detail="139****0000 TimeoutError"))
        db.session.commit()
    as_admin(app, client)
    response = client.get("/admin/monitoring")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    for check in ("database", "storage", "rate_limits", "sms", "jobs"):
        assert f'data-check="{check}"' in body
    assert "<svg" in body and "<polyline" in body and "participation-table" in body  # chart and table fallback
    assert "139****0000 TimeoutError" in body
    with app.app_context():
        revision = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    assert revision in text(response)


def test_the_health_panel_fragment(app, client):
    as_admin(app, client)
    response = client.get("/admin/monitoring", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "<svg" not in body
    assert 'data-check="database"' in body and "HX-Request" in response.headers["Vary"]
    assert 'data-check="jobs"' in body and "0 个待执行，0 个已排期（重试）" in text(response)


def test_healthz_keeps_its_contract(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "db": "ok"}


def test_healthz_and_monitoring_agree_when_the_database_is_gone(app, client, monkeypatch):
    monkeypatch.setattr(services, "ping_database", lambda: None)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json() == {"status": "error", "db": "unavailable"}
    as_admin(app, client)
    page = client.get("/admin/monitoring", headers=HX).get_data(as_text=True)
    assert 'data-check="database"' in page and "light-red" in page
