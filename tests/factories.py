"""Test data builders. They flush, like services; tests commit when the data must be seen by a request."""

from __future__ import annotations

import io
import itertools
import uuid

from PIL import Image
from werkzeug.security import generate_password_hash

from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.reports import services as reports
from webapp.reports.models import Channel, LocationSource, Report

PASSWORD = "secret-pass-1"
# A cheap hash keeps the suite fast; the real scrypt hashing is exercised by the account tests.
_CHEAP_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_phones = itertools.count(1)


def next_phone() -> str:
    return f"139{next(_phones):08d}"


def make_user(role: Role = Role.CITIZEN, *, phone: str | None = None, name: str = "", public: bool = False) -> User:
    user = User(
        phone=phone or next_phone(),
        password_hash=_CHEAP_HASH,
        role=role,
        display_name=name,
        show_name_publicly=public,
        phone_verified_at=utcnow(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def jpeg_bytes(
    colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (640, 480), *, pattern: int = 0
) -> bytes:
    """A small real JPEG; ``pattern`` changes its content (and so its perceptual hash)."""
    image = Image.new("RGB", size, colour)
    if pattern:
        for x in range(0, size[0], max(8, 80 // pattern)):
            image.paste((255 - colour[0], 255 - colour[1], 255 - colour[2]), (x, 0, x + 4, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def gps_photo_bytes(lat: float = 37.86, lon: float = 112.55, size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG with EXIF GPS tags (like a phone photo with location on), rotated by EXIF Orientation 6."""
    image = Image.new("RGB", size, (60, 120, 60))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "ExampleCam"

    def dms(value: float) -> tuple[float, float, float]:
        seconds = round(value * 3600, 2)
        return (float(seconds // 3600), float(seconds % 3600 // 60), round(seconds % 60, 2))

    exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, exif=exif.tobytes())
    return buffer.getvalue()


def new_report_data(**overrides) -> reports.NewReport:  # type: ignore[no-untyped-def]
    values = {
        "client_id": str(uuid.uuid4()),
        "category_code": "06042",
        "description": "垃圾箱满了",
        "lat": 37.8601,
        "lon": 112.5180,
        "address": "千峰南路 长风西大街 路口",
        "location_source": LocationSource.GPS,
        "photos": [jpeg_bytes()],
        "channel": Channel.WEB,
    }
    values.update(overrides)
    return reports.NewReport(**values)


def make_report(reporter: User | None = None, storage=None, **overrides) -> Report:  # type: ignore[no-untyped-def]
    from flask import current_app

    reporter = reporter or make_user()
    report, _ = reports.submit_report(
        reporter, new_report_data(**overrides), storage=storage or current_app.extensions["storage"]
    )
    return report


def mark_accepted(report_id: int) -> None:
    """The review team accepted the report (立案), so its details become public (webapp/reports/privacy.py).
    Commits: for tests that then read the report as the public does."""
    from webapp.reports.status import ReportStatus

    report = db.session.get(Report, int(report_id))
    assert report is not None
    report.status = ReportStatus.ACCEPTED
    db.session.commit()


# The points store's world (tests/web/conftest.py: store_world): who may do what at the store, the fund and the
# hand-over desk.
ANONYMOUS = "anonymous"
SERVICE_POINT = "service_point"  # a department user whose department is a service point
STORE_ROLES = [ANONYMOUS, "citizen", "volunteer", "reviewer", "department", SERVICE_POINT, "admin"]


def make_store_world() -> dict:  # type: ignore[type-arg]
    """One user of each role (``SERVICE_POINT`` too; their pages in English), an ordinary department and a service
    point, an item in stock bought from a budget line, a resident with 100 points and two waiting orders (one to
    collect, one to deliver) and another resident's report."""
    from webapp import localtime
    from webapp.accounts.models import Department
    from webapp.points import catalogue, fund, ledger, store
    from webapp.points.models import AccountKind, TransactionKind

    ordinary = Department(code="HW", name_zh="环卫中心", district_code="140109")
    counter = Department(code="SP", name_zh="社区服务站", district_code="140109", service_point=True)
    db.session.add_all([ordinary, counter])
    db.session.flush()
    users = {role.value: make_user(role, name=f"{role.value} user") for role in Role}
    users["department"].department = ordinary
    users[SERVICE_POINT] = make_user(Role.DEPARTMENT, name="服务站 小李")
    users[SERVICE_POINT].department = counter
    for user in users.values():
        user.locale = "en"  # the pages in English, whatever the catalogue holds
    admin = users["admin"]
    resident = make_user(Role.CITIZEN, phone="13811112222", name="王阿姨")
    line = fund.add_budget_line(
        admin, name="2026 专项", source="财政专项", amount_fen=1_000_000, year=localtime.today().year
    )
    item = catalogue.create_item(
        admin, catalogue.ItemData(name_zh="洗洁精", name_en="Dish soap", points_price=20, cost_fen=350)
    )
    store.purchase(item, admin, quantity=10, cost_fen=3500, budget_line=line)
    ledger.post(
        "test:grant",
        TransactionKind.AWARD,
        "report_accepted",
        [(ledger.system_account(AccountKind.FUND), -100), (ledger.account_for(resident), 100)],
    )
    order, _ = store.redeem(resident, item, quantity=2, request_key="order-1")
    delivery, _ = store.redeem(
        resident, item, quantity=1, request_key="order-2", delivery_address="杏花岭区 胜利街 8 号"
    )
    report = make_report(make_user(Role.CITIZEN))
    return {
        "users": users,
        "resident": resident,
        "item_id": item.id,
        "line_id": line.id,
        "order_id": order.id,
        "code": order.pickup_code,
        "delivery_id": delivery.id,
        "delivery_code": delivery.pickup_code,
        "report_id": report.id,
        "service_point_id": counter.id,
        "ordinary_id": ordinary.id,
    }
