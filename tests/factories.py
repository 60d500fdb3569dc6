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
