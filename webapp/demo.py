"""Demo data for ``flask seed-demo``: departments with routing rules, the demo grids, one account per role, a
handful of reports around 万柏林区, 太原 in different states, and a stocked points store paid from a budget line.

The photos are simple drawings made here with Pillow, so the demo needs no image files.
"""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageDraw

from webapp.accounts import services as accounts
from webapp.accounts.models import Department, Role, User
from webapp.db import db, utcnow
from webapp.geo.models import Grid
from webapp.geo.services import import_grids
from webapp.reports import services as reports
from webapp.reports.models import Channel, LocationSource, Report
from webapp.review.models import RoutingRule
from webapp.storage import Storage

DEMO_PASSWORD = "demo12345"
DISTRICT = "140109"  # 万柏林区
# (code, Chinese name, English name, category groups it handles in the district, district fallback?)
DEMO_DEPARTMENTS = [
    ("HW", "万柏林区环卫中心", "Sanitation centre", "D", False),
    ("LD", "万柏林区路灯管理所", "Street lighting office", "B", False),
    ("SZ", "万柏林区市政工程处", "Municipal works", "ACJ", False),
    ("ZF", "万柏林区综合行政执法局", "Urban management enforcement", "EFHI", False),
    ("YL", "万柏林区园林绿化中心", "Parks and greenery centre", "G", False),
    ("YJ", "万柏林区应急管理局", "Emergency management bureau", "K", False),
    ("JD-QF", "千峰街道办事处", "Qianfeng street office", "", False),
    ("JD-XH", "兴华街道办事处", "Xinghua street office", "", False),
    ("JD-HP", "和平街道办事处", "Heping street office", "", False),
    ("CG", "万柏林区城市管理局", "District city management bureau (fallback)", "L", True),
    ("FWZ-XH", "兴华社区服务站", "Xinghua community service point", "", False),
]
SERVICE_POINTS = {"FWZ-XH"}
# (Chinese name, English name, points, cost in fen, stock)
DEMO_ITEMS = [
    ("垃圾袋（一卷）", "Rubbish bags (one roll)", 10, 150, 200),
    ("洗洁精 500ml", "Washing-up liquid 500 ml", 20, 350, 100),
    ("牙刷（两支）", "Toothbrushes (two)", 30, 500, 80),
    ("扫帚", "Broom", 60, 1200, 30),
    ("暖手宝", "Hand warmer", 150, 3000, 20),
    ("大米 5kg", "Rice 5 kg", 300, 3500, 40),
]
# (phone, role, display name, department code, department head?, reviewer on duty?)
DEMO_USERS = [
    ("13800000001", Role.CITIZEN, "王阿姨", None, False, False),
    ("13800000002", Role.VOLUNTEER, "李志愿", None, False, False),
    ("13800000003", Role.REVIEWER, "审核员 张", None, False, True),
    ("13800000004", Role.DEPARTMENT, "环卫中心 刘", "HW", True, False),
    ("13800000005", Role.ADMIN, "指挥中心 陈", None, False, False),
    ("13800000006", Role.DEPARTMENT, "路灯所 赵", "LD", True, False),
    ("13800000007", Role.DEPARTMENT, "市政工程处 孙", "SZ", True, False),
    ("13800000008", Role.DEPARTMENT, "服务站 周", "FWZ-XH", False, False),
]
GRIDS_FILE = Path(__file__).resolve().parent / "geo" / "data" / "demo_grids.geojson"

# (category, lat, lon, address, description, drawing)
DEMO_REPORTS = [
    (
        "06042",
        37.8601,
        112.5180,
        "万柏林区 千峰南路 与 长风西大街 路口东北角",
        "垃圾箱满了，垃圾堆到地上，味道很大。",
        "bin",
    ),
    (
        "01002",
        37.8553,
        112.5232,
        "万柏林区 迎泽西大街 88 号 公交站旁",
        "污水井盖缺了一块，晚上很危险。",
        "manhole",
    ),
    ("01037", 37.8528, 112.5105, "万柏林区 和平北路 兴华小区 东门", "门口两盏路灯不亮已经一周了。", "lamp"),
    (
        "09012",
        37.8579,
        112.5264,
        "万柏林区 下元 兴华街 12 号楼 消防通道",
        "私家车长期停在消防通道上。",
        "fire_lane",
    ),
    (
        "09010",
        37.8612,
        112.5221,
        "万柏林区 长风西大街 地铁站 B 口",
        "共享单车和电动车乱停，挡住盲道。",
        "bikes",
    ),
    ("06013", 37.8541, 112.5159, "万柏林区 千峰南路 中段 人行道", "人行道砖塌陷，老人容易绊倒。", "pothole"),
]


def _drawing(kind: str, seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (960, 720), (178, 206, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 420, 960, 720), fill=(110, 110, 115))  # road
    for x in range(0, 960, 120):
        draw.rectangle((x + 20, 560, x + 80, 572), fill=(230, 230, 230))
    if kind == "bin":
        draw.rectangle((380, 300, 580, 520), fill=(40, 120, 60))
        for _ in range(40):
            x, y = rng.randint(330, 640), rng.randint(250, 560)
            colour = (rng.randint(120, 250), rng.randint(100, 230), rng.randint(60, 200))
            draw.ellipse((x, y, x + rng.randint(20, 50), y + rng.randint(15, 40)), fill=colour)
    elif kind == "manhole":
        draw.ellipse((330, 500, 630, 620), fill=(60, 60, 62))
        draw.pieslice((330, 500, 630, 620), 200, 320, fill=(15, 15, 15))
    elif kind == "lamp":
        image.paste((40, 50, 80), (0, 0, 960, 420))
        draw.rectangle((470, 120, 490, 520), fill=(90, 90, 90))
        draw.rectangle((420, 100, 560, 130), fill=(70, 70, 70))
        draw.ellipse((520, 120, 570, 150), fill=(60, 60, 60))
    elif kind == "fire_lane":
        for x in range(0, 960, 80):
            draw.polygon([(x, 640), (x + 40, 640), (x + 80, 700), (x + 40, 700)], fill=(200, 30, 30))
        draw.rounded_rectangle((300, 430, 700, 600), 30, fill=(30, 60, 140))
        draw.ellipse((340, 560, 420, 640), fill=(20, 20, 20))
        draw.ellipse((580, 560, 660, 640), fill=(20, 20, 20))
    elif kind == "bikes":
        draw.rectangle((0, 600, 960, 640), fill=(230, 200, 40))  # tactile paving
        for i in range(6):
            x = 100 + i * 130 + rng.randint(-20, 20)
            draw.ellipse((x, 520, x + 70, 590), outline=(20, 20, 20), width=6)
            draw.ellipse((x + 90, 520, x + 160, 590), outline=(20, 20, 20), width=6)
            draw.line((x + 35, 555, x + 125, 555), fill=(240, 140, 20), width=8)
    elif kind == "lamp_fixed":
        image.paste((40, 50, 80), (0, 0, 960, 420))
        draw.rectangle((470, 120, 490, 520), fill=(90, 90, 90))
        draw.rectangle((420, 100, 560, 130), fill=(70, 70, 70))
        draw.ellipse((520, 120, 570, 150), fill=(255, 230, 120))
        draw.polygon([(520, 150), (570, 150), (640, 420), (450, 420)], fill=(120, 120, 90))
    elif kind == "pothole":
        draw.polygon([(300, 520), (420, 480), (640, 500), (700, 600), (480, 660), (320, 620)], fill=(70, 55, 45))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _departments() -> dict[str, Department]:
    departments = {}
    for code, name_zh, name_en, groups, fallback in DEMO_DEPARTMENTS:
        department = db.session.scalar(sa.select(Department).where(Department.code == code))
        if department is None:
            department = Department(
                code=code, name_zh=name_zh, name_en=name_en, district_code=DISTRICT, fallback_for_district=fallback
            )
            db.session.add(department)
            db.session.flush()
            for group in groups:
                db.session.add(RoutingRule(group_code=group, district_code=DISTRICT, department_id=department.id))
        if code in SERVICE_POINTS:  # its staff hand over store orders (/handover/)
            department.service_point = True
        departments[code] = department
    db.session.flush()
    return departments


def seed_demo(storage: Storage) -> list[User]:
    departments = _departments()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Grid)) == 0:
        import_grids(GRIDS_FILE.read_bytes())
    users: list[User] = []
    for phone, role, name, department, head, on_duty in DEMO_USERS:
        user = accounts.find_by_phone(phone)
        if user is None:
            user = accounts.create_user(phone, DEMO_PASSWORD, role=role, display_name=name, verified_at=utcnow())
            user.show_name_publicly = role is Role.CITIZEN
            user.department = departments[department] if department else None
            user.is_department_head = head
            user.on_duty = on_duty
        users.append(user)
    citizen, reviewer = users[0], users[2]
    if db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0:
        for index, (category, lat, lon, address, description, drawing) in enumerate(DEMO_REPORTS):
            reports.submit_report(
                citizen,
                reports.NewReport(
                    client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"citizen-grid-demo-{index}")),
                    category_code=category,
                    description=description,
                    lat=lat,
                    lon=lon,
                    address=address,
                    location_source=LocationSource.MAP,
                    photos=[_drawing(drawing, index)],
                    channel=Channel.WEB,
                ),
                storage=storage,
            )
        _move_some_along(reviewer, departments, users, storage)
        _history_for_the_dashboard(users)
    _stock_the_store(users[4])
    _demo_campaign(users[4])
    _platform_feedback(users)
    _demo_activities(users, departments)
    db.session.flush()
    return users


def _demo_activities(users: list[User], departments: dict[str, Department]) -> None:
    """The Xinghua street office organises activities: two coming up, one held last week (with attendance)."""
    from datetime import timedelta

    from webapp.activities import checkin, services
    from webapp.activities.models import Activity, ActivityKind

    departments["JD-XH"].organiser = True
    if db.session.scalar(sa.select(sa.func.count()).select_from(Activity)):
        return
    citizen, volunteer, admin = users[0], users[1], users[4]
    today = services.local(utcnow()).replace(hour=9, minute=0, second=0, microsecond=0)
    plans = [
        (
            ActivityKind.GARBAGE_SORTING,
            "兴华小区垃圾分类指导日",
            "在小区东门教大家分清四类垃圾，带上家里的垃圾来练习。",
            "万柏林区 和平北路 兴华小区 东门",
            37.8528,
            112.5105,
            today + timedelta(days=1),
            120,
            30,
            None,
        ),
        (
            ActivityKind.VOLUNTEER_DAY,
            "千峰南路志愿服务日",
            "清理人行道小广告、扶正共享单车。至少服务 60 分钟计入志愿时长。",
            "万柏林区 千峰南路 中段",
            37.8541,
            112.5159,
            today + timedelta(days=5),
            180,
            20,
            60,
        ),
        (
            ActivityKind.LEGAL_AWARENESS,
            "普法宣传进社区",
            "民法典与物业纠纷的常见问题，现场答疑。",
            "万柏林区 兴华街 社区文化广场",
            37.8579,
            112.5264,
            today - timedelta(days=6),
            90,
            50,
            None,
        ),
    ]
    for kind, title, description, address, lat, lon, start, minutes, capacity, min_stay in plans:
        start_utc = start.astimezone(UTC)
        activity = services.create_activity(
            admin,
            services.ActivityData(
                kind=kind,
                title=title,
                description=description,
                address=address,
                lat=lat,
                lon=lon,
                starts_at=start_utc,
                ends_at=start_utc + timedelta(minutes=minutes),
                capacity=capacity,
                min_stay_minutes=min_stay,
            ),
            now=start_utc - timedelta(days=7),
        )
        for person in (citizen, volunteer):
            services.sign_up(person, activity, now=start_utc - timedelta(days=3))
        if start_utc < utcnow():
            checkin.organiser_check(admin, activity, citizen.phone, now=start_utc + timedelta(minutes=5))


def _platform_feedback(users: list[User]) -> None:
    """A few items of feedback on the app (意见反馈) in different states, once."""
    from webapp.feedback.models import PlatformFeedback
    from webapp.feedback.platform import services as platform

    if db.session.scalar(sa.select(sa.func.count()).select_from(PlatformFeedback)):
        return
    citizen, volunteer, admin = users[0], users[1], users[4]
    items = [
        (citizen, "suggestion", "希望能在地图上按类别筛选附近的问题。", "app", ["start", "adopt"], "好建议，将加上。"),
        (volunteer, "rules", "志愿者自行处置的积分能否按难度区分？", "app", ["start", "reply"], "规则修订时考虑。"),
        (None, "app_problem", "上传照片时网络差会卡住，能否提示进度？", "sms", ["start"], ""),
        (None, "other", "感谢社区的及时处理！", "none", [], ""),
    ]
    for index, (user, kind, text, reply_via, steps, reply) in enumerate(items):
        feedback, _created = platform.submit(
            user,
            platform.NewFeedback(
                kind=kind,
                text=text,
                reply_via=reply_via,
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"citizen-grid-demo-feedback-{index}")),
                phone="13900000000" if reply_via == "sms" else "",
            ),
            storage=None,  # type: ignore[arg-type]  # no screenshots in the demo
        )
        for step in steps:
            platform.perform(feedback, step, admin, reply if step in ("adopt", "reply") else "")


def _demo_campaign(admin: User) -> None:
    """A published campaign (专项整治) on overflowing bins and exposed rubbish in 长风西社区, running from today."""
    from datetime import timedelta

    from webapp.campaigns import services as campaign_pages
    from webapp.localtime import local_date
    from webapp.points import campaigns
    from webapp.points.models import Campaign

    if db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)):
        return
    today = local_date(utcnow())
    campaign = campaigns.create_campaign(
        admin,
        name="长风西社区垃圾满溢专项整治",
        description="垃圾箱满溢和暴露垃圾是本社区反映最多的问题。整治期间，这两类问题的有效上报积分翻倍。",
        categories="06042 06010",
        places="140109001001",  # 长风西社区: the prefix of its grids
        starts_on=today,
        ends_on=today + timedelta(days=29),
        multiplier=2,
        budget_points=2000,
        today=today,
    )
    campaign_pages.set_published(admin, campaign, True)


def _stock_the_store(admin: User) -> None:
    """A budget line from the special fund and household goods bought with it."""
    from webapp.points import fund, store
    from webapp.points.models import StoreItem

    if db.session.scalar(sa.select(sa.func.count()).select_from(StoreItem)):
        return
    line = fund.add_budget_line(
        admin, name="2026 年全民网格积分奖励", source="财政专项", amount_fen=5_000_000, year=utcnow().year
    )
    for name_zh, name_en, points, cost_fen, stock in DEMO_ITEMS:
        item = StoreItem(name_zh=name_zh, name_en=name_en, points_price=points, cost_fen=cost_fen, stock=0)
        db.session.add(item)
        db.session.flush()
        store.purchase(item, admin, quantity=stock, cost_fen=cost_fen * stock, budget_line=line, note="首批采购")


def _move_some_along(reviewer: User, departments: dict[str, Department], users: list[User], storage: Storage) -> None:
    """Give the demo cases in several states: dispatched, received, fixed and closed."""
    from webapp.handling import services as handling
    from webapp.reports.models import Severity
    from webapp.review import services as review

    cases = {r.category_code: r for r in db.session.scalars(sa.select(Report))}
    bin_case, light_case = cases["06042"], cases["01037"]
    review.accept(
        bin_case,
        reviewer,
        category_code="06042",
        severity=Severity.GENERAL,
        department=review.suggested_department(bin_case),
    )
    review.accept(
        light_case,
        reviewer,
        category_code="01037",
        severity=Severity.GENERAL,
        department=review.suggested_department(light_case),
    )
    light_staff = next(u for u in users if u.department is not None and u.department.code == "LD")
    handling.sign(light_case, light_staff)
    handling.post_result(
        light_case, light_staff, note="已更换灯泡，恢复照明。", photos=[_drawing("lamp_fixed", 9)], storage=storage
    )
    review.close(light_case, reviewer, "核查：路灯已亮。")


# Past reports for the supervisor dashboard: (category, description) drawn with these weights.
HISTORY_CATEGORIES = [
    ("06042", "垃圾箱满溢", 8),
    ("06010", "路边有暴露垃圾", 6),
    ("01037", "路灯不亮", 4),
    ("09010", "共享单车乱停放", 4),
    ("06013", "人行道破损", 2),
    ("09012", "车辆占用消防通道", 2),
    ("01002", "井盖破损", 1),
]


DEMO_HISTORY_REPORTS = 72


def _history_for_the_dashboard(users: list[User], count: int = DEMO_HISTORY_REPORTS) -> None:
    """A few dozen reports over the past ten weeks, so the dashboard has hotspots, peaks and departments to show.

    They are written as finished histories (rows and events, no photos, no notifications or points): the demo's
    past, not actions taken now. A few places get the same problem again after closing (复发).
    """
    from datetime import timedelta

    from webapp.reports.models import Severity
    from webapp.reports.services import add_event
    from webapp.reports.status import ReportStatus as S
    from webapp.review.services import suggested_department

    rng = random.Random(20261129)
    citizen, volunteer, reviewer = users[0], users[1], users[2]
    hot = list(db.session.scalars(sa.select(Grid).where(Grid.active).order_by(Grid.code).limit(40)))
    hot = hot[::5][:8]  # a handful of places that keep coming back
    now = utcnow()
    weights = [w for _, _, w in HISTORY_CATEGORIES]
    for index in range(count):
        code, description, _ = rng.choices(HISTORY_CATEGORIES, weights)[0]
        grid = rng.choice(hot)
        # Mornings and late afternoons, fewer at weekends.
        day = rng.randrange(3, 70)
        hour = rng.choice([8, 9, 9, 10, 11, 14, 16, 17, 17, 18, 19, 21])
        created = (now - timedelta(days=day)).replace(hour=(hour - 8) % 24, minute=rng.randrange(60))
        if created.weekday() >= 5 and rng.random() < 0.5:
            created -= timedelta(days=2)
        reporter = volunteer if rng.random() < 0.15 else citizen
        report = Report(
            client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"citizen-grid-demo-history-{index}")),
            payload_hash="0" * 64,
            reporter=reporter,
            category_code=code,
            description=description,
            lat=(grid.min_lat + grid.max_lat) / 2,
            lon=(grid.min_lon + grid.max_lon) / 2,
            address=grid.label,
            location_source=LocationSource.GPS,
            channel=Channel.APP,
            captured_at=created - timedelta(hours=rng.randrange(1, 20)) if rng.random() < 0.2 else None,
            created_at=created,
            updated_at=created,
            grid_code=grid.code,
        )
        add_event(report, reporter, None, S.PENDING_REVIEW, at=created)
        db.session.add(report)
        db.session.flush()
        if rng.random() < 0.08:
            report.status, report.reject_reason = S.REJECTED, "duplicate"
            add_event(
                report,
                reviewer,
                S.PENDING_REVIEW,
                S.REJECTED,
                "重复上报",
                action="reject",
                at=created + timedelta(hours=1),
            )
            continue
        accepted = created + timedelta(minutes=rng.randrange(20, 300))
        department = suggested_department(report)
        report.status, report.accepted_at, report.severity = S.DISPATCHED, accepted, Severity.GENERAL
        report.department, report.dispatched_at = department, accepted + timedelta(minutes=10)
        report.due_at = report.dispatched_at + timedelta(days=rng.choice((1, 2, 3)))
        add_event(report, reviewer, S.PENDING_REVIEW, S.ACCEPTED, action="accept", at=accepted)
        add_event(report, reviewer, S.ACCEPTED, S.DISPATCHED, action="dispatch", at=report.dispatched_at)
        if rng.random() < 0.06:
            add_event(
                report,
                None,
                S.DISPATCHED,
                S.RETURNED,
                "不属于本部门",
                action="return",
                at=accepted + timedelta(hours=2),
            )
            add_event(report, reviewer, S.RETURNED, S.DISPATCHED, action="dispatch", at=accepted + timedelta(hours=3))
        result = report.dispatched_at + timedelta(hours=rng.choice((3, 6, 20, 30, 50, 80)))
        if result > now or day < 4:
            continue  # still being handled
        add_event(report, None, S.IN_PROGRESS, S.AWAITING_CHECK, "已处理", action="report_result", at=result)
        closed = result + timedelta(hours=rng.randrange(1, 10))
        report.status, report.closed_at, report.updated_at = S.CLOSED, closed, closed
        add_event(report, reviewer, S.AWAITING_CHECK, S.CLOSED, "核查通过", action="close", at=closed)
        if reporter is citizen and rng.random() < 0.4:
            from webapp.feedback.models import Rating

            db.session.add(Rating(report=report, user=citizen, stars=rng.choice((3, 4, 5, 5, 5)), created_at=closed))
    db.session.flush()
