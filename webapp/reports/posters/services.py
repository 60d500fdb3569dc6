"""QR posters (a publicity channel): a printed code on a street light, a grid's notice board or a campaign poster.

Scanning one opens ``/p/<code>``, which counts the scan and sends the resident to the report form with the
place (and the asset, e.g. the street light's number) filled in; the report then remembers the poster.
Services flush and never commit.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import segno
import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import InvalidFields
from webapp.geo.distance import valid_coordinates
from webapp.geo.models import Grid
from webapp.geo.services import locate
from webapp.reports.models import Poster, PosterKind, PosterScan, Report

# Short, unambiguous when typed from the printed URL (no 0/o, 1/l/i); 31^8 ≈ 8.5·10^11 codes.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 8
LABEL_MAX = 80
ASSET_MAX = 40
# Error correction H (30 %): posters live outdoors, get dirty, scratched and partly covered.
QR_ERROR = "h"
STREET_LIGHT_CATEGORY = "01037"  # 路灯: what a street-light poster's reports are about
# NUL and the other C0 controls: never meant, and PostgreSQL refuses NUL in text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CODE = re.compile(f"[{CODE_ALPHABET}]{{1,16}}")


class PosterInvalid(InvalidFields):
    """A poster form with wrong fields."""


@dataclass
class NewPoster:
    kind: PosterKind
    label: str
    asset_id: str = ""
    grid_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    campaign_id: int | None = None
    again: bool = False  # a second poster for an asset that has one already, on purpose (a lost or torn poster)


def _campaigns() -> sa.Table:
    # Campaigns belong to the points domain, which depends on reports: read its table without importing it.
    return db.metadata.tables["campaigns"]


def campaign_choices() -> list[tuple[int, str]]:
    table = _campaigns()
    return [(row.id, row.name) for row in db.session.execute(sa.select(table.c.id, table.c.name).order_by(table.c.id))]


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(sa.select(Poster.id).where(Poster.code == code)) is None:
            return code


def create_poster(actor: User | None, data: NewPoster) -> Poster:
    errors: dict[str, str] = {}
    label = data.label.strip()
    asset_id = data.asset_id.strip()
    grid_code = (data.grid_code or "").strip() or None
    if any(_CONTROL.search(value) for value in (label, asset_id, grid_code or "")):
        raise PosterInvalid({"label": _("Please remove the control characters from the text.")})
    if not label:
        errors["label"] = _("Please give the label printed on the poster, e.g. the street light's number.")
    elif len(label) > LABEL_MAX:
        errors["label"] = _("The label is too long: at most %(n)d characters.", n=LABEL_MAX)
    if len(asset_id) > ASSET_MAX:
        errors["asset_id"] = _("The asset number is too long: at most %(n)d characters.", n=ASSET_MAX)
    if (data.lat is None) != (data.lon is None) or (
        data.lat is not None and data.lon is not None and not valid_coordinates(data.lat, data.lon)
    ):
        errors["lat"] = _("The position is not valid: give both latitude and longitude (WGS84), or neither.")
    if grid_code is not None and db.session.get(Grid, grid_code) is None:
        errors["grid_code"] = _("There is no grid with this code.")
    if data.kind is PosterKind.GRID and grid_code is None:
        errors["grid_code"] = _("A grid poster needs the grid's code.")
    if data.campaign_id is not None:
        table = _campaigns()
        if db.session.scalar(sa.select(table.c.id).where(table.c.id == data.campaign_id)) is None:
            errors["campaign_id"] = _("There is no such campaign.")
    elif data.kind is PosterKind.CAMPAIGN:
        errors["campaign_id"] = _("A campaign poster needs its campaign.")
    if asset_id and not data.again and "asset_id" not in errors:
        existing = db.session.scalar(sa.select(Poster).where(Poster.asset_id == asset_id).order_by(Poster.id).limit(1))
        if existing is not None:
            errors["asset_id"] = _(
                "There is already a poster for %(asset)s (%(label)s, made on %(day)s). To print another one anyway "
                "(e.g. to replace a torn one), tick the box below.",
                asset=asset_id,
                label=existing.label,
                day=existing.created_at.date().isoformat(),
            )
    if errors:
        raise PosterInvalid(errors)
    if grid_code is None and data.lat is not None and data.lon is not None:
        grid_code = locate(data.lat, data.lon)
    poster = Poster(
        kind=data.kind,
        label=label,
        asset_id=asset_id,
        grid_code=grid_code,
        lat=data.lat,
        lon=data.lon,
        campaign_id=data.campaign_id,
        code=_new_code(),
        created_by=actor,
        created_at=utcnow(),
    )
    db.session.add(poster)
    db.session.flush()
    return poster


def find_by_code(code: str | None) -> Poster | None:
    code = (code or "").strip().lower()
    if not _CODE.fullmatch(code):  # also keeps NUL and other junk away from the database
        return None
    return db.session.scalar(sa.select(Poster).where(Poster.code == code))


def get_poster(poster_id: int) -> Poster | None:
    return db.session.get(Poster, poster_id)


# Who is not a person scanning: link-preview fetchers of chat apps, crawlers, command-line tools. A QR scanner
# opens the phone's browser (or WeChat's, "MicroMessenger"), whose user agent matches none of these.
_AUTOMATED_AGENT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|preview|facebookexternalhit|embedly|whatsapp|"
    r"skypeuripreview|bingpreview|headless|curl/|wget/|python-|httpclient|okhttp|go-http-client|java/|libwww|"
    r"scrapy|postman|insomnia|monitor|uptime|pingdom",
    re.IGNORECASE,
)


def is_automated(user_agent: str | None, purpose: str | None = None) -> bool:
    """A prefetch (``Purpose``/``Sec-Purpose: prefetch``), a request without a user agent, or a known bot."""
    if purpose and "prefetch" in purpose.lower():
        return True
    agent = (user_agent or "").strip()
    return not agent or bool(_AUTOMATED_AGENT.search(agent))


def record_scan(poster: Poster, at: datetime | None = None) -> PosterScan:
    scan = PosterScan(poster_id=poster.id, at=at or utcnow())
    db.session.add(scan)
    db.session.flush()
    return scan


def report_form_args(poster: Poster) -> dict[str, str]:
    """The query string of the report form a scan leads to: the poster, its place (coordinates, or else its label
    as the address, e.g. a grid's notice board) and its asset number."""
    args = {"poster": poster.code}
    if poster.has_coordinates:
        args["lat"] = f"{poster.lat:.6f}"
        args["lon"] = f"{poster.lon:.6f}"
    else:
        args["address"] = poster.label
    if poster.asset_id:
        args["asset"] = poster.asset_id
    if poster.kind is PosterKind.STREETLIGHT:
        args["category"] = STREET_LIGHT_CATEGORY
    return args


@dataclass(frozen=True)
class PosterRow:
    poster: Poster
    scans: int
    reports: int


def posters_with_counts() -> list[PosterRow]:
    """Every poster, newest first, with how often it was scanned and how many reports came from it."""
    scans = sa.select(PosterScan.poster_id, sa.func.count().label("n")).group_by(PosterScan.poster_id).subquery("scans")
    reports = (
        sa.select(Report.poster_id, sa.func.count().label("n"))
        .where(Report.poster_id.is_not(None))
        .group_by(Report.poster_id)
        .subquery("reports")
    )
    rows = db.session.execute(
        sa.select(Poster, sa.func.coalesce(scans.c.n, 0), sa.func.coalesce(reports.c.n, 0))
        .outerjoin(scans, scans.c.poster_id == Poster.id)
        .outerjoin(reports, reports.c.poster_id == Poster.id)
        .order_by(Poster.created_at.desc(), Poster.id.desc())
    ).all()
    return [PosterRow(poster, int(n_scans), int(n_reports)) for poster, n_scans, n_reports in rows]


def qr_svg(url: str, *, title: str = "") -> str:
    """The QR code for ``url`` as inline SVG that scales to its box (no width/height: CSS sizes it)."""
    qr = segno.make(url, error=QR_ERROR, micro=False, boost_error=False)
    return qr.svg_inline(scale=1, border=4, omitsize=True, title=title or None, svgclass="qr", lineclass=None)
