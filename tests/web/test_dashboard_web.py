"""The supervisor dashboard, its panels, CSV downloads and the periodic reports, through the test client."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import HX, login, text
from tests.unit.cases import RUBBISH, make_case, make_department, make_grid
from webapp import localtime
from webapp.accounts.models import Role
from webapp.analytics.models import analytics_daily
from webapp.db import db, utcnow
from webapp.reports.status import ReportStatus

GRID = "140109001001001"
PANELS = ["hotspots", "peaks", "handling", "participation", "activities"]
DATASETS = ["categories", "places", "recurring", "heatmap", "weekly", "departments", "participation"]


@pytest.fixture
def setup(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        department = make_department("HW")
        make_grid(GRID)
        resident = make_user()
        now = utcnow()
        closed = make_case(resident, status=ReportStatus.CLOSED, grid_code=GRID, department_id=department.id)
        closed.accepted_at = closed.dispatched_at = now - timedelta(hours=3)
        closed.due_at, closed.closed_at = now + timedelta(days=1), now - timedelta(hours=1)
        make_case(resident, grid_code=GRID)
        db.session.commit()  # the roll-up follows the commit
        people = {role: make_user(role) for role in Role}
        db.session.commit()
        return {"people": people, "department_id": department.id}


def as_role(client, setup, role: Role) -> None:  # type: ignore[no-untyped-def]
    client.set_cookie("lang", "en")
    login(client, setup["people"][role])


def urls() -> list[str]:
    return [
        "/dashboard/",
        *[f"/dashboard/panels/{name}" for name in PANELS],
        *[f"/dashboard/data/{name}.csv" for name in DATASETS],
        "/dashboard/reports/weekly",
        "/dashboard/reports/monthly",
        "/dashboard/reports/weekly?format=csv",
    ]


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.VOLUNTEER, Role.DEPARTMENT])
def test_other_roles_get_403(app, client, setup, role):
    as_role(client, setup, role)
    for url in urls():
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_log_in(client, setup):
    for url in urls():
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


@pytest.mark.parametrize("role", [Role.ADMIN, Role.REVIEWER])
def test_supervisors_and_reviewers_read_everything(app, client, setup, role):
    as_role(client, setup, role)
    for url in urls():
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        if ".csv" in url or "format=csv" in url:
            assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"], url
            assert len(list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))) >= 2, url  # a header and figures
        else:
            assert response.mimetype == "text/html" and "<h1" in body and 'name="password"' not in body, url
    # The figures are the setup's: two reports received in the grid, one of them closed.
    places = client.get(f"/dashboard/data/places.csv?start=2026-01-01&grid={GRID}").get_data(as_text=True)
    assert GRID in places


def test_the_roll_up_follows_committed_changes(app, setup):
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(analytics_daily.c.reports))) == 2
        assert db.session.scalar(sa.select(sa.func.sum(analytics_daily.c.closed))) == 1


def test_dashboard_page_loads_each_panel_separately(client, setup):
    as_role(client, setup, Role.ADMIN)
    page = client.get("/dashboard/?start=2026-01-01")
    body = page.get_data(as_text=True)
    assert "<html" in body and 'id="panels"' in body
    for name in PANELS:
        assert f'hx-get="/dashboard/panels/{name}?start=2026-01-01' in body
    assert body.count('hx-trigger="load"') == len(PANELS)
    assert 'hx-push-url="true"' in body
    fragment = client.get("/dashboard/?start=2026-01-01", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and "panels/hotspots" in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    # How fresh the figures are (the roll-up is refreshed by a job after each commit): here, current.
    for response in (page, fragment):
        assert 'id="dash-freshness" data-waiting="0"' in response.get_data(as_text=True)


@pytest.mark.parametrize("name", PANELS)
def test_each_panel_full_page_and_fragment(client, setup, name):
    as_role(client, setup, Role.REVIEWER)
    full = client.get(f"/dashboard/panels/{name}")
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    assert 'id="f-start"' in full.get_data(as_text=True)  # the filters come with the page
    fragment = client.get(f"/dashboard/panels/{name}", headers=HX)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and f'id="panel-{name}"' in body
    assert "HX-Request" in fragment.headers["Vary"]
    # Every chart is an accessible SVG with a title and a description, a table and a CSV link.
    assert body.count('role="img"') == body.count("<title id=") == body.count("<desc id=") >= 1
    assert "<table" in body and ".csv?" in body


def test_hotspots_show_the_grid_and_link_to_a_campaign(client, setup):
    as_role(client, setup, Role.ADMIN)
    body = client.get("/dashboard/panels/hotspots", headers=HX).get_data(as_text=True)
    assert GRID in body
    assert "/points/admin/campaigns?" in body or "campaigns?" in body
    assert f"grid={GRID}" in body


def test_handling_panel_shows_the_department(client, setup):
    as_role(client, setup, Role.ADMIN)
    body = text(client.get(f"/dashboard/panels/handling?department={setup['department_id']}", headers=HX))
    assert "环卫所" in body and "100.0 %" in body


@pytest.mark.parametrize("name", DATASETS)
def test_csv_downloads(client, setup, name):
    as_role(client, setup, Role.ADMIN)
    response = client.get(f"/dashboard/data/{name}.csv?start=2026-01-01&grid={GRID}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows[0]) >= 2
    if name == "categories":
        assert rows[1][0] == RUBBISH and rows[1][2] == "2"
    if name == "places":
        assert rows[1][0] == GRID and rows[1][2] == "2"


def test_unknown_panel_or_dataset_is_404(client, setup):
    as_role(client, setup, Role.ADMIN)
    assert client.get("/dashboard/panels/secret").status_code == 404
    assert client.get("/dashboard/data/users.csv").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-02-30", "Start date must be a date like 2026-11-30."),
        ("start=2026-11-10&end=2026-11-01", "The end date is before the start date."),
        ("grid=999999999999999", "Unknown grid: 999999999999999."),
        ("grid=%3Cscript%3E", "Unknown grid"),
        ("category=06042&group=B", "The category is not in the chosen group."),
        ("department=x", "Unknown department: x."),
    ],
)
def test_bad_filters_give_a_clear_400(client, setup, query, message):
    as_role(client, setup, Role.ADMIN)
    for url in (f"/dashboard/?{query}", f"/dashboard/panels/peaks?{query}", f"/dashboard/data/weekly.csv?{query}"):
        page = client.get(url)
        assert page.status_code == 400 and message in text(page), url
    fragment = client.get(f"/dashboard/panels/hotspots?{query}", headers=HX)
    assert fragment.status_code == 400 and message in text(fragment)
    assert fragment.headers.get("HX-Retarget") == "#flash"


def test_periodic_report_page_and_csv(client, setup):
    as_role(client, setup, Role.ADMIN)
    with client.application.app_context():
        this_week = localtime.today().isocalendar()
    key = f"{this_week[0]}-W{this_week[1]:02d}"
    page = client.get(f"/dashboard/reports/weekly?week={key}")
    body = text(page)
    assert page.status_code == 200 and f"Weekly report {key}" in body and "Reports received" in body
    assert "css/dashboard.css" in page.get_data(as_text=True)  # the print styles
    csv_response = client.get(f"/dashboard/reports/weekly?week={key}&format=csv")
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][1] == key and rows[1][:2] == ["Reports received", "2"]
    month = client.get("/dashboard/reports/monthly?month=2026-11")
    assert month.status_code == 200 and "Monthly report 2026-11" in text(month)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/dashboard/reports/weekly?week=2026-48", "A week looks like 2026-W48"),
        ("/dashboard/reports/weekly?week=2026-W77", "A week looks like 2026-W48"),
        ("/dashboard/reports/monthly?month=2026-13", "A month looks like 2026-11"),
        ("/dashboard/reports/monthly?month=november", "A month looks like 2026-11"),
    ],
)
def test_bad_periods_give_a_clear_400(client, setup, url, message):
    as_role(client, setup, Role.ADMIN)
    response = client.get(url)
    assert response.status_code == 400 and message in text(response)


def test_nav_link_for_supervisors_and_reviewers_only(client, setup):
    as_role(client, setup, Role.REVIEWER)
    assert 'href="/dashboard/"' in client.get("/").get_data(as_text=True)
    client.post("/logout")
    other = client.application.test_client()
    as_role(other, setup, Role.DEPARTMENT)
    assert 'href="/dashboard/"' not in other.get("/").get_data(as_text=True)


def test_commands(app, setup, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["analytics-rollup"])
    assert result.exit_code == 0 and "rows" in result.output
    bad = runner.invoke(args=["analytics-rollup", "--since", "2026-11-10", "--until", "2026-11-01"])
    assert bad.exit_code != 0 and "before" in bad.output
    out, html = tmp_path / "w.csv", tmp_path / "w.html"
    result = runner.invoke(
        args=["periodic-report", "--weekly", "--period", "2026-W48", "--out", str(out), "--html", str(html)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith("\ufeff".encode()) and "2026-W48" in out.read_text(encoding="utf-8-sig")
    assert "<table" in html.read_text(encoding="utf-8")
    printed = runner.invoke(args=["periodic-report", "--monthly", "--period", "2026-11"])
    assert printed.exit_code == 0 and "2026-11" in printed.output
    assert runner.invoke(args=["periodic-report", "--weekly", "--period", "soon"]).exit_code != 0
    assert runner.invoke(args=["periodic-report"]).exit_code != 0


def test_the_filter_form_marks_the_chosen_category_in_the_page_language(client, setup):
    """The sub-category options are rendered once per language and choice: each request still gets its own."""
    as_role(client, setup, Role.ADMIN)
    chosen = client.get(f"/dashboard/?category={RUBBISH}").get_data(as_text=True)
    assert f'<option value="{RUBBISH}" selected>' in chosen
    plain = client.get("/dashboard/").get_data(as_text=True)
    assert f'<option value="{RUBBISH}">' in plain and " selected>" not in plain.split('id="f-category"')[1][:20000]
    english = plain.split('id="f-category"')[1]
    client.set_cookie("lang", "zh_Hans_CN")
    chinese = client.get("/dashboard/").get_data(as_text=True).split('id="f-category"')[1]
    chinese, english = chinese.split("</select>")[0], english.split("</select>")[0]
    assert "垃圾" in chinese and "垃圾" not in english
