"""Check-in at the venue: rotating signed codes, offline scans, the organiser's side, check-out and points.

The organiser's screen shows a QR code that changes every 30 seconds. It holds the URL
``/activities/<id>/checkin?t=<window>.<signature>``: the window is the number of 30-second steps since 1970 and the
signature an HMAC of the activity and the window under a key derived from the app's secret. The server checks a
code by recomputing the signature (no lookup), so the screen can show codes it fetched in advance while offline,
and a photo of the code forwarded to someone at home is refused once its window has passed.

A resident's scan stored in the phone's outbox (no signal in a basement) carries the code and the scan time; it
is accepted later if the code was valid at that time and the time is plausible (not in the future, not days
old, within the activity). Points go through the ledger under ``award:activity:<activity>:<person>``, so a
second scan, a replay or an organiser's check-in of the same person pays nothing more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from webapp.accounts.models import User
from webapp.activities.models import Activity, Checkin, CheckinMethod
from webapp.activities.services import ActivityError, _audit, may_manage
from webapp.db import db, utcnow
from webapp.geo.distance import haversine_m
from webapp.points import awards

WINDOW_SECONDS = 30
SKEW_SECONDS = 15  # a code is still taken this long after its window (scanning, a slow network, clocks)
OPENS_BEFORE = timedelta(minutes=30)  # check-in opens this long before the start
CHECKOUT_AFTER = timedelta(minutes=60)  # check-out is possible until this long after the end
OFFLINE_MAX_AGE = timedelta(days=3)  # an offline scan must reach us within this time
FUTURE_SLACK = timedelta(minutes=2)  # a phone's clock may run a little fast
SEEN_MAX_AGE = 15 * 60  # a scan confirmed on the page (or after logging in) within this time
CODES_AHEAD = 60  # the organiser's screen gets 30 minutes of codes at a time
_TOKEN = re.compile(r"(\d{1,12})\.([A-Za-z0-9_-]{16})")
_PERSONAL = re.compile(r"(?:CG-?P)?(\d{1,10})-([A-Z2-7]{10})", re.IGNORECASE)
_PHONE = re.compile(r"1\d{10}")


class CheckinError(ActivityError):
    code = "checkin_refused"


class CodeExpired(CheckinError):
    code = "token_expired"


class TooEarly(CheckinError):
    code = "too_early"


class TooLate(CheckinError):
    code = "too_late"


def _key(purpose: str) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    return hmac.new(str(secret).encode(), f"citizen-grid:{purpose}".encode(), hashlib.sha256).digest()


def _sign(purpose: str, message: str, length: int) -> bytes:
    return hmac.new(_key(purpose), message.encode(), hashlib.sha256).digest()[:length]


# --- Rotating codes ----------------------------------------------------------------------------------------------


def window_of(moment: datetime) -> int:
    return int(moment.timestamp()) // WINDOW_SECONDS


def window_start(window: int) -> datetime:
    return datetime.fromtimestamp(window * WINDOW_SECONDS, UTC)


def token_for(activity_id: int, window: int) -> str:
    signature = _sign("checkin", f"{activity_id}:{window}", 12)
    return f"{window}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def tokens_ahead(activity: Activity, now: datetime, count: int = CODES_AHEAD) -> list[tuple[int, str]]:
    first = window_of(now)
    return [(window, token_for(activity.id, window)) for window in range(first, first + count)]


def check_token(activity: Activity, token: str | None, at: datetime) -> None:
    """Refuse a forged code, a code of another activity, and a code whose window does not contain ``at``."""
    match = _TOKEN.fullmatch((token or "").strip())
    if match is None:
        raise CheckinError(_("This is not a check-in code of this activity."), field="token")
    window = int(match.group(1))
    if not hmac.compare_digest(token_for(activity.id, window), match.group(0)):
        raise CheckinError(_("This is not a check-in code of this activity."), field="token")
    start = window_start(window)
    if not (start - timedelta(seconds=SKEW_SECONDS) <= at < start + timedelta(seconds=WINDOW_SECONDS + SKEW_SECONDS)):
        raise CodeExpired(
            _("This check-in code has expired: it changes every 30 seconds. Please scan the code on the screen again."),
            field="token",
        )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="activity-scan")


def seen_stamp(activity: Activity, token: str, at: datetime) -> str:
    """Proof that the server saw this code while it was valid (carried through the confirm page or a login)."""
    return _serializer().dumps({"a": activity.id, "t": token, "at": at.timestamp()})


def scan_time(activity: Activity, token: str, stamp: str | None, now: datetime) -> datetime:
    """When the code was scanned: the time in a valid stamp for this code, else now."""
    if not stamp:
        return now
    try:
        data = _serializer().loads(stamp, max_age=SEEN_MAX_AGE)
    except BadSignature:
        return now
    if not isinstance(data, dict) or data.get("a") != activity.id or data.get("t") != token:
        return now
    try:
        return datetime.fromtimestamp(float(data["at"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return now


# --- Personal codes (the organiser scans the resident) -----------------------------------------------------------


def personal_code(user: User) -> str:
    """The resident's own code, shown on their profile and printable on a card: stable, checked by signature."""
    signature = base64.b32encode(_sign("person", str(user.id), 10)).decode()[:10]
    return f"CGP{user.id}-{signature}"


def find_person(text: str) -> User | None:
    """A resident by personal code or by phone number (spaces and dashes in a typed number are ignored)."""
    value = (text or "").strip()
    match = _PERSONAL.fullmatch(value.replace(" ", ""))
    if match is not None:
        user = db.session.get(User, int(match.group(1)))
        if user is not None and hmac.compare_digest(
            personal_code(user).upper(), f"CGP{match.group(1)}-{match.group(2)}".upper()
        ):
            return user
        return None
    digits = re.sub(r"[\s-]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    if _PHONE.fullmatch(digits):
        return db.session.scalar(sa.select(User).where(User.phone == digits))
    return None


# --- Checking in and out -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    action: str  # checked_in, checked_out, already
    checkin: Checkin
    points: int = 0

    @property
    def created(self) -> bool:
        return self.action != "already"


def _checkin_of(activity: Activity, user: User) -> Checkin | None:
    return db.session.scalar(sa.select(Checkin).where(Checkin.activity_id == activity.id, Checkin.user_id == user.id))


def checkin_of(activity: Activity, user: Any) -> Checkin | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return _checkin_of(activity, user)


def _check_times(activity: Activity, at: datetime) -> None:
    if activity.cancelled_at is not None:
        raise CheckinError(_("This activity was cancelled."))
    if at < activity.starts_at - OPENS_BEFORE:
        raise TooEarly(_("Check-in opens 30 minutes before the activity starts."))
    if at >= activity.ends_at:
        raise TooLate(_("The activity is over: check-in has closed."))


def _check_position(activity: Activity, position: tuple[float, float] | None) -> None:
    if activity.checkin_radius_m is None or activity.lat is None or activity.lon is None:
        return
    if position is None:
        raise CheckinError(
            _("This activity checks that you are at the venue: please allow the app to use your position."),
            field="position",
        )
    distance = haversine_m(position[0], position[1], activity.lat, activity.lon)
    if distance > activity.checkin_radius_m:
        raise CheckinError(
            _(
                "You seem to be %(m)d m from the venue; check-in works within %(r)d m.",
                m=round(distance),
                r=activity.checkin_radius_m,
            ),
            field="position",
        )


def _pay(activity: Activity, user: User, at: datetime) -> int:
    paid = awards.award_activity(user, activity_id=activity.id, kind=activity.kind.value, title=activity.title, at=at)
    return sum(entry.amount for entry in paid.entries if entry.amount > 0) if paid is not None else 0


def _check_in(
    activity: Activity,
    user: User,
    *,
    at: datetime,
    method: CheckinMethod,
    client_id: str | None = None,
    recorded_by: User | None = None,
) -> Outcome:
    checkin = Checkin(
        activity_id=activity.id,
        user_id=user.id,
        method=method,
        client_id=client_id,
        checked_in_at=at,
        recorded_by_id=recorded_by.id if recorded_by is not None else None,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():  # two scans at once: the unique (activity, person) keeps one
            db.session.add(checkin)
            db.session.flush()
    except sa.exc.IntegrityError:
        existing = _checkin_of(activity, user)
        if existing is None:
            raise
        return Outcome("already", existing)
    points = 0 if activity.min_stay_minutes else _pay(activity, user, at)
    return Outcome("checked_in", checkin, points)


def _check_out(activity: Activity, checkin: Checkin, at: datetime) -> Outcome:
    if checkin.checked_out_at is not None:
        return Outcome("already", checkin)
    if at <= checkin.checked_in_at:
        raise CheckinError(_("The check-out time must be after the check-in time."))
    if at > activity.ends_at + CHECKOUT_AFTER:
        raise CheckinError(_("Check-out closed an hour after the end of the activity."))
    stayed = int((at - checkin.checked_in_at).total_seconds() // 60)
    checkin.checked_out_at = at
    checkin.minutes = max(0, min(stayed, activity.length_minutes))
    db.session.flush()
    points = 0
    if activity.min_stay_minutes and checkin.minutes >= activity.min_stay_minutes:
        points = _pay(activity, checkin.user, at)
    return Outcome("checked_out", checkin, points)


def resident_scan(
    user: User,
    activity: Activity,
    token: str | None,
    *,
    at: datetime,
    position: tuple[float, float] | None = None,
    method: CheckinMethod = CheckinMethod.QR,
    client_id: str | None = None,
) -> Outcome:
    """A resident scanned the rotating code at ``at``: check in, or (for activities with a minimum stay) check
    out if already in."""
    check_token(activity, token, at)
    existing = _checkin_of(activity, user)
    if existing is not None:
        if activity.min_stay_minutes and existing.checked_out_at is None:
            _check_position(activity, position)
            return _check_out(activity, existing, at)
        return Outcome("already", existing)
    _check_times(activity, at)
    _check_position(activity, position)
    return _check_in(activity, user, at=at, method=method, client_id=client_id)


def offline_scan(
    user: User,
    activity: Activity,
    token: str | None,
    *,
    client_id: str,
    scanned_at: datetime,
    now: datetime | None = None,
    position: tuple[float, float] | None = None,
) -> Outcome:
    """A scan stored in the phone's outbox and sent now. The same ``client_id`` again returns what it did the
    first time (a replay after a lost answer) and changes nothing."""
    now = now or utcnow()
    replay = db.session.scalar(sa.select(Checkin).where(Checkin.client_id == client_id))
    if replay is not None:
        if replay.user_id != user.id or replay.activity_id != activity.id:
            raise CheckinError(_("This scan was already sent for another person or activity."), field="client_id")
        return Outcome("already", replay)
    if scanned_at > now + FUTURE_SLACK:
        raise CheckinError(_("The scan time lies in the future: please check the phone's clock."), field="scanned_at")
    if now - scanned_at > OFFLINE_MAX_AGE:
        raise CheckinError(
            _("This scan is too old: scans saved offline must be sent within three days."), field="scanned_at"
        )
    return resident_scan(
        user, activity, token, at=scanned_at, position=position, method=CheckinMethod.OFFLINE, client_id=client_id
    )


def organiser_check(
    organiser: User, activity: Activity, who: str, *, action: str = "in", now: datetime | None = None
) -> tuple[User, Outcome]:
    """The organiser scanned a resident's personal code or typed their phone number and chose check-in or
    check-out."""
    if not may_manage(organiser, activity):
        raise CheckinError(_("Only this activity's organisers can check people in."))
    now = now or utcnow()
    person = find_person(who)
    if person is None or not person.active:
        raise CheckinError(_("No resident with this phone number or personal code."), field="who")
    existing = _checkin_of(activity, person)
    if action == "out":
        if not activity.min_stay_minutes:
            raise CheckinError(_("This activity has no check-out: only activities with a minimum stay count hours."))
        if existing is None:
            raise CheckinError(_("This resident has not checked in, so they cannot check out."), field="who")
        outcome = _check_out(activity, existing, now)
    elif existing is not None:
        outcome = Outcome("already", existing)
    else:
        _check_times(activity, now)
        outcome = _check_in(activity, person, at=now, method=CheckinMethod.ORGANISER, recorded_by=organiser)
    if outcome.created:
        _audit(activity, organiser, outcome.action, person=person.masked_phone)
        db.session.flush()
    return person, outcome


def attendance(activity: Activity) -> list[Checkin]:
    return list(
        db.session.scalars(
            sa.select(Checkin).where(Checkin.activity_id == activity.id).order_by(Checkin.checked_in_at, Checkin.id)
        )
    )
