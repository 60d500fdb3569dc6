"""Builders for the case-workflow unit tests: departments, staff, grids, and reports in any state of a case.

Reports are written as rows directly (no photo processing), so a test can put a case in any status quickly; tests
that need the real submit path (photos, the report_submitted signal) use tests.factories.make_report instead.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tests.factories import make_user
from webapp.accounts.models import Department, Role, User
from webapp.db import db, utcnow
from webapp.geo.models import Grid
from webapp.notifications.models import Notification
from webapp.reports.models import Category, LocationSource, Report, ReportEvent
from webapp.reports.services import add_event
from webapp.reports.status import ReportStatus

DISTRICT = "140109"
RUBBISH = "06042"  # 满溢垃圾箱: 4 working hours, department only
LITTER = "06010"  # 暴露垃圾: 4 working hours, volunteers may fix it
STREET_LIGHT = "01037"  # 路灯: 2 working days, group B
GAS_LEAK = "90002"  # 燃气泄漏: safety-critical (emergency plan), group K
LAT, LON = 37.8601, 112.5180

_numbers = itertools.count(1)
_UNSET: Any = object()


def make_department(
    code: str | None = None,
    *,
    district_code: str = DISTRICT,
    fallback: bool = False,
    active: bool = True,
    name: str = "环卫所",
) -> Department:
    department = Department(
        code=code or f"D{next(_numbers)}",
        name_zh=name,
        district_code=district_code,
        fallback_for_district=fallback,
        active=active,
    )
    db.session.add(department)
    db.session.flush()
    return department


def make_staff(
    role: Role,
    department: Department | None = None,
    *,
    head: bool = False,
    on_duty: bool = False,
    active: bool = True,
) -> User:
    user = make_user(role)
    user.department_id = department.id if department is not None else None
    user.is_department_head = head
    user.on_duty = on_duty
    user.active = active
    db.session.flush()
    return user


def make_grid(
    code: str = "140109001001001",
    *,
    department: Department | None = None,
    lat: float = LAT,
    lon: float = LON,
    half_size: float = 0.0005,
) -> Grid:
    """A small square grid around (lat, lon); the code's parts give its district, street and community."""
    south, north, west, east = lat - half_size, lat + half_size, lon - half_size, lon + half_size
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    grid = Grid(
        code=code,
        name=f"第{code[-3:]}网格",
        district_code=code[:6],
        street_code=code[:9],
        community_code=code[:12],
        department=department,
        geometry=json.dumps({"type": "Polygon", "coordinates": [ring]}),
        min_lat=south,
        max_lat=north,
        min_lon=west,
        max_lon=east,
        area_m2=10_000,
    )
    db.session.add(grid)
    db.session.flush()
    return grid


def make_case(
    reporter: User | None = _UNSET,
    *,
    status: ReportStatus = ReportStatus.PENDING_REVIEW,
    category_code: str = RUBBISH,
    created_at: datetime | None = None,
    **fields: Any,
) -> Report:
    """A report row in ``status`` with its submit event; ``fields`` set any other column (department, due_at …)."""
    if reporter is _UNSET:
        reporter = make_user()
    now = created_at or utcnow()
    values: dict[str, Any] = {
        "description": "垃圾箱满了",
        "lat": LAT,
        "lon": LON,
        "address": "千峰南路 长风西大街 路口",
        "location_source": LocationSource.GPS,
    }
    values.update(fields)
    report = Report(
        client_id=str(uuid.uuid4()),
        payload_hash="0" * 64,
        reporter=reporter,
        category=db.session.get(Category, category_code),
        status=status,
        created_at=now,
        updated_at=now,
        **values,
    )
    add_event(report, reporter, None, ReportStatus.PENDING_REVIEW, at=now)
    db.session.add(report)
    db.session.flush()
    return report


def events_of(report: Report) -> list[ReportEvent]:
    return list(
        db.session.scalars(sa.select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id))
    )


def notifications_of(user: User, kind: str | None = None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


def sms_phones(app: Any) -> list[str]:
    """Who got a text message once the current change is committed (SMS leave only after commit)."""
    db.session.commit()
    return [message.phone for message in app.extensions["sms"].sent]
