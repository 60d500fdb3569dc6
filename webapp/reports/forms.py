"""Parsing a report submission. The HTML form and ``POST /api/v1/reports`` send the same fields, so both go
through ``parse_submission``; CSRF is checked for every POST by CSRFProtect before this runs.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, FloatField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from webapp.extensions import lazy_gettext as _l
from webapp.reports.models import POSTER_KIND_LABELS, Channel, LocationSource, PosterKind
from webapp.reports.services import NewReport, PhotoError, ReportInvalid

FIELDS = ("category", "lat", "lon", "address", "description", "photos", "client_id", "captured_at", "poster")


class MissingClientId(ReportInvalid):
    status = 400
    code = "missing_client_id"


def _float(value: str | None) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _client_id(raw: str | None, *, required: bool) -> str:
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise MissingClientId({"client_id": _("client_id is required: a UUID made on the phone.")})
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ReportInvalid({"client_id": _("client_id must be a UUID.")}) from None


def _captured_at(raw: str | None) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ReportInvalid({"captured_at": _("captured_at must be an ISO 8601 date and time.")}) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_photos(files: Iterable[FileStorage], max_bytes: int) -> list[bytes]:
    """The uploaded photos as bytes, skipping empty file inputs; refuses an oversized file without reading it all."""
    photos: list[bytes] = []
    for number, storage in enumerate((f for f in files if f and (f.filename or f.content_length)), start=1):
        data = storage.stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise PhotoError(
                _("Photo %(n)d is too large: at most %(mb)d MB per photo.", n=number, mb=max_bytes // 2**20),
                status=413,
                code="photo_too_large",
            )
        photos.append(data)
    return photos


def parse_submission(
    form: Mapping[str, str],
    files: Iterable[FileStorage],
    *,
    channel: Channel,
    max_photo_bytes: int,
    client_id_required: bool,
) -> NewReport:
    errors: dict[str, str] = {}
    try:
        lat, lon = _float(form.get("lat")), _float(form.get("lon"))
    except ValueError:
        errors["lat"] = _("The position is not valid. Please set it again on the map or type an address.")
        lat = lon = None
    source_raw = (form.get("location_source") or "").strip()
    source = LocationSource(source_raw) if source_raw in LocationSource.__members__.values() else None
    if errors:
        raise ReportInvalid(errors)
    return NewReport(
        client_id=_client_id(form.get("client_id"), required=client_id_required),
        category_code=(form.get("category") or "").strip(),
        description=form.get("description") or "",
        lat=lat,
        lon=lon,
        address=form.get("address") or "",
        location_source=source,
        captured_at=_captured_at(form.get("captured_at")),
        photos=read_photos(files, max_photo_bytes),
        channel=channel,
        poster_code=(form.get("poster") or "").strip()[:16],
    )


# --- QR posters (admin) ---------------------------------------------------------------------------------------


def _optional_int(value: object) -> int | None:
    return int(value) if value not in (None, "", "None") else None  # type: ignore[call-overload]


class PosterForm(FlaskForm):
    kind = SelectField(
        _l("Where it is put up"),
        choices=[SelectChoice(k.value, POSTER_KIND_LABELS[k]) for k in PosterKind],
        default=PosterKind.PLACE.value,
    )
    label = StringField(
        _l("Label printed on the poster"), validators=[DataRequired(), Length(max=80)], render_kw={"maxlength": 80}
    )
    asset_id = StringField(_l("Asset number (optional)"), validators=[Optional(), Length(max=40)])
    grid_code = StringField(_l("Grid code (optional)"), validators=[Optional(), Length(max=15)])
    lat = FloatField(_l("Latitude (optional)"), validators=[Optional(), NumberRange(-90, 90)])
    lon = FloatField(_l("Longitude (optional)"), validators=[Optional(), NumberRange(-180, 180)])
    campaign_id = SelectField(_l("Campaign"), coerce=_optional_int, validators=[Optional()])
    again = BooleanField(_l("Print another poster for this asset anyway"))
