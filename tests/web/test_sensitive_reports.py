"""Reports of sensitive categories (a noisy neighbour, an illegal structure at a home …) show their photos, description
and exact place only to their reporter and to staff; everyone else sees what the open data shows."""

from __future__ import annotations

import pytest

from tests.factories import make_report, make_user, mark_accepted
from tests.helpers import login
from webapp.accounts.models import Role
from webapp.db import db
from webapp.reports.privacy import coarsen, sensitive_categories

NOISE = "06028"  # 噪声扰民
ADDRESS = "迎泽西大街 88 号 3 单元 502 室"
SECRET = "楼上每晚两点装修"


def new_user(app, role=Role.CITIZEN):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(role)
        db.session.commit()
        return user


@pytest.fixture
def noisy(app):  # type: ignore[no-untyped-def]
    assert NOISE in sensitive_categories()
    with app.app_context():
        reporter = make_user(phone="13800000201")
        report = make_report(
            reporter, category_code=NOISE, address=ADDRESS, description=SECRET, lat=37.861234, lon=112.512345
        )
        db.session.commit()
        return report.id, reporter


@pytest.mark.parametrize("viewer", [None, Role.CITIZEN, Role.VOLUNTEER])
def test_others_see_neither_the_place_nor_the_description_nor_the_photos(app, client, noisy, viewer):
    report_id, _ = noisy
    if viewer:
        login(client, new_user(app, viewer))
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert ADDRESS not in page and SECRET not in page and "/media/" not in page
    assert 'id="privacy-note"' in page
    listing = client.get("/reports").get_data(as_text=True)
    assert f"/reports/{report_id}" in listing and ADDRESS not in listing
    api = client.get(f"/api/v1/reports/{report_id}").get_json()
    assert api["address"] == "" and api["description"] == "" and api["photos"] == []
    assert (api["lat"], api["lon"]) == coarsen(37.861234, 112.512345)


@pytest.mark.parametrize("who", ["reporter", Role.REVIEWER, Role.DEPARTMENT, Role.ADMIN])
def test_the_reporter_and_staff_see_everything(app, client, noisy, who):
    report_id, reporter = noisy
    login(client, reporter if who == "reporter" else new_user(app, who))
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert ADDRESS in page and SECRET in page and "/media/" in page and 'id="privacy-note"' not in page
    api = client.get(f"/api/v1/reports/{report_id}").get_json()
    assert api["address"] == ADDRESS and api["photos"] and api["lat"] == pytest.approx(37.861234)


def test_other_categories_are_public_in_full_once_accepted(app, client):
    with app.app_context():
        report = make_report(category_code="06042", address=ADDRESS, description=SECRET + " 电话 139 1234 5678")
        db.session.commit()
        report_id = report.id
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert ADDRESS not in page and SECRET not in page and 'id="privacy-note"' in page  # waiting for review
    assert "/media/" not in page
    with app.app_context():
        mark_accepted(report_id)
    page = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert ADDRESS in page and SECRET in page and 'id="privacy-note"' not in page and "/media/" in page
    assert "139 1234 5678" not in page and "电话 ***" in page  # a phone number is masked for the public
