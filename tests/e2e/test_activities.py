"""Community activities end to end on a 360×740 phone: an organiser creates an activity, a resident signs up, the
rotating code is scanned in time (checked in, points paid) and too late (refused), an offline scan is kept in the
outbox and reaches the server exactly once, the organiser checks a resident in by phone number and another out
(volunteer hours), the ledger and the fund reconciliation stay balanced, and a participation certificate is
issued, verified by a stranger and revoked. Every new page gets an axe-core check."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import assert_accessible, log_in
from tests.factories import make_user
from webapp import localtime
from webapp.accounts.models import Role
from webapp.activities import checkin, services
from webapp.activities.models import Activity, ActivityKind, Checkin, CheckinMethod
from webapp.db import db, utcnow
from webapp.points import fund, ledger


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def phone(browser: Browser, base: str, number: str | None) -> Page:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        service_workers="allow",
    )
    page = context.new_page()
    if number:
        log_in(page, base, number)
    return page


def checkins(app) -> list[tuple[int, str, int | None]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        rows = db.session.execute(
            sa.select(Checkin.user_id, Checkin.method, Checkin.minutes).order_by(Checkin.id)
        ).all()
        db.session.remove()
        return [(user_id, method.value, minutes) for user_id, method, minutes in rows]


def test_create_sign_up_and_check_in_with_the_rotating_code(app, live_server, browser: Browser, page: Page):
    base = live_server.url
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700006001", name="街道 陈")
        resident = make_user(phone="13700006002", name="王阿姨")
        db.session.commit()
    started = utcnow()

    # The organiser publishes an activity that starts in ten minutes.
    log_in(page, base, admin.phone)
    page.goto(base + "/activities/new")
    assert_accessible(page, "new activity form")
    start = (utcnow() + timedelta(minutes=10)).astimezone(localtime.zone())
    page.locator("#kind").select_option("garbage_sorting")
    page.locator("#title").fill("兴华小区垃圾分类指导")
    page.locator("#description").fill("教大家分清四类垃圾")
    page.locator("#address").fill("兴华小区 东门")
    page.locator("#starts_at").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#ends_at").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#capacity").fill("30")
    page.locator("form.act-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/activities/\d+/manage$"))
    assert_accessible(page, "organiser's page")
    activity_id = int(page.url.rsplit("/", 2)[1])

    # The resident finds it in the list and signs up (htmx swaps the panel).
    resident_page = phone(browser, base, resident.phone)
    resident_page.goto(base + "/activities")
    assert_accessible(resident_page, "activities list")
    resident_page.get_by_role("link", name="兴华小区垃圾分类指导").click()
    expect(resident_page).to_have_url(f"{base}/activities/{activity_id}")
    assert_accessible(resident_page, "activity page")
    resident_page.locator("#signup-button").click()
    expect(resident_page.locator("#signup-panel .flash-success")).to_contain_text("报名成功")
    assert_accessible(resident_page, "signed up")
    # The week that holds the start (near midnight on a Sunday "in ten minutes" is next week).
    resident_page.goto(base + f"/activities?view=week&week={start.date().isoformat()}")
    expect(resident_page.locator(".act-week")).to_contain_text("兴华小区垃圾分类指导")
    assert_accessible(resident_page, "week calendar")

    # At the venue: the organiser's screen shows the current code; the resident's camera opens its URL.
    page.locator("#open-screen").click()
    expect(page.locator("#act-screen-qr svg")).to_be_visible()
    assert_accessible(page, "check-in screen")
    code_url = page.locator("#act-screen-qr").get_attribute("data-url")
    assert code_url and f"/activities/{activity_id}/checkin?t=" in code_url
    resident_page.goto(code_url)
    assert_accessible(resident_page, "check-in confirmation")
    resident_page.locator("#checkin-button").click()
    expect(resident_page.locator("#checkin-result")).to_contain_text("签到成功")
    expect(resident_page.locator("#checkin-points")).to_contain_text("5")
    assert_accessible(resident_page, "checked in")

    # A photo of an older code forwarded to someone at home: refused with the reason.
    with app.app_context():
        late_token = checkin.token_for(activity_id, checkin.window_of(utcnow() - timedelta(minutes=2)))
    late = phone(browser, base, None)
    with app.app_context():
        friend = make_user(phone="13700006003")
        db.session.commit()
    log_in(late, base, friend.phone)
    response = late.goto(f"{base}/activities/{activity_id}/checkin?t={late_token}")
    assert response is not None and response.status == 422
    expect(late.locator("main")).to_contain_text("签到码已过期")

    assert checkins(app) == [(resident.id, "qr", None)]
    with app.app_context():
        assert ledger.balance_of(resident) == 5
        assert ledger.unbalanced_transactions() == []
        assert fund.reconcile(started - timedelta(minutes=1)).balanced
        db.session.remove()


def test_an_offline_scan_is_kept_and_reaches_the_server_exactly_once(app, live_server, context: BrowserContext):
    base = live_server.url
    with app.app_context():
        activity = services.create_activity(
            make_user(Role.ADMIN),
            services.ActivityData(
                kind=ActivityKind.VOLUNTEER_DAY,
                title="地下车库清理",
                description="",
                address="兴华小区 地下车库",
                starts_at=utcnow() - timedelta(minutes=5),
                ends_at=utcnow() + timedelta(hours=2),
                capacity=20,
            ),
            now=utcnow() - timedelta(days=1),
        )
        resident = make_user(phone="13700006011")
        db.session.commit()
        activity_id = activity.id
    page = context.new_page()
    log_in(page, base, resident.phone)
    page.goto(base + "/activities/scan")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        page.reload()
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    assert_accessible(page, "scanner page")
    with app.app_context():
        token = checkin.token_for(activity_id, checkin.window_of(utcnow()))

    # No signal in the basement: the scanned URL opens the app's offline scanner page, which keeps the scan.
    context.set_offline(True)
    page.goto(f"{base}/activities/{activity_id}/checkin?t={token}")
    expect(page.locator("#act-scan-saved")).to_be_visible()
    expect(page.locator("#act-scan-saved")).to_contain_text("已保存在本机")
    assert checkins(app) == []

    # Back online: the first answer is lost after the server committed; the retry gets the stored check-in back.
    live_server.faults.path = "/api/v1/checkins"
    try:
        live_server.faults.plan = ["lost"]
        context.set_offline(False)

        def send_pass() -> int:
            """One send pass (the outbox lets one sender at a time through), then what is left on the phone."""
            return page.evaluate("() => CitizenGridOutbox.sendAll({force: true}).then(() => CitizenGridOutbox.count())")

        wait_until(lambda: len(live_server.faults.seen) >= 1 or send_pass() < 0)
        wait_until(lambda: send_pass() == 0)
        assert len(live_server.faults.seen) == 2
    finally:
        live_server.faults.path = "/api/v1/reports"
    assert checkins(app) == [(resident.id, "offline", None)]
    with app.app_context():
        assert ledger.balance_of(resident) == 10  # paid once, at the scan time kept on the phone
        db.session.remove()


def test_organiser_checks_in_by_phone_and_out_with_hours(app, live_server, page: Page):
    base = live_server.url
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700006021")
        older = make_user(phone="13700006022", name="李大爷")
        helper = make_user(phone="13700006023", name="小张")
        start = utcnow() - timedelta(minutes=50)
        activity = services.create_activity(
            admin,
            services.ActivityData(
                kind=ActivityKind.VOLUNTEER_DAY,
                title="志愿服务日",
                description="",
                address="千峰南路",
                starts_at=start,
                ends_at=start + timedelta(hours=3),
                capacity=20,
                min_stay_minutes=30,
            ),
            now=start - timedelta(days=1),
        )
        checkin._check_in(activity, helper, at=utcnow() - timedelta(minutes=45), method=CheckinMethod.QR)
        db.session.commit()
        activity_id = activity.id
    log_in(page, base, admin.phone)
    page.goto(f"{base}/activities/{activity_id}/manage")
    page.locator("#who").fill("137 0000 6022")
    page.locator(".act-check-form button[type=submit]").click()
    expect(page.locator("#check-note")).to_contain_text("李大爷")
    assert_accessible(page, "organiser check-in")
    page.locator("#who").fill(helper.phone)
    page.locator("#action").select_option("out")
    page.locator(".act-check-form button[type=submit]").click()
    expect(page.locator("#check-note")).to_contain_text("45")
    expect(page.locator(f"#attendance-table tr[data-user='{helper.id}'] .minutes")).to_have_text("45")
    # A check-out without a check-in is refused with the reason, and nothing changes.
    with app.app_context():
        stranger = make_user(phone="13700006024")
        db.session.commit()
    page.locator("#who").fill(stranger.phone)
    page.locator("#action").select_option("out")
    page.locator(".act-check-form button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("尚未签到")
    rows = checkins(app)
    assert sorted(rows) == sorted([(helper.id, "qr", 45), (older.id, "organiser", None)])
    with app.app_context():
        assert ledger.balance_of(helper) == 10 and ledger.balance_of(older) == 0
        assert ledger.unbalanced_transactions() == []
        assert fund.reconcile(start - timedelta(days=1)).balanced
        db.session.remove()


# Chromium on Linux has no BarcodeDetector: a stand-in reads the texts of window.__codes__ in turn, from a camera
# that films a blank canvas, so the pages' own scanner code (qr-scanner.js and its three users) runs for real.
FAKE_CAMERA = """
window.__codes__ = [];
window.BarcodeDetector = class {
  static async getSupportedFormats() { return ["qr_code", "ean_13"]; }
  async detect() { const text = window.__codes__.shift(); return text ? [{ rawValue: text }] : []; }
};
navigator.mediaDevices.getUserMedia = async () => {
  const canvas = document.createElement("canvas");
  canvas.getContext("2d").fillRect(0, 0, 8, 8);
  return canvas.captureStream(5);
};
"""


def test_the_camera_scanner_reads_a_personal_code_and_a_checkin_code(app, live_server, page: Page):
    base = live_server.url
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700006031")
        older = make_user(phone="13700006032", name="赵奶奶")
        start = utcnow() - timedelta(minutes=5)
        activity = services.create_activity(
            admin,
            services.ActivityData(
                kind=ActivityKind.VOLUNTEER_DAY,
                title="扫码签到演练",
                description="",
                address="千峰南路",
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                capacity=20,
            ),
            now=start - timedelta(days=1),
        )
        db.session.commit()
        activity_id, code = activity.id, checkin.personal_code(older)
        token = checkin.token_for(activity_id, checkin.window_of(utcnow()))
    page.add_init_script(FAKE_CAMERA)
    log_in(page, base, admin.phone)

    # The organiser's panel: another code first (said so), then the resident's personal code checks them in.
    page.goto(f"{base}/activities/{activity_id}/manage")
    expect(page.locator("#who-scanner")).to_be_visible()
    page.evaluate("(code) => { window.__codes__ = ['https://example.com/', code]; }", code)
    page.locator("#who-scan-start").click()
    expect(page.locator("#check-note")).to_contain_text("赵奶奶")
    expect(page.locator("#who-scan-video")).to_be_hidden()
    expect(page.locator("#who-scan-start")).to_be_visible()
    assert_accessible(page, "organiser's scanner")
    assert checkins(app) == [(older.id, "organiser", None)]

    # The check-in page: online, a scanned check-in code of this site is opened.
    page.goto(base + "/activities/scan")
    checkin_url = f"/activities/{activity_id}/checkin?t={token}"
    page.evaluate("(url) => { window.__codes__ = ['CGP1-AAAAAAAAAA', url]; }", checkin_url)
    page.locator("#act-scan-start").click()
    expect(page).to_have_url(re.compile(rf"/activities/{activity_id}/checkin\?t="))
    expect(page.locator("#checkin-button")).to_be_visible()


def test_certificate_issued_verified_and_revoked(app, live_server, browser: Browser, page: Page):
    base = live_server.url
    with app.app_context():
        resident = make_user(phone="13700006031", name="刘同学")
        start = utcnow() - timedelta(minutes=20)
        activity = services.create_activity(
            make_user(Role.ADMIN),
            services.ActivityData(
                kind=ActivityKind.LEGAL_AWARENESS,
                title="普法宣传",
                description="",
                address="文化广场",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                capacity=20,
            ),
            now=start - timedelta(days=1),
        )
        checkin._check_in(activity, resident, at=utcnow(), method=CheckinMethod.QR)
        db.session.commit()
    log_in(page, base, resident.phone)
    page.goto(base + "/me/certificates")
    assert_accessible(page, "my certificates")
    page.locator("#name").fill("刘同学")
    page.locator("#period").select_option("year")
    page.locator("form.cert-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/me/certificates/\d+$"))
    expect(page.locator(".cert-qr svg")).to_be_visible()
    expect(page.locator("[data-figure=activities_attended]").first).to_have_text("1")
    assert_accessible(page, "certificate")
    code = page.locator("#certificate-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code)

    stranger = phone(browser, base, None)  # a school checks it, without an account
    stranger.goto(base + "/verify")
    assert_accessible(stranger, "verify form")
    stranger.locator("#code").fill(code.lower())
    stranger.locator("main form button[type=submit]").click()
    expect(stranger.locator("#verify-state")).to_contain_text("有效")
    expect(stranger.locator("#verify-name")).to_have_text("刘同学")
    expect(stranger.locator("[data-figure=activities_attended]")).to_have_text("1")
    assert resident.phone not in stranger.content()
    assert_accessible(stranger, "verified certificate")

    page.locator("#revoke-button").click()
    expect(page.locator("#flash")).to_contain_text("证明已撤销")
    stranger.reload()
    expect(stranger.locator("#verify-state")).to_contain_text("无效")
    assert_accessible(stranger, "revoked certificate")
    response = stranger.goto(base + "/verify/AAAABBBBCCCCDDDD")
    assert response is not None and response.status == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Activity)) == 1
        db.session.remove()


def test_the_list_nearest_first_from_the_phones_position(app, live_server, browser: Browser):
    """On a 360×740 phone: "Nearest first" asks for the position and orders the list by distance (the kind filter
    keeps the order); where the position is refused the list stays soonest first and says why."""
    base = live_server.url
    here = {"latitude": 37.8601, "longitude": 112.5180}
    with app.app_context():
        admin = make_user(Role.ADMIN, phone="13700006041")
        now = utcnow()
        for title, hours, lat in (("最早的活动", 1, None), ("远处的活动", 2, 37.88), ("近处的活动", 30, 37.8628)):
            services.create_activity(
                admin,
                services.ActivityData(
                    kind=ActivityKind.VOLUNTEER_DAY,
                    title=title,
                    description="",
                    address="千峰南路",
                    starts_at=now + timedelta(hours=hours),
                    ends_at=now + timedelta(hours=hours + 2),
                    capacity=20,
                    lat=lat,
                    lon=112.518 if lat else None,
                ),
                now=now - timedelta(days=1),
            )
        db.session.commit()
        db.session.remove()
    titles = "#activity-list .card-title"

    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation=here,
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.goto(base + "/activities")
    expect(page.locator(titles)).to_have_text(["最早的活动", "远处的活动", "近处的活动"])
    page.locator("#act-near").click()
    expect(page.locator(titles)).to_have_text(["近处的活动", "远处的活动", "最早的活动"])
    expect(page.locator("#activity-list .act-distance").first).to_have_text("距离 300 米")
    assert "lat=37.860" in page.url  # rounded to about 100 m before it left the phone
    page.locator("#kind").select_option("volunteer_day")
    expect(page.locator("h2").first).to_have_text("即将举行（由近到远）")
    expect(page.locator(titles)).to_have_text(["近处的活动", "远处的活动", "最早的活动"])
    assert_accessible(page, "activities nearest first")
    page.get_by_role("link", name="按时间先后").click()
    expect(page.locator(titles)).to_have_text(["最早的活动", "远处的活动", "近处的活动"])
    context.close()

    refused = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, locale="zh-CN")
    page = refused.new_page()
    page.goto(base + "/activities")
    page.locator("#act-near").click()
    expect(page.locator("#act-near-status")).to_contain_text("无法获取您的位置")
    expect(page.locator(titles)).to_have_text(["最早的活动", "远处的活动", "近处的活动"])
    assert_accessible(page, "activities without a position")
    refused.close()
