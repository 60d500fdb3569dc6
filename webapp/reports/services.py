"""Report state changes and queries: submit (idempotent on the phone's client_id), follow, list, find nearby.

Services flush and never commit; the view or command that calls them owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, raiseload, selectinload

from webapp import cache as static_cache
from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError, InvalidFields
from webapp.extensions import lazy_gettext as _l
from webapp.geo.distance import bounding_box, valid_coordinates
from webapp.geo.models import Grid
from webapp.geo.services import locate
from webapp.pagination import Page
from webapp.photos import pipeline, references, rejections
from webapp.reports import privacy, taxonomy
from webapp.reports.models import (
    Category,
    Channel,
    LocationSource,
    Report,
    ReportEvent,
    ReportFollower,
    ReportPhoto,
)
from webapp.reports.posters import services as posters
from webapp.reports.signals import report_submitted
from webapp.reports.status import FINAL_STATUSES, OPEN_STATUSES, ReportStatus
from webapp.storage import Storage, content_key, put_in_transaction

DESCRIPTION_MAX = 2000
# Open311 clients may send 4,000 characters (GeoReport v2); the API adds the answers to the service's questions.
OPEN311_DESCRIPTION_MAX = 6000
ADDRESS_MAX = 200
# List thumbnails are shown 80 CSS px wide; 160 px covers a 2x screen and keeps a list of ten under ~40 KB.
THUMB_EDGE = 160
THUMB_QUALITY = 60
# The number of reports matching a list's filters is kept this long per process (webapp.cache.remember).
COUNT_SECONDS = 30


class ReportInvalid(InvalidFields):
    """A report with wrong fields."""

    default_message = _l("Some of what you entered is not valid.")


class PhotoError(DomainError):
    def __init__(self, message: str, *, status: int, code: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message, field="photos")


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    default_message = _l(
        "A different report was already sent with this report number. It was not changed; please check it."
    )


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int = 12 * 1024 * 1024
    max_pixels: int = 50_000_000
    per_report: int = 3


@dataclass
class NewReport:
    """A report as captured on the phone, already parsed into Python values."""

    client_id: str
    category_code: str
    description: str = ""
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    location_source: LocationSource | None = None
    captured_at: datetime | None = None
    photos: list[bytes] = field(default_factory=list)
    channel: Channel = Channel.WEB
    poster_code: str = ""  # the QR poster scanned to open the form, if any


# --- Submitting -----------------------------------------------------------------------------------------------


def payload_hash(data: NewReport) -> str:
    """Fingerprint of what the resident sent, to tell a replay from a different report with the same id."""
    canonical = {
        "category": data.category_code,
        "lat": None if data.lat is None else round(data.lat, 6),
        "lon": None if data.lon is None else round(data.lon, 6),
        "address": data.address.strip(),
        "description": data.description.strip(),
        "photos": [hashlib.sha256(photo).hexdigest() for photo in data.photos],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _check_fields(data: NewReport, limits: PhotoLimits) -> Category:
    errors: dict[str, str] = {}
    category = taxonomy.get_category(data.category_code)
    if category is None:
        errors["category"] = _("Please choose a category from the list.")
    description_max = OPEN311_DESCRIPTION_MAX if data.channel is Channel.OPEN311 else DESCRIPTION_MAX
    if len(data.description) > description_max:
        errors["description"] = _("The description is too long: at most %(n)d characters.", n=description_max)
    if len(data.address) > ADDRESS_MAX:
        errors["address"] = _("The address is too long: at most %(n)d characters.", n=ADDRESS_MAX)
    if (data.lat is None) != (data.lon is None) or (
        data.lat is not None and data.lon is not None and not valid_coordinates(data.lat, data.lon)
    ):
        errors["lat"] = _("The position is not valid. Please set it again on the map or type an address.")
    # Open311 (GeoReport v2) has no photo upload: its reports may come without photos.
    if not data.photos and data.channel is not Channel.OPEN311:
        errors["photos"] = _("Please add at least one photo of the problem.")
    elif len(data.photos) > limits.per_report:
        errors["photos"] = _("Please add at most %(n)d photos.", n=limits.per_report)
    if errors:
        raise ReportInvalid(errors)
    assert category is not None
    return category


def _photo_error(number: int, rejected: pipeline.PhotoRejected, limits: PhotoLimits) -> PhotoError:
    message, status, code = rejections.answer(
        rejected, rejections.Upload.REPORT_PHOTO, max_bytes=limits.max_bytes, number=number
    )
    return PhotoError(message, status=status, code=code)


_reports = Report.__table__
# Nearly every submission is new: three columns decide, read without the ORM (the report with its eagerly joined
# category cost three times as much CPU as the answer "none"); the report itself is loaded for a replay only.
_REPLAY_PROBE = sa.select(_reports.c.id, _reports.c.reporter_id, _reports.c.payload_hash).where(
    _reports.c.client_id == sa.bindparam("client_id")
)


def _existing_for_replay(reporter: User, data: NewReport, fingerprint: str) -> Report | None:
    found = db.session.connection().execute(_REPLAY_PROBE, {"client_id": data.client_id}).first()
    if found is None:
        return None
    if found.reporter_id != reporter.id or found.payload_hash != fingerprint:
        raise IdempotencyConflict(field="client_id")
    return db.session.get(Report, found.id)


# Other packages whose public files are served by /media/<key> (the store's item photos) register a check here.
_public_file_checks: list[Callable[[str], bool]] = []


def register_public_files(check: Callable[[str], bool]) -> None:
    """``check(key)`` says whether ``key`` is a file of that package that anyone may see."""
    if check not in _public_file_checks:
        _public_file_checks.append(check)


def photo_access(key: str, viewer: Any) -> str | None:
    """How ``viewer`` may get the stored file ``key``: ``"public"`` (anyone; may be cached and redirected to the
    object store), ``"private"`` (this viewer only: streamed through the app) or None (not at all: 404).

    A file of a report follows ``privacy``; the same content-addressed file may belong to several reports, and the
    most open of them decides. Files that belong to nothing are not served."""
    reports = db.session.scalars(
        sa.select(Report)
        .join(ReportPhoto, ReportPhoto.report_id == Report.id)
        .where(sa.or_(ReportPhoto.display_key == key, ReportPhoto.thumb_key == key))
        .distinct()
    ).all()
    if reports:
        found = {privacy.photo_access(report, viewer) for report in reports}
        return "public" if "public" in found else "private" if "private" in found else None
    if any(check(key) for check in _public_file_checks):
        return "public"
    return None


def submit_report(
    reporter: User, data: NewReport, *, storage: Storage, limits: PhotoLimits | None = None
) -> tuple[Report, bool]:
    """Store a new report, or return the stored one when the phone sends the same report again.

    Returns ``(report, created)``. Nothing is written unless every field and photo is acceptable.
    """
    limits = limits or PhotoLimits()
    fingerprint = payload_hash(data)
    existing = _existing_for_replay(reporter, data, fingerprint)
    if existing is not None:
        return existing, False

    category = _check_fields(data, limits)
    processed = process_photos(data.photos, limits)

    lat, lon, source = data.lat, data.lon, data.location_source
    if lat is None and processed and processed[0].gps is not None:
        lat, lon = processed[0].gps
        source = LocationSource.EXIF
    if lat is None and not data.address.strip():
        raise ReportInvalid(
            {"lat": _("Please give the location: use your position, set a pin on the map or type an address.")}
        )
    if source is None or (source is not LocationSource.ADDRESS and lat is None):
        source = LocationSource.GPS if lat is not None else LocationSource.ADDRESS

    now = utcnow()
    captured_at = data.captured_at
    if captured_at is not None and not (now - timedelta(days=365) <= captured_at <= now + timedelta(days=1)):
        captured_at = None  # a phone with a wrong clock; keep the report, drop the time

    report = Report(
        client_id=data.client_id,
        payload_hash=fingerprint,
        reporter=reporter,
        category=category,
        description=data.description.strip(),
        lat=lat,
        lon=lon,
        address=data.address.strip(),
        location_source=source,
        status=ReportStatus.PENDING_REVIEW,
        channel=data.channel,
        captured_at=captured_at,
        created_at=now,
        updated_at=now,
        grid_code=locate(lat, lon) if lat is not None and lon is not None else None,
    )
    poster = posters.find_by_code(data.poster_code)
    if poster is not None:  # an unknown or deleted poster never costs the resident the report
        report.poster_id = poster.id
        report.asset_id = poster.asset_id or None
        if report.grid_code is None:
            report.grid_code = poster.grid_code  # a grid's notice board: the grid, even without a position
    files = attach_photos(report, processed, kind="before", at=now)
    add_event(report, reporter, None, ReportStatus.PENDING_REVIEW, at=now)
    try:
        # The savepoint lets a concurrent replay (two tabs sending the same report) end as a replay. The report
        # joins the session inside it: begin_nested() flushes what is already pending before its SAVEPOINT, so
        # a report added before would be inserted outside it, and its IntegrityError would end the transaction.
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()
    except sa.exc.IntegrityError:  # the savepoint's rollback took the report and its rows out of the session
        existing = _existing_for_replay(reporter, data, fingerprint)
        if existing is None:
            raise
        return existing, False
    write_files(files, storage)
    report_submitted.send(report)
    return report, True


def process_photos(photos: list[bytes], limits: PhotoLimits) -> list[pipeline.ProcessedPhoto]:
    """Check and convert every photo before anything is written; the first bad one refuses the lot."""
    processed: list[pipeline.ProcessedPhoto] = []
    for number, photo in enumerate(photos, start=1):
        try:
            processed.append(
                pipeline.process_photo(
                    photo,
                    max_bytes=limits.max_bytes,
                    max_pixels=limits.max_pixels,
                    thumb_edge=THUMB_EDGE,
                    thumb_quality=THUMB_QUALITY,
                )
            )
        except pipeline.PhotoRejected as rejected:
            raise _photo_error(number, rejected, limits) from rejected
    return processed


def attach_photos(
    report: Report,
    processed: list[pipeline.ProcessedPhoto],
    *,
    kind: str,
    event: ReportEvent | None = None,
    at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """Add photo rows to ``report``; return the files to write once the rows are flushed (see write_files)."""
    files: list[tuple[str, bytes]] = []
    start = sum(1 for photo in report.photos if photo.kind == kind)
    for offset, photo in enumerate(processed):
        display_key = content_key(photo.display, ".jpg")
        thumb_key = content_key(photo.thumbnail, ".jpg")
        files += [(display_key, photo.display), (thumb_key, photo.thumbnail)]
        report.photos.append(
            ReportPhoto(
                kind=kind,
                position=start + offset,
                event=event,
                display_key=display_key,
                thumb_key=thumb_key,
                width=photo.width,
                height=photo.height,
                thumb_width=photo.thumb_width,
                thumb_height=photo.thumb_height,
                phash=photo.phash,
                created_at=at or utcnow(),
            )
        )
    return files


def write_files(files: list[tuple[str, bytes]], storage: Storage) -> None:
    """Write photo files after their rows are in place; a later rollback removes them again."""
    for key, content in files:
        put_in_transaction(db.session, storage, key, content, references.is_referenced)


def add_event(
    report: Report,
    actor: User | None,
    from_status: ReportStatus | None,
    to_status: ReportStatus,
    note: str = "",
    *,
    action: str = "submit",
    at: datetime | None = None,
) -> ReportEvent:
    """Append an audit event; the only way events are written (status changes go through review.workflow)."""
    event = ReportEvent(
        actor=actor,
        action=action,
        actor_role=str(actor.role) if actor is not None else "system",
        from_status=from_status,
        to_status=to_status,
        note=note,
        at=at or utcnow(),
    )
    report.events.append(event)
    return event


# --- Following ("me too") ---------------------------------------------------------------------------------------


class CannotFollow(DomainError):
    code = "cannot_follow"
    default_message = _l("You reported this problem yourself, so you are already following it.")


def follow(user: User, report: Report) -> bool:
    """Follow ``report`` instead of filing a duplicate; return False if already following."""
    if report.reporter_id == user.id:
        raise CannotFollow()
    if is_following(user, report):
        return False
    db.session.add(ReportFollower(report_id=report.id, user_id=user.id))
    db.session.flush()
    return True


def unfollow(user: User, report: Report) -> None:
    db.session.execute(
        sa.delete(ReportFollower).where(ReportFollower.report_id == report.id, ReportFollower.user_id == user.id)
    )
    db.session.flush()


def is_following(user: User, report: Report) -> bool:
    return db.session.get(ReportFollower, (report.id, user.id)) is not None


def follower_count(report: Report) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(ReportFollower).where(ReportFollower.report_id == report.id)
        )
        or 0
    )


# --- Reading ----------------------------------------------------------------------------------------------------


# What a report card (templates/reports/_card.html) shows, loaded with the list in a fixed number of queries
# whatever its length; any other relationship raises, so a template that starts needing one fails in the tests
# instead of sending one query per card.
# The grid's names for a label, not its polygon (GeoJSON text, often kilobytes per grid).
GRID_LABEL_LOAD = joinedload(Report.grid).load_only(
    Grid.code, Grid.name, Grid.district_name, Grid.street_name, Grid.community_name, raiseload=True
)
# Staff lists (review queue, department inbox): category and grid label with the rows, nothing else.
CASE_LIST_LOAD = (joinedload(Report.category), GRID_LABEL_LOAD, raiseload("*"))
# Photos come in the same query (a list page is one statement); results then need ``.unique()``.
CARD_LOAD = (joinedload(Report.category), GRID_LABEL_LOAD, joinedload(Report.photos), raiseload("*"))
# What the public report page shows (templates/reports/detail.html).
PAGE_LOAD = (
    joinedload(Report.category).joinedload(Category.group),
    joinedload(Report.grid),
    joinedload(Report.reporter),
    joinedload(Report.department),
    selectinload(Report.photos),
    selectinload(Report.events),
)


def get_report(report_id: int) -> Report | None:
    return db.session.get(Report, report_id)


def get_report_for_page(report_id: int) -> Report | None:
    """The report with everything its public page shows, in two queries."""
    return db.session.get(Report, report_id, options=PAGE_LOAD)


def page_context(report: Report, viewer: User | None) -> dict[str, object]:
    """What the public report page shows besides the report itself."""
    return {
        "report": report,
        "following": viewer is not None and is_following(viewer, report),
        "followers": follower_count(report),
    }


@dataclass(frozen=True)
class Nearby:
    report: Report
    distance_m: float | None  # None: the place is hidden from this viewer, see within_m
    within_m: int = 0


def nearby_open_reports(
    category_code: str, lat: float, lon: float, viewer: User | None, *, radius_m: float = 200, limit: int = 5
) -> list[Nearby]:
    """Open reports of the same category within ``radius_m`` ("is it one of these?"): those ``viewer`` may see in
    full nearest first, then the ones whose place is hidden from them by the bound ``privacy.distance_seen`` gives,
    newest first within one bound (never by their exact distance, which the order would leak)."""
    if not valid_coordinates(lat, lon) or radius_m <= 0:
        return []
    # A hidden report may be listed up to two cell reaches further out (see privacy.distance_seen).
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m + 2 * privacy.CELL_REACH_M)
    candidates = db.session.scalars(
        sa.select(Report)
        .where(
            Report.category_code == category_code,
            Report.status.in_(OPEN_STATUSES),
            Report.lat.between(min_lat, max_lat),
            Report.lon.between(min_lon, max_lon),
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(200)
    )
    found = []
    for report in candidates:
        seen = privacy.distance_seen(report, viewer, lat, lon, radius_m)
        if seen is not None:
            found.append(Nearby(report, seen.metres, seen.within_m))
    # Stable: reports with the same bound keep the query's newest-first order.
    found.sort(key=lambda n: (n.within_m, n.distance_m or 0.0))
    return found[:limit]


STATUS_FILTERS = ("open", "closed", *[s.value for s in ReportStatus])


def public_reports(
    *,
    group: str | None = None,
    category: str | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 20,
    with_total: bool = True,
) -> Page[Report]:
    """One page of every report, newest first; ``with_total=False`` skips counting them (total: -1)."""
    stmt = sa.select(Report)
    if category:
        stmt = stmt.where(Report.category_code == category)
    elif group:
        stmt = stmt.join(Report.category).where(Category.group_code == group)
    if status == "open":
        stmt = stmt.where(Report.status.in_(OPEN_STATUSES))
    elif status == "closed":
        stmt = stmt.where(Report.status.in_(FINAL_STATUSES))
    elif status in ReportStatus.__members__.values():
        stmt = stmt.where(Report.status == ReportStatus(status))
    total = -1
    if with_total:
        count = sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        total = static_cache.remember(
            "report-count", COUNT_SECONDS, (group, category, status), lambda: db.session.scalar(count) or 0
        )
    page = max(1, page)
    items = (
        db.session.scalars(
            stmt.options(*CARD_LOAD)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        .unique()
        .all()
    )
    return Page(list(items), page, per_page, total)


def reports_by(user: User, limit: int = 100) -> list[Report]:
    return list(
        db.session.scalars(
            sa.select(Report)
            .options(*CARD_LOAD)
            .where(Report.reporter_id == user.id)
            .order_by(Report.created_at.desc(), Report.id.desc())
            .limit(limit)
        ).unique()
    )


def followed_by(user: User, limit: int = 100) -> list[Report]:
    return list(
        db.session.scalars(
            sa.select(Report)
            .options(*CARD_LOAD)
            .join(ReportFollower, ReportFollower.report_id == Report.id)
            .where(ReportFollower.user_id == user.id)
            .order_by(ReportFollower.created_at.desc())
            .limit(limit)
        ).unique()
    )
