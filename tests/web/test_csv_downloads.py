"""Every CSV download goes through webapp/csvfile.py: UTF-8 with a BOM, "text/csv; charset=utf-8" once."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from tests.helpers import login
from webapp.accounts.models import Role
from webapp.db import db


@pytest.mark.parametrize(
    ("role", "url"),
    [
        (Role.REVIEWER, "/dashboard/data/categories.csv"),
        (Role.REVIEWER, "/dashboard/data/participation.csv"),
        (Role.REVIEWER, "/dashboard/reports/weekly?format=csv"),
        (Role.ADMIN, "/admin/points/fund/reconciliation.csv"),
        (Role.CITIZEN, "/me/participation.csv"),
        (None, "/open-data/reports.csv"),
    ],
)
def test_csv_downloads_share_one_format(app, client, role, url):
    if role is not None:
        with app.app_context():
            user = make_user(role)
            db.session.commit()
        login(client, user)
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff") and body.endswith("\r\n")
