"""Who reaches what: every route, for an anonymous visitor and for each role.

Later issues add staff pages; each adds its rows here, so one table shows the whole access policy.
"""

from __future__ import annotations

import pytest

from tests.factories import make_report, make_user
from tests.helpers import csrf_token, login
from webapp.accounts.models import Role
from webapp.db import db

ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, *[r.value for r in Role]]
EVERYONE = dict.fromkeys(ROLES, 200)
LOGGED_IN = {ANONYMOUS: 302, **{r.value: 200 for r in Role}}
LOGGED_IN_JSON = {ANONYMOUS: 401, **{r.value: 200 for r in Role}}


def only(*roles: Role, elsewhere: int = 403) -> dict[str, int]:
    """200 for these roles, a login redirect for anonymous visitors, ``elsewhere`` for everyone else."""
    return {ANONYMOUS: 302, **{r.value: (200 if r in roles else elsewhere) for r in Role}}


REVIEWERS = only(Role.REVIEWER, Role.ADMIN)

# (path, expected status per role). "{report}" is replaced by the id of an existing report.
ROUTES = [
    ("/", EVERYONE),
    ("/reports", EVERYONE),
    ("/reports/new", EVERYONE),
    ("/reports/{report}", EVERYONE),
    ("/reports/nearby?category=06042&lat=37.86&lon=112.518", EVERYONE),
    ("/categories/search?q=垃圾", EVERYONE),
    ("/login", {ANONYMOUS: 200, **{r.value: 302 for r in Role}}),
    ("/register", {ANONYMOUS: 200, **{r.value: 302 for r in Role}}),
    ("/password/reset", EVERYONE),
    ("/me/reports", LOGGED_IN),
    ("/me/profile", LOGGED_IN),
    ("/healthz", EVERYONE),
    ("/offline", EVERYONE),
    ("/outbox", EVERYONE),
    ("/sw.js", EVERYONE),
    ("/manifest.webmanifest", EVERYONE),
    ("/api/v1/csrf", EVERYONE),
    ("/api/v1/categories", EVERYONE),
    ("/api/v1/reports/{report}", EVERYONE),
    ("/api/v1/me/reports", LOGGED_IN_JSON),
    ("/me/notifications", LOGGED_IN),
    ("/review/", REVIEWERS),
    ("/review/?queue=check", REVIEWERS),
    ("/review/{report}", REVIEWERS),
    ("/department/", only(Role.DEPARTMENT)),
    ("/department/{report}", only(Role.DEPARTMENT, elsewhere=403) | {"department": 404}),  # not their case
    ("/volunteer/", only(Role.VOLUNTEER)),
    ("/volunteer/fix", only(Role.VOLUNTEER)),
    ("/volunteer/{report}", only(Role.VOLUNTEER) | {"volunteer": 404}),  # not open to volunteers
    ("/admin/posters", only(Role.ADMIN)),
    ("/admin/posters/new", only(Role.ADMIN)),
    ("/admin/api-keys", only(Role.ADMIN)),
    ("/feedback", EVERYONE),
    ("/feedback/mine", LOGGED_IN),
    ("/admin/feedback", only(Role.ADMIN)),
    ("/admin/monitoring", only(Role.ADMIN)),
    ("/admin/staff", only(Role.ADMIN)),
    ("/dashboard/", REVIEWERS),
    ("/dashboard/panels/hotspots", REVIEWERS),
    ("/dashboard/reports/weekly", REVIEWERS),
    ("/open-data", EVERYONE),
    ("/open-data/schema", EVERYONE),
    ("/open-data/map.geojson", EVERYONE),
    ("/open-data/reports.json", EVERYONE),
    ("/open-data/reports.csv", EVERYONE),
    ("/campaigns", EVERYONE),
    ("/campaigns/1", dict.fromkeys(ROLES, 404)),  # no campaign published
    ("/points", LOGGED_IN),
    ("/store", EVERYONE),
    ("/store/orders", LOGGED_IN),
    ("/household", LOGGED_IN),
    ("/honour", EVERYONE),
    ("/honour/certificate", {ANONYMOUS: 302, **{r.value: 404 for r in Role}}),  # only for those on the roll
    ("/me/participation.csv", LOGGED_IN),
    ("/api/v1/me/points", LOGGED_IN_JSON),
    ("/admin/points/", only(Role.ADMIN)),
    ("/admin/points/rules", only(Role.ADMIN)),
    ("/admin/points/campaigns", only(Role.ADMIN)),
    ("/admin/points/items", only(Role.ADMIN)),
    ("/admin/points/items/new", only(Role.ADMIN)),
    ("/admin/points/fund", only(Role.ADMIN)),
    ("/admin/points/fund/reconciliation.csv", only(Role.ADMIN)),
    ("/handover/", only(Role.ADMIN)),  # and staff of a service point (tests/web/test_handover_web.py)
    ("/handover/service-points", only(Role.ADMIN)),
    ("/admin/points/reports/{report}/reverse", only(Role.ADMIN)),
    ("/dashboard/data/categories.csv", REVIEWERS),
    ("/dashboard/reports/monthly", REVIEWERS),
]

# Every state-changing staff route, POSTed with a valid CSRF token but without a valid form: the role check
# comes first, so other roles get 403 (anonymous visitors a login redirect) whatever they send.
POSTS = [
    ("/review/{report}/accept", REVIEWERS),
    ("/review/{report}/reject", REVIEWERS),
    ("/review/{report}/dispatch", REVIEWERS),
    ("/review/{report}/close", REVIEWERS),
    ("/review/{report}/escalate", REVIEWERS),
    ("/review/{report}/extension", REVIEWERS),
    ("/review/bulk", REVIEWERS),
    ("/department/{report}/sign", only(Role.DEPARTMENT)),
    ("/department/{report}/result", only(Role.DEPARTMENT)),
    ("/department/{report}/extension", only(Role.DEPARTMENT)),
    ("/volunteer/{report}/claim", only(Role.VOLUNTEER)),
    ("/volunteer/{report}/result", only(Role.VOLUNTEER)),
    ("/admin/posters/new", only(Role.ADMIN)),
    ("/admin/api-keys", only(Role.ADMIN)),
    ("/admin/feedback/1", only(Role.ADMIN, elsewhere=403) | {"admin": 404}),  # no such feedback
    ("/admin/campaigns/1/publish", only(Role.ADMIN, elsewhere=403) | {"admin": 404}),  # no such campaign
    ("/admin/points/rules", only(Role.ADMIN)),
    ("/admin/points/campaigns", only(Role.ADMIN)),
    ("/admin/points/items/new", only(Role.ADMIN)),
    ("/admin/points/fund/budget-lines", only(Role.ADMIN)),
    ("/admin/points/reports/{report}/reverse", only(Role.ADMIN)),
    ("/handover/1", only(Role.ADMIN)),
    ("/handover/1/cancel", only(Role.ADMIN)),
    ("/handover/service-points/1", only(Role.ADMIN)),
]


@pytest.fixture
def report_id(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        report = make_report()
        db.session.commit()
        return report.id


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(app, client, report_id, role):
    if role != ANONYMOUS:
        with app.app_context():
            user = make_user(Role(role))
            db.session.commit()
        login(client, user)
    for path, expected in ROUTES:
        response = client.get(path.format(report=report_id))
        assert response.status_code == expected[role], f"{role} GET {path}: {response.status_code}"


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_action_is_refused_to_other_roles(app, client, report_id, role):
    if role != ANONYMOUS:
        with app.app_context():
            user = make_user(Role(role))
            db.session.commit()
        login(client, user)
    token = csrf_token(client)
    for path, expected in POSTS:
        response = client.post(path.format(report=report_id), data={"csrf_token": token})
        status = response.status_code
        if expected[role] == 200:
            assert status not in (302, 403), f"{role} POST {path}: {status}"
            assert status < 500
        else:
            assert status == expected[role], f"{role} POST {path}: {status}"


def test_a_resident_never_sees_another_residents_private_data(app, client):
    with app.app_context():
        alice, bob = make_user(phone="13800000101"), make_user(phone="13800000102")
        alices = make_report(alice, description="Alice 的报告")
        db.session.commit()
        alices_client_id = alices.client_id
    login(client, bob)
    assert client.get("/me/reports").get_data(as_text=True).count("Alice 的报告") == 0
    assert client.get("/api/v1/me/reports").get_json() == []
    for path in ("/me/profile", "/me/reports"):
        assert "13800000101" not in client.get(path).get_data(as_text=True)
    # The public report page and API show the report, never who sent it or their phone.
    public = client.get(f"/api/v1/reports/{alices.id}").get_json()
    assert "13800000101" not in str(public) and "reporter" not in public
    assert public["client_id"] == alices_client_id
