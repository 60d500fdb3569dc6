from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import ngettext
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from webapp.accounts.models import Department, User
from webapp.db import db, utcnow
from webapp.extensions import is_english
from webapp.extensions import lazy_gettext as _l
from webapp.geo.models import Grid
from webapp.reports import category_facts
from webapp.reports.status import ReportStatus


def _enum(enum_cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    return sa.Enum(enum_cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class TimeUnit(enum.StrEnum):
    WORK_HOURS = "work_hours"
    WORK_DAYS = "work_days"


class CategoryGroup(db.Model):
    """A resident-facing first level (A–L), e.g. 垃圾与环境卫生."""

    __tablename__ = "category_groups"

    code: Mapped[str] = mapped_column(sa.String(2), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    hint_zh: Mapped[str] = mapped_column(sa.String(200), default="")
    hint_en: Mapped[str] = mapped_column(sa.String(200), default="")
    owner_type: Mapped[str] = mapped_column(sa.String(40), default="")
    sort_order: Mapped[int] = mapped_column(default=0)

    categories: Mapped[list[Category]] = relationship(
        back_populates="group", order_by="Category.sort_order", lazy="selectin"
    )

    @property
    def name(self) -> str:
        return self.name_en if is_english() else self.name_zh

    @property
    def hint(self) -> str:
        return self.hint_en if is_english() else self.hint_zh


class Category(db.Model):
    """A standard 5-digit sub-category (GB/T 47678.5-2026) or a local extension (9xxxx)."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    group_code: Mapped[str] = mapped_column(sa.ForeignKey("category_groups.code"), index=True)
    name_zh: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    kind: Mapped[str] = mapped_column(sa.String(10))  # component (部件) or event (事项)
    time_limit_value: Mapped[int]
    time_limit_unit: Mapped[TimeUnit] = mapped_column(_enum(TimeUnit))
    volunteer_ok: Mapped[bool] = mapped_column(default=False)
    safety_critical: Mapped[bool] = mapped_column(default=False)
    local_extension: Mapped[bool] = mapped_column(default=False)
    standard_ref: Mapped[str] = mapped_column(sa.String(40))
    keywords_zh: Mapped[str] = mapped_column(sa.String(200), default="")
    keywords_en: Mapped[str] = mapped_column(sa.String(300), default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    group: Mapped[CategoryGroup] = relationship(back_populates="categories")

    @property
    def name(self) -> str:
        return self.name_en if is_english() else self.name_zh

    @property
    def time_limit_label(self) -> str:
        n = self.time_limit_value
        if self.time_limit_unit is TimeUnit.WORK_HOURS:
            return ngettext("%(num)d working hour", "%(num)d working hours", n)
        return ngettext("%(num)d working day", "%(num)d working days", n)

    # --- Facts from the category data file (data/categories.json; see category_facts) ---------------------------

    @hybrid_property
    def volunteer_suitable(self) -> bool:
        """Volunteers may handle it themselves: the data file allows it and it is not safety-critical."""
        return self.volunteer_ok and not self.safety_critical

    @volunteer_suitable.inplace.expression
    @classmethod
    def _volunteer_suitable_expression(cls) -> sa.ColumnElement[bool]:
        return sa.and_(cls.volunteer_ok.is_(True), cls.safety_critical.is_(False))

    @property
    def sensitive(self) -> bool:
        """Its exact place would expose a person, a home or a security installation (privacy coarsens it)."""
        return category_facts.facts(self.code).sensitive

    @property
    def open311_attributes(self) -> tuple[str, ...]:
        """The codes of the Open311 questions asked for this category."""
        return category_facts.facts(self.code).open311_attributes


class Severity(enum.StrEnum):
    """How serious a case is, set when it is opened (立案). Urgent and critical cases trigger the emergency plan."""

    GENERAL = "general"  # 一般
    MAJOR = "major"  # 较大
    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 重大

    @property
    def label(self) -> str:
        return str(SEVERITY_LABELS[self])

    @property
    def is_emergency(self) -> bool:
        return self in (Severity.URGENT, Severity.CRITICAL)

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


SEVERITY_LABELS = {
    Severity.GENERAL: _l("General"),
    Severity.MAJOR: _l("Major"),
    Severity.URGENT: _l("Urgent"),
    Severity.CRITICAL: _l("Critical"),
}


class Channel(enum.StrEnum):
    WEB = "web"  # the report form, sent online
    APP = "app"  # the offline outbox or another API client
    OPEN311 = "open311"


class LocationSource(enum.StrEnum):
    GPS = "gps"  # the phone's geolocation
    MAP = "map"  # a pin placed on the map
    ADDRESS = "address"  # only a typed address or landmark
    EXIF = "exif"  # the first photo's GPS tags


class Report(db.Model):
    __tablename__ = "reports"
    __table_args__ = (
        sa.Index("ix_reports_category_status", "category_code", "status"),
        sa.Index("ix_reports_lat_lon", "lat", "lon"),
        sa.Index("ix_reports_status_created", "status", "created_at"),
        sa.Index("ix_reports_department_status", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The identity the phone gave the report when it was captured; a replay with it returns this report.
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    payload_hash: Mapped[str] = mapped_column(sa.String(64))
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    category_code: Mapped[str] = mapped_column(sa.ForeignKey("categories.code"))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # WGS84 decimal degrees; missing when the resident gave only an address.
    lat: Mapped[float | None] = mapped_column(sa.Double)
    lon: Mapped[float | None] = mapped_column(sa.Double)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    location_source: Mapped[LocationSource] = mapped_column(_enum(LocationSource, 10))
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus), default=ReportStatus.PENDING_REVIEW)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 10), default=Channel.WEB)
    captured_at: Mapped[datetime | None]  # when the phone saved it (may be long before it was sent)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The case (案卷), filled in by review and handling.
    grid_code: Mapped[str | None] = mapped_column(sa.ForeignKey("grids.code"), index=True)
    severity: Mapped[Severity | None] = mapped_column(_enum(Severity))
    # The severity as a number, so the review queue can be read in order straight from an index.
    severity_rank: Mapped[int] = mapped_column(default=0)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    handler_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # a volunteer who claimed it
    self_handled: Mapped[bool] = mapped_column(default=False)  # reported and fixed by a volunteer at once
    accepted_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]  # handling deadline, in working time from dispatch
    closed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]  # 督办
    reject_reason: Mapped[str | None] = mapped_column(sa.String(30))
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reports.id"))
    emergency: Mapped[bool] = mapped_column(default=False)
    emergency_acknowledged_at: Mapped[datetime | None]
    emergency_acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The QR poster the resident scanned to report, and the asset (e.g. street-light number) it stands for.
    poster_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posters.id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(sa.String(40))
    # Optimistic locking: two reviewers acting on the same case at once cannot both succeed.
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    handler: Mapped[User | None] = relationship(foreign_keys=[handler_id])
    category: Mapped[Category] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    duplicate_of: Mapped[Report | None] = relationship(remote_side=[id])
    poster: Mapped[Poster | None] = relationship()
    photos: Mapped[list[ReportPhoto]] = relationship(
        back_populates="report", order_by="ReportPhoto.position", cascade="all, delete-orphan"
    )
    events: Mapped[list[ReportEvent]] = relationship(
        back_populates="report", order_by="ReportEvent.id", cascade="all, delete-orphan"
    )

    @validates("severity")
    def _keep_rank(self, key: str, severity: Severity | None) -> Severity | None:
        self.severity_rank = severity.rank if severity is not None else 0
        return severity

    @property
    def public_reporter_name(self) -> str | None:
        return self.reporter.public_name if self.reporter else None

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def is_overdue(self) -> bool:
        """An open case past its handling deadline."""
        return self.due_at is not None and self.status.is_open and self.due_at < utcnow()

    @property
    def before_photos(self) -> list[ReportPhoto]:
        return [photo for photo in self.photos if photo.kind == "before"]

    @property
    def after_photos(self) -> list[ReportPhoto]:
        return [photo for photo in self.photos if photo.kind == "after"]

    @property
    def latest_after_photos(self) -> list[ReportPhoto]:
        """The photos of the latest result (after a rework, the new round's only)."""
        after = self.after_photos
        last = max((photo.event_id or 0 for photo in after), default=0)
        return [photo for photo in after if (photo.event_id or 0) == last]


# The review queue: emergencies first, then the most severe, then the oldest, within a status.
sa.Index(
    "ix_reports_queue",
    Report.status,
    Report.emergency.desc(),
    Report.severity_rank.desc(),
    Report.created_at,
    Report.id,
)


class ReportPhoto(db.Model):
    """A stored photo: an EXIF-free display copy and a thumbnail, both under content-hash keys."""

    __tablename__ = "report_photos"
    __table_args__ = (sa.UniqueConstraint("report_id", "kind", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10), default="before")  # before / after (result photos)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_events.id"))  # the step that added it
    position: Mapped[int] = mapped_column(default=0)
    display_key: Mapped[str] = mapped_column(sa.String(100), index=True)
    thumb_key: Mapped[str] = mapped_column(sa.String(100), index=True)
    width: Mapped[int]
    height: Mapped[int]
    thumb_width: Mapped[int]
    thumb_height: Mapped[int]
    phash: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship(back_populates="photos")
    event: Mapped[ReportEvent | None] = relationship()


class ReportEvent(db.Model):
    """Append-only audit trail of a report: who moved it from which state to which, when, and why."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(sa.String(20))  # a Role value, or "system"
    action: Mapped[str] = mapped_column(sa.String(30), default="submit")  # a workflow action (review/workflow.py)
    from_status: Mapped[ReportStatus | None] = mapped_column(_enum(ReportStatus))
    to_status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus))
    note: Mapped[str] = mapped_column(sa.Text, default="")

    report: Mapped[Report] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class ReportFollower(db.Model):
    """A resident who said "me too" and follows someone else's report instead of filing a duplicate."""

    __tablename__ = "report_followers"

    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _events_are_append_only(session: sa.orm.Session, flush_context: object, instances: object) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, ReportEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("report events are append-only")


class PosterKind(enum.StrEnum):
    """What a QR poster (publicity channel) is stuck on."""

    STREETLIGHT = "streetlight"  # a street-light pole: the label is the light's number, e.g. LD-0123
    GRID = "grid"  # a grid's notice board
    CAMPAIGN = "campaign"  # a special campaign (专项整治)
    PLACE = "place"  # any other place: a bus stop, a park gate

    @property
    def label(self) -> str:
        return str(POSTER_KIND_LABELS[self])


POSTER_KIND_LABELS = {
    PosterKind.STREETLIGHT: _l("Street light"),
    PosterKind.GRID: _l("Grid notice board"),
    PosterKind.CAMPAIGN: _l("Campaign"),
    PosterKind.PLACE: _l("Place"),
}


class Poster(db.Model):
    """A printed QR code in the street. Scanning it opens the report form with the place already filled in."""

    __tablename__ = "posters"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PosterKind] = mapped_column(_enum(PosterKind))
    label: Mapped[str] = mapped_column(sa.String(80))  # printed on the poster, e.g. "LD-0123" or "千峰南路公交站"
    asset_id: Mapped[str] = mapped_column(sa.String(40), default="")
    grid_code: Mapped[str | None] = mapped_column(sa.ForeignKey("grids.code"))
    lat: Mapped[float | None] = mapped_column(sa.Double)
    lon: Mapped[float | None] = mapped_column(sa.Double)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="SET NULL"))
    # The short random id in the poster's URL (/p/<code>); not guessable from the id.
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grid: Mapped[Grid | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


class PosterScan(db.Model):
    """One scan of a poster's QR code (when only: nothing about who scanned it)."""

    __tablename__ = "poster_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    poster_id: Mapped[int] = mapped_column(sa.ForeignKey("posters.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
