"""Query budgets: every list page sends the same number of SQL statements whether it shows 1 item or 50, and no
more than its ceiling (resident pages 6, staff pages 6, /points 3).

Each test renders the page once to warm what a worker keeps between requests (the logged-in user's session,
the cached category data), then counts the statements of the next request with 1 item, adds 49 more and counts
again. A template that starts reading a relationship the list did not load fails here twice over: the list paths
load with ``raiseload``, so the lazy load raises (a 500), and the count would grow with the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import make_user
from tests.helpers import HX, count_queries, login, statements_in_transactions
from tests.unit.cases import make_case, make_department, make_grid, make_staff
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.notifications.services import notify
from webapp.reports.models import Report, ReportFollower, ReportPhoto
from webapp.reports.status import ReportStatus

pytestmark = pytest.mark.commits  # counts the statements of a request: the test transaction would add SAVEPOINTs

RESIDENT_CEILING = 6
STAFF_CEILING = 6  # the review queue: user, its page of rows with photos, the counts, the banner, the cache counters
POINTS_CEILING = 3  # the user with their badge, the overview with the history (awards.points_page), the cache counters
# Items are spread over several grids (and categories), so a lazy load per distinct grid would show.
GRIDS = [f"14010900100{n:04d}" for n in range(1, 8)]


@pytest.fixture(autouse=True)
def render_every_time(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of public pages kept for anonymous visitors (webapp.cache.fragment) would answer the counted
    request from memory: count what rendering them costs (test_kept_public_pages_send_no_statement counts that)."""
    monkeypatch.setitem(app.config, "PUBLIC_FRAGMENT_SECONDS", 0)


def statements(app: Flask, client: FlaskClient, path: str, headers: dict[str, str] | None = None) -> list[str]:
    client.get(path, headers=headers or {})  # warm: session, caches
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as sent, statements_in_transactions(engine) as in_transaction:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    # On PostgreSQL a page that only reads pays no BEGIN and no ROLLBACK round trip either.
    assert not in_transaction, f"{path} read inside a transaction:\n" + "\n".join(in_transaction)
    return sent


def assert_budget(
    app: Flask,
    client: FlaskClient,
    path: str,
    add: Callable[[int], None],
    ceiling: int,
    headers: dict[str, str] | None = None,
) -> None:
    with app.app_context():
        add(1)
        db.session.commit()
    one = statements(app, client, path, headers)
    with app.app_context():
        add(49)
        db.session.commit()
    fifty = statements(app, client, path, headers)
    assert len(one) == len(fifty), f"{path}: {len(one)} queries with 1 item, {len(fifty)} with 50:\n" + "\n".join(fifty)
    assert len(fifty) <= ceiling, f"{path}: {len(fifty)} queries, ceiling {ceiling}:\n" + "\n".join(fifty)


def _with_photo(report: Report) -> Report:
    db.session.add(
        ReportPhoto(
            report=report,
            kind="before",
            position=0,
            display_key="d" * 64 + ".jpg",
            thumb_key="t" * 64 + ".jpg",
            width=1600,
            height=1200,
            thumb_width=160,
            thumb_height=120,
            phash="0" * 16,
        )
    )
    return report


@pytest.fixture
def grid(app: Flask) -> str:
    with app.app_context():
        for number, code in enumerate(GRIDS):
            make_grid(code, lat=37.8601 + number * 0.002)
        db.session.commit()
    return GRIDS[0]


def _grid(n: int) -> str:
    return GRIDS[n % len(GRIDS)]


def public_reports(count: int, reporter: User | None = None) -> list[Report]:
    """Reports of an ordinary and of a sensitive category (the card shows the grid instead of the address)."""
    made = []
    for n in range(count):
        category = "06001" if n % 2 else "06042"
        status = ReportStatus.DISPATCHED if n % 3 == 2 else ReportStatus.CLOSED
        reporter_now = db.session.get(User, reporter.id) if reporter is not None else None
        made.append(
            _with_photo(
                make_case(
                    reporter_now or make_user(),
                    status=status,
                    category_code=category,
                    grid_code=_grid(n),
                    address="" if n % 3 else "千峰南路",  # without an address a card shows the grid's name
                )
            )
        )
    db.session.flush()
    return made


@pytest.mark.parametrize("path", ["/", "/reports", "/reports?status=closed&group=D"])
def test_public_report_lists(app, client, grid, path):
    assert_budget(app, client, path, public_reports, RESIDENT_CEILING)


def test_report_list_fragment(app, client, grid):
    assert_budget(app, client, "/reports?page=1", public_reports, RESIDENT_CEILING, headers=HX)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", {}),
        ("/reports", {}),
        ("/reports?page=1", HX),
        ("/open-data", {}),
        ("/open-data", HX),
        ("/reports/{id}", {}),
        ("/store", {}),
    ],
    ids=["home", "list", "list-fragment", "open-data", "open-data-fragment", "report", "store"],
)
def test_kept_public_pages_send_no_statement(app, client, grid, monkeypatch, path, headers):
    """Anonymous visitors share what was rendered for the first of them (webapp.cache.fragment); the version
    counters of the static data are read at most once a second, as in production (tests read them every time)."""
    monkeypatch.setitem(app.config, "PUBLIC_FRAGMENT_SECONDS", 60)
    monkeypatch.setitem(app.config, "STATIC_CACHE_CHECK_SECONDS", 60)
    with app.app_context():
        report_id = public_reports(3)[0].id
        db.session.commit()
    assert statements(app, client, path.format(id=report_id), headers) == []


@pytest.fixture
def resident(app: Flask, client: FlaskClient) -> User:
    """A resident logged in through ``client``."""
    with app.app_context():
        user = make_user()
        db.session.commit()
    login(client, user)
    return user


def test_my_reports_and_the_ones_i_follow(app, client, grid, resident):

    def add(count: int) -> None:
        public_reports(count, resident)
        for report in public_reports(count):
            db.session.add(ReportFollower(report_id=report.id, user_id=resident.id))

    assert_budget(app, client, "/me/reports", add, RESIDENT_CEILING)
    assert_budget(app, client, "/", add, RESIDENT_CEILING)


def test_my_reports_in_the_api(app, client, grid, resident):
    assert_budget(app, client, "/api/v1/me/reports", lambda n: public_reports(n, resident), RESIDENT_CEILING)


def test_open_data_list(app, client, grid):
    assert_budget(app, client, "/open-data", public_reports, RESIDENT_CEILING)


def test_open311_requests(app, client, grid):
    assert_budget(app, client, "/open311/v2/requests.json", public_reports, RESIDENT_CEILING)


def test_notifications(app, client, grid, resident):

    def add(count: int) -> None:
        user = db.session.get(User, resident.id)
        for report in public_reports(count):
            notify([user], "status_changed", report, status="closed")

    assert_budget(app, client, "/me/notifications", add, RESIDENT_CEILING)


def test_review_queue(app, client, grid):
    with app.app_context():
        reviewer = make_staff(Role.REVIEWER, on_duty=True)
        db.session.commit()
    login(client, reviewer)

    def add(count: int) -> None:
        for n in range(count):
            _with_photo(make_case(emergency=n % 7 == 0, grid_code=_grid(n), address="" if n % 3 else "千峰南路"))

    assert_budget(app, client, "/review/", add, STAFF_CEILING)


@pytest.fixture
def department_id(app: Flask, client: FlaskClient) -> int:
    """A department whose head is logged in through ``client``."""
    with app.app_context():
        department = make_department()
        head = make_staff(Role.DEPARTMENT, department, head=True)
        db.session.commit()
        department_id = department.id
    login(client, head)
    return department_id


def test_department_inbox(app, client, grid, department_id):

    def add(count: int) -> None:
        for n in range(count):
            make_case(
                status=ReportStatus.DISPATCHED if n % 2 else ReportStatus.IN_PROGRESS,
                department_id=department_id,
                dispatched_at=utcnow() - timedelta(hours=n),
                due_at=utcnow() + timedelta(hours=24 - n),
                grid_code=_grid(n),
                address="" if n % 3 else "千峰南路",
            )

    assert_budget(app, client, "/department/", add, STAFF_CEILING)


@pytest.mark.parametrize("light", ["", "red", "green"])
def test_department_inbox_page_two(app, client, grid, department_id, light):
    """The inbox's second page, as an htmx fragment: the same statements with 1 case on it as with a full page.
    Unfiltered and overdue: the page's rows carry the total (no COUNT); green needs the cases' deadlines first."""
    from webapp.handling.services import INBOX_PER_PAGE

    def add(count: int) -> None:
        for n in range(count):
            make_case(
                status=ReportStatus.SIGNED,
                department_id=department_id,
                dispatched_at=utcnow() - timedelta(minutes=5),  # green: a month to go, hardly any of it used
                due_at=utcnow() + (timedelta(hours=-n - 1) if light == "red" else timedelta(days=30, minutes=n)),
                grid_code=_grid(n),
                address="" if n % 3 else "千峰南路",
            )

    with app.app_context():
        add(INBOX_PER_PAGE)
        db.session.commit()
    path = f"/department/?page=2&light={light}"
    assert_budget(app, client, path, add, STAFF_CEILING, headers=HX)
    page = client.get(path, headers=HX).get_data(as_text=True)
    assert page.count('class="report-card') == INBOX_PER_PAGE and "第 2 页，共 3 页" in page


def test_my_points(app, client, grid, resident):
    """The resident's points page: balance, expiring points, the daily cap and the history in a fixed number."""
    from webapp.points import awards, ledger
    from webapp.points.models import AccountKind, TransactionKind

    def add(count: int) -> None:
        user = db.session.get(User, resident.id)
        fund = ledger.system_account(AccountKind.FUND)
        for report in public_reports(count, user):
            ledger.post(
                f"test:award:{report.id}",
                TransactionKind.AWARD,
                "report_accepted",
                [(fund, -5), (ledger.account_for(user), 5)],
                report_id=report.id,
                expires_on=awards.expiry_for(utcnow()),
            )

    assert_budget(app, client, "/points", add, POINTS_CEILING)


def test_dashboard(app, client, grid):
    """The dashboard's page (its panels come separately) reads the filter form's places and departments from the
    process's copies, and the roll-up's freshness: nothing grows with reports, grids or departments."""
    with app.app_context():
        supervisor = make_staff(Role.ADMIN)
        db.session.commit()
    login(client, supervisor)

    def add(count: int) -> None:
        for n in range(count):
            make_department(f"Q{count}{n}")
            make_grid(f"1401090{count:02d}{n:06d}")
        public_reports(count)

    assert_budget(app, client, "/dashboard/", add, STAFF_CEILING)
