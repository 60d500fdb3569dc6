"""Activities over HTTP: access per role, organising, sign-up (page and fragment), check-in pages and the
offline API, the organiser's panel, certificates and /verify."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from tests.helpers import HX, api_headers, csrf_token, login, post, scanners, text
from webapp import localtime
from webapp.accounts.models import Department, Role
from webapp.activities import certificates, checkin, services
from webapp.activities.models import ActivityEvent, ActivityKind, Certificate, Checkin, Signup
from webapp.db import db, utcnow
from webapp.points import ledger

ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, *[r.value for r in Role]]


def make_activity(start=None, admin=None, **overrides):  # type: ignore[no-untyped-def]
    start = start or utcnow() + timedelta(minutes=5)
    admin = admin or make_user(Role.ADMIN)
    values = {
        "kind": ActivityKind.GARBAGE_SORTING,
        "title": "垃圾分类指导日",
        "description": "现场讲解",
        "address": "兴华街道 和平南路 12 号",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "capacity": 1,
    }
    values.update(overrides)
    return services.create_activity(admin, services.ActivityData(**values), now=start - timedelta(days=1))


def user_of(role: str):  # type: ignore[no-untyped-def]
    if role == ANONYMOUS:
        return None
    user = make_user(Role(role))
    if role == "department":
        department = Department(code="JD-T", name_zh="兴华街道", organiser=False)
        db.session.add(department)
        db.session.flush()
        user.department = department
    return user


PUBLIC = dict.fromkeys(ROLES, 200)
LOGGED_IN = {ANONYMOUS: 302, **{r.value: 200 for r in Role}}
ADMIN_ONLY = {ANONYMOUS: 302, **{r.value: 403 for r in Role}, "admin": 200}
ACCESS = [
    ("/activities", PUBLIC),
    ("/activities?view=week", PUBLIC),
    ("/activities/{a}", PUBLIC),
    ("/activities/{a}.ics", PUBLIC),
    ("/activities/scan", PUBLIC),
    ("/verify", PUBLIC),
    ("/verify/{code}", PUBLIC),
    ("/activities/mine", LOGGED_IN),
    ("/me/certificates", LOGGED_IN),
    ("/me/code", LOGGED_IN),
    ("/activities/new", ADMIN_ONLY),
    ("/activities/organise", ADMIN_ONLY),
    ("/activities/{a}/manage", ADMIN_ONLY),
    ("/activities/{a}/edit", ADMIN_ONLY),
    ("/activities/{a}/screen", ADMIN_ONLY),
    ("/activities/{a}/codes.json", ADMIN_ONLY),
    ("/activities/{a}/poster", ADMIN_ONLY),
]


@pytest.mark.parametrize("role", ROLES)
def test_access_per_role(app, client, role):
    with app.app_context():
        activity = make_activity()
        owner = make_user()
        code = certificates.issue(owner, localtime.current_period(localtime.PeriodKind.YEAR), name="").code
        user = user_of(role)
        db.session.commit()
        activity_id = activity.id
    if user is not None:
        login(client, user)
    for path, expected in ACCESS:
        url = path.format(a=activity_id, code=code)
        response = client.get(url)
        assert response.status_code == expected[role], (url, role, response.status_code)


def test_staff_of_an_organiser_department_manage_their_own_activities(app, client):
    with app.app_context():
        department = Department(code="JD-XH", name_zh="兴华街道办事处", organiser=True)
        db.session.add(department)
        db.session.flush()
        staff = make_user(Role.DEPARTMENT)
        staff.department = department
        others = make_activity()
        db.session.commit()
    login(client, staff)
    assert client.get("/activities/new").status_code == 200
    assert client.get(f"/activities/{others.id}/manage").status_code == 403
    start = (utcnow() + timedelta(days=2)).astimezone(localtime.zone())
    response = post(
        client,
        "/activities/new",
        {
            "kind": "legal_awareness",
            "title": "普法宣传进社区",
            "address": "兴华街道 文化广场",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "capacity": "20",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        activity = db.session.scalars(
            sa.select(services.Activity).where(services.Activity.title == "普法宣传进社区")
        ).one()
        assert activity.department_id == department.id
        assert (
            db.session.scalar(sa.select(ActivityEvent.action).where(ActivityEvent.activity_id == activity.id))
            == "created"
        )
    assert client.get(response.headers["Location"]).status_code == 200


def test_a_bad_activity_form_says_what_is_wrong_and_saves_nothing(app, client):
    client.set_cookie("lang", "en")  # the assertions read the English texts
    with app.app_context():
        admin = make_user(Role.ADMIN)
        db.session.commit()
    login(client, admin)
    response = post(
        client,
        "/activities/new",
        {
            "kind": "nonsense",
            "title": "",
            "address": "x",
            "starts_at": "2020-01-01T10:00",
            "ends_at": "yesterday",
            "capacity": "-3",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    body = text(response)
    assert "Please give the activity a title." in body
    response = post(
        client,
        "/activities/new",
        {
            "kind": "other",
            "title": "t",
            "address": "x",
            "starts_at": "2020-01-01T10:00",
            "ends_at": "2020-01-01T09:00",
            "capacity": "3",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(services.Activity)) == 0


def test_detail_has_open_graph_and_calendar_file(app, client):
    with app.app_context():
        activity = make_activity()
        db.session.commit()
    response = client.get(f"/activities/{activity.id}")
    body = response.get_data(as_text=True)
    assert '<meta property="og:title" content="垃圾分类指导日">' in body
    assert f'/activities/{activity.id}"' in re.search(r'og:url" content="([^"]+)"', body).group(0) + '"'
    # the same link previews as a report's page (templates/_macros/share.html): a card with the app's icon
    assert '<meta name="twitter:card" content="summary">' in body
    assert '<meta property="og:locale" content="zh_CN">' in body
    assert f'<link rel="canonical" href="http://localhost/activities/{activity.id}">' in body
    ics = client.get(f"/activities/{activity.id}.ics")
    assert ics.headers["Content-Type"].startswith("text/calendar")
    assert "SUMMARY:垃圾分类指导日" in ics.get_data(as_text=True)
    assert client.get("/activities/999999").status_code == 404
    assert client.get("/activities/99999999999999999999").status_code == 404


def test_sign_up_page_and_fragment_with_waiting_list(app, client):
    with app.app_context():
        activity = make_activity(start=utcnow() + timedelta(days=1))
        first, second = make_user(), make_user()
        db.session.commit()
    login(client, first)
    response = post(client, f"/activities/{activity.id}/signup")
    assert response.status_code == 303
    again = post(client, f"/activities/{activity.id}/signup", headers=HX)
    assert again.status_code == 422 and "HX-Retarget" in again.headers
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, second)
    fragment = post(client, f"/activities/{activity.id}/signup", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "1" in text(fragment) and fragment.headers.get("Vary", "").find("HX-Request") >= 0
    with app.app_context():
        assert [s.status.value for s in db.session.scalars(sa.select(Signup).order_by(Signup.id))] == [
            "confirmed",
            "waiting",
        ]
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, first)
    cancelled = post(client, f"/activities/{activity.id}/signup/cancel", headers=HX)
    assert cancelled.status_code == 200
    with app.app_context():
        assert [s.status.value for s in db.session.scalars(sa.select(Signup).order_by(Signup.id))] == [
            "cancelled",
            "confirmed",
        ]
    page = client.get(f"/activities/{activity.id}")
    assert "<html" in page.get_data(as_text=True)
    # Without the CSRF token nothing changes.
    assert client.post(f"/activities/{activity.id}/signup").status_code == 400


def test_scanned_code_asks_to_confirm_then_checks_in(app, client):
    with app.app_context():
        activity = make_activity()
        resident = make_user()
        db.session.commit()
        token = checkin.token_for(activity.id, checkin.window_of(utcnow()))
    # Not logged in: to the login page, carrying a signed note of when the code was seen.
    response = client.get(f"/activities/{activity.id}/checkin?t={token}")
    assert (
        response.status_code == 302
        and "/login" in response.headers["Location"]
        and "s%3D" in response.headers["Location"]
    )
    login(client, resident)
    page = client.get(f"/activities/{activity.id}/checkin?t={token}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    stamp = re.search(r'name="s" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = post(client, f"/activities/{activity.id}/checkin", {"t": token, "s": stamp})
    assert done.status_code == 200 and 'id="checkin-result"' in done.get_data(as_text=True)
    with app.app_context():
        assert ledger.balance_of(resident) == 5
    again = post(client, f"/activities/{activity.id}/checkin", {"t": token, "s": stamp})
    assert again.status_code == 200
    with app.app_context():
        assert ledger.balance_of(resident) == 5


def test_expired_and_forged_codes_get_a_clear_message(app, client):
    client.set_cookie("lang", "en")  # the assertions read the English texts
    with app.app_context():
        activity = make_activity()
        resident = make_user()
        db.session.commit()
        old = checkin.token_for(activity.id, checkin.window_of(utcnow() - timedelta(minutes=2)))
    login(client, resident)
    response = client.get(f"/activities/{activity.id}/checkin?t={old}")
    assert response.status_code == 422
    assert "expired" in text(response)
    assert client.get(f"/activities/{activity.id}/checkin?t=1.AAAAAAAAAAAAAAAA").status_code == 422
    assert client.get(f"/activities/{activity.id}/checkin").status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 0


def test_offline_api_accepts_once_and_refuses_bad_scans(app, client):
    with app.app_context():
        activity = make_activity()
        resident, other = make_user(), make_user()
        db.session.commit()
        scanned = utcnow() - timedelta(seconds=5)
        token = checkin.token_for(activity.id, checkin.window_of(scanned))
    payload = {
        "client_id": str(uuid.uuid4()),
        "activity_id": str(activity.id),
        "token": token,
        "scanned_at": scanned.isoformat(),
        "user": str(resident.id),
    }
    assert client.post("/api/v1/checkins", data=payload, headers=api_headers(client)).status_code == 401
    login(client, resident)
    first = client.post("/api/v1/checkins", data=payload, headers=api_headers(client))
    assert first.status_code == 201, first.get_json()
    replay = client.post("/api/v1/checkins", data=payload, headers=api_headers(client))
    assert replay.status_code == 200 and replay.get_json()["id"] == first.get_json()["id"]
    assert client.post("/api/v1/checkins", data=payload).status_code == 400  # no CSRF token
    bad = client.post("/api/v1/checkins", data={**payload, "client_id": "nope"}, headers=api_headers(client))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid"
    someone_else = client.post(
        "/api/v1/checkins",
        data={**payload, "client_id": str(uuid.uuid4()), "user": str(other.id)},
        headers=api_headers(client),
    )
    assert someone_else.status_code == 403
    future = client.post(
        "/api/v1/checkins",
        json={**payload, "client_id": str(uuid.uuid4()), "scanned_at": (utcnow() + timedelta(hours=1)).isoformat()},
        headers=api_headers(client),
    )
    assert future.status_code == 422
    missing = client.post("/api/v1/checkins", data={**payload, "activity_id": "999999"}, headers=api_headers(client))
    assert missing.status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 1
        assert ledger.balance_of(resident) == 5


def test_organiser_panel_full_page_and_fragment(app, client):
    with app.app_context():
        admin = make_user(Role.ADMIN)
        activity = make_activity(admin=admin)
        resident = make_user(name="张大爷")
        db.session.commit()
    login(client, admin)
    fragment = post(client, f"/activities/{activity.id}/check", {"who": resident.phone, "action": "in"}, headers=HX)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "张大爷" in body and 'id="attendance"' in body
    page = post(client, f"/activities/{activity.id}/check", {"who": "13000000000", "action": "in"})
    assert page.status_code == 422
    empty = post(client, f"/activities/{activity.id}/check", {"who": "", "action": "in"}, headers=HX)
    assert empty.status_code == 422 and 'id="who-error"' in empty.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 1
    screen = client.get(f"/activities/{activity.id}/screen")
    assert screen.status_code == 200 and "<svg" in screen.get_data(as_text=True)
    codes = client.get(f"/activities/{activity.id}/codes.json").get_json()
    with app.app_context():
        expected = checkin.token_for(activity.id, codes["codes"][0]["from"] // 30000)
    assert len(codes["codes"]) == checkin.CODES_AHEAD and codes["codes"][0]["url"].endswith(expected)
    poster = client.get(f"/activities/{activity.id}/poster")
    assert poster.status_code == 200 and 'class="qr-box"' in poster.get_data(as_text=True)


def test_certificate_issue_verify_revoke(app, client):
    client.set_cookie("lang", "en")  # the assertions read the English texts
    with app.app_context():
        resident = make_user(name="李华")
        admin = make_user(Role.ADMIN)
        db.session.commit()
    login(client, resident)
    year = utcnow().astimezone(localtime.zone()).year
    bad = post(client, "/me/certificates", {"name": "李华", "period": "month", "year": str(year), "number": "13"})
    assert bad.status_code == 422
    issued = post(client, "/me/certificates", {"name": "李华", "period": "year", "year": str(year)})
    assert issued.status_code == 303
    page = client.get(issued.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in body and "李华" in body
    with app.app_context():
        certificate = db.session.scalars(sa.select(Certificate)).one()
        code = certificate.code
    assert resident.phone not in body
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    verified = client.get(f"/verify/{certificates.pretty(code)}")
    assert verified.status_code == 200 and "李华" in verified.get_data(as_text=True)
    assert resident.phone not in verified.get_data(as_text=True)
    assert 'id="verify-state"' in verified.get_data(as_text=True)
    assert client.get("/verify/AAAAAAAAAAAAAAAA").status_code == 404
    assert client.get("/verify/nonsense").status_code == 404
    assert client.get(f"/verify?code={code.lower()}").status_code == 303
    assert client.get("/verify?code=xyz").status_code == 422
    login(client, resident)
    with app.app_context():
        certificate_id = db.session.scalars(sa.select(Certificate.id)).one()
    assert post(client, f"/me/certificates/{certificate_id}/revoke").status_code == 303
    revoked = client.get(f"/verify/{code}")
    assert revoked.status_code == 200 and "Not valid" in text(revoked)
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, admin)
    # Another resident cannot open or revoke it.
    assert client.get(f"/me/certificates/{certificate_id}").status_code == 404
    counts = client.get("/activities/organise")
    assert 'class="issued">1<' in counts.get_data(as_text=True)
    assert 'class="verified">' in counts.get_data(as_text=True)


def test_profile_shows_the_personal_code(app, client):
    with app.app_context():
        resident = make_user()
        db.session.commit()
        code = checkin.personal_code(resident)
    login(client, resident)
    body = client.get("/me/profile").get_data(as_text=True)
    assert code in body and "<svg" in body


def test_editing_after_check_ins_is_audited_and_keeps_paid_points(app, client):
    with app.app_context():
        admin = make_user(Role.ADMIN)
        activity = make_activity(admin=admin, capacity=5)
        resident = make_user()
        checkin.resident_scan(
            resident, activity, checkin.token_for(activity.id, checkin.window_of(utcnow())), at=utcnow()
        )
        db.session.commit()
        start = activity.starts_at.astimezone(localtime.zone())
    login(client, admin)
    form = client.get(f"/activities/{activity.id}/edit").get_data(as_text=True)
    assert 'value="垃圾分类指导日"' in form
    response = post(
        client,
        f"/activities/{activity.id}/edit",
        {
            "kind": "other",
            "title": "改期后的活动",
            "address": "兴华街道 和平南路 12 号",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "capacity": "5",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        event = db.session.scalars(sa.select(ActivityEvent).where(ActivityEvent.action == "edited")).one()
        assert {"kind", "title", "ends_at"} <= set(event.details["changes"]) and event.details["checked_in"] == 1
        assert ledger.balance_of(resident) == 5 and ledger.unbalanced_transactions() == []
    page = client.get(f"/activities/{activity.id}/manage")
    assert "改期后的活动" in page.get_data(as_text=True)


def test_check_in_before_it_opens_and_on_a_cancelled_activity(app, client):
    client.set_cookie("lang", "en")
    with app.app_context():
        admin = make_user(Role.ADMIN)
        later = make_activity(start=utcnow() + timedelta(hours=5), admin=admin)
        resident = make_user()
        db.session.commit()
        token = checkin.token_for(later.id, checkin.window_of(utcnow()))
    login(client, resident)
    page = client.get(f"/activities/{later.id}/checkin?t={token}")
    stamp = re.search(r'name="s" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    early = post(client, f"/activities/{later.id}/checkin", {"t": token, "s": stamp})
    assert early.status_code == 422 and "opens 30 minutes before" in text(early)
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, admin)
    assert post(client, f"/activities/{later.id}/cancel").status_code == 303
    assert post(client, f"/activities/{later.id}/cancel").status_code == 422  # already cancelled
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, resident)
    refused = post(client, f"/activities/{later.id}/signup")
    assert refused.status_code == 422 and "cancelled" in text(refused)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkin)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signup)) == 0


def test_activity_points_show_in_history_csv_and_honour_roll(app, client):
    with app.app_context():
        activity = make_activity()
        resident = make_user(name="赵阿姨", public=True)
        checkin.resident_scan(
            resident, activity, checkin.token_for(activity.id, checkin.window_of(utcnow())), at=utcnow()
        )
        db.session.commit()
    login(client, resident)
    assert "参加社区活动" in client.get("/me/participation.csv").get_data(as_text=True)
    assert "赵阿姨" in client.get("/honour").get_data(as_text=True)


def test_the_list_nearest_first_from_a_position_and_soonest_first_without(app, client):
    """"Nearest first" orders by the distance of each activity's pin from the position sent (pins only; the others
    after them), says how far to 100 m, keeps the filters, and without a (valid) position stays soonest first."""
    here = (37.8601, 112.5180)
    with app.app_context():
        now = utcnow()
        unpinned = make_activity(now + timedelta(hours=1), title="没有标注的活动")
        far = make_activity(now + timedelta(hours=2), title="远处的活动", lat=here[0] + 0.02, lon=here[1])
        near = make_activity(now + timedelta(days=3), title="近处的活动", lat=here[0] + 0.0027, lon=here[1] + 0.0004)
        other_kind = make_activity(
            now + timedelta(hours=3), title="普法活动", kind=ActivityKind.LEGAL_AWARENESS, lat=here[0], lon=here[1]
        )
        db.session.commit()
        titles = [a.title for a in (unpinned, far, near, other_kind)]

    def order(html: str) -> list[str]:
        listed = html.split('id="activity-list"', 1)[1].split("</ul>", 1)[0]
        return [t for t in re.findall(r'class="card-title"[^>]*>([^<]+)<', listed) if t in titles]

    soonest = client.get("/activities").get_data(as_text=True)
    assert order(soonest) == ["没有标注的活动", "远处的活动", "普法活动", "近处的活动"]
    assert 'id="act-near" hidden' in soonest and 'name="lat" value="" disabled' in soonest
    assert "距离" not in soonest

    url = f"/activities?kind=garbage_sorting&order=near&lat={here[0]:.3f}&lon={here[1]:.3f}"
    page = client.get(url).get_data(as_text=True)
    assert order(page) == ["近处的活动", "远处的活动", "没有标注的活动"]
    assert "即将举行（由近到远）" in page and "距离 300 米" in page and "距离 2.2 公里" in page
    assert 'name="lat" value="37.860"' in page and 'name="order" value="near">' in page  # the filters keep it
    assert 'href="/activities?kind=garbage_sorting">按时间先后' in page
    fragment = client.get(url, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and order(fragment) == ["近处的活动", "远处的活动", "没有标注的活动"]

    for bad in ("order=near", "order=near&lat=91&lon=112.5", "order=near&lat=x&lon=1", f"lat={here[0]}&lon={here[1]}"):
        response = client.get(f"/activities?{bad}")
        assert response.status_code == 200, bad
        assert order(response.get_data(as_text=True)) == ["没有标注的活动", "远处的活动", "普法活动", "近处的活动"]


def test_every_scanning_page_has_the_same_labelled_scanner(app, client):
    """One macro (templates/_macros/qr_scanner.html) for the organiser's panel and the check-in page (the hand-over
    desk: tests/web/test_handover_web.py): start and stop buttons and a camera picture named in the reader's
    language."""
    with app.app_context():
        admin = make_user(Role.ADMIN)
        activity = make_activity(admin=admin)
        db.session.commit()
    login(client, admin)
    assert scanners(client.get(f"/activities/{activity.id}/manage").get_data(as_text=True)) == [("who-", "摄像头画面")]
    assert scanners(client.get("/activities/scan").get_data(as_text=True)) == [("act-", "摄像头画面")]
    client.set_cookie("lang", "en")
    manage = client.get(f"/activities/{activity.id}/manage").get_data(as_text=True)
    assert scanners(manage) == [("who-", "Camera picture")]
    assert 'data-msg-looking="Point the camera at the resident’s personal code."' in manage
