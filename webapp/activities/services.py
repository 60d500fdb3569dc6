"""Community activities: organising, sign-up with a waiting list, reminders and the calendar file.

Check-in lives in ``checkin.py`` and certificates in ``certificates.py``. Services flush and never commit; they
raise ``ActivityError`` (a clear message, nothing changed) for every refused request.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Role, User
from webapp.activities.models import Activity, ActivityEvent, ActivityKind, Checkin, Signup, SignupStatus
from webapp.db import db, utcnow
from webapp.errors import DomainError, InvalidFields
from webapp.geo.distance import haversine_m, valid_coordinates
from webapp.geo.models import Grid
from webapp.geo.services import locate
from webapp.localtime import local_date, midnight, zone
from webapp.points import rules

TITLE_MAX = 80
ADDRESS_MAX = 200
DESCRIPTION_MAX = 4000
CAPACITY_MAX = 10_000
LONGEST_ACTIVITY = timedelta(days=3)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(*values: str) -> bool:
    """NUL and the other C0 controls (tabs and line breaks allowed): never meant, and PostgreSQL refuses NUL."""
    return any(_CONTROL.search(value) for value in values)


class ActivityError(DomainError):
    code = "activity_refused"


class ActivityInvalid(InvalidFields):
    """An activity form with wrong fields."""


# --- Who organises ---------------------------------------------------------------------------------------------


def is_organiser(user: Any) -> bool:
    """Admins, and staff of a department (or street office, community) marked as organiser."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role is Role.ADMIN:
        return True
    return user.role is Role.DEPARTMENT and user.department is not None and user.department.organiser


def may_manage(user: Any, activity: Activity) -> bool:
    """Admins manage every activity; a department's organisers those of their department."""
    if not is_organiser(user):
        return False
    return user.role is Role.ADMIN or (
        activity.department_id is not None and activity.department_id == user.department_id
    )


# --- Creating and editing ----------------------------------------------------------------------------------------


@dataclass
class ActivityData:
    kind: ActivityKind
    title: str
    description: str
    address: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    lat: float | None = None
    lon: float | None = None
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None
    min_stay_minutes: int | None = None
    checkin_radius_m: int | None = None


EDITABLE = (
    "kind",
    "title",
    "description",
    "address",
    "lat",
    "lon",
    "starts_at",
    "ends_at",
    "capacity",
    "signup_opens_at",
    "signup_closes_at",
    "min_stay_minutes",
    "checkin_radius_m",
)


def _clean(data: ActivityData, *, now: datetime, existing: Activity | None = None) -> ActivityData:
    errors: dict[str, str] = {}
    title = data.title.strip()
    description = data.description.strip()
    address = data.address.strip()
    if has_control_characters(title, description, address):
        raise ActivityInvalid({"title": _("Please remove the control characters from the text.")})
    if not title:
        errors["title"] = _("Please give the activity a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = _("The title is too long: at most %(n)d characters.", n=TITLE_MAX)
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = _("The description is too long: at most %(n)d characters.", n=DESCRIPTION_MAX)
    if not address:
        errors["address"] = _("Please say where the activity takes place.")
    elif len(address) > ADDRESS_MAX:
        errors["address"] = _("The address is too long: at most %(n)d characters.", n=ADDRESS_MAX)
    if (data.lat is None) != (data.lon is None) or (
        data.lat is not None and data.lon is not None and not valid_coordinates(data.lat, data.lon)
    ):
        errors["lat"] = _("The position is not valid: give both latitude and longitude (WGS84), or neither.")
    for name in ("starts_at", "ends_at", "signup_opens_at", "signup_closes_at"):
        value = getattr(data, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name}: naive datetime")
    if data.ends_at <= data.starts_at:
        errors["ends_at"] = _("The activity must end after it starts.")
    elif data.ends_at - data.starts_at > LONGEST_ACTIVITY:
        errors["ends_at"] = _("An activity lasts at most three days; please create one per day.")
    if existing is None and data.starts_at < now:
        errors["starts_at"] = _("A new activity cannot start in the past.")
    if not 1 <= data.capacity <= CAPACITY_MAX:
        errors["capacity"] = _("The number of places must be from 1 to %(n)d.", n=CAPACITY_MAX)
    if data.signup_opens_at and data.signup_closes_at and data.signup_closes_at <= data.signup_opens_at:
        errors["signup_closes_at"] = _("Sign-up must close after it opens.")
    if data.signup_closes_at and data.signup_closes_at > data.ends_at:
        errors["signup_closes_at"] = _("Sign-up cannot close after the activity has ended.")
    if data.min_stay_minutes is not None and not (
        1 <= data.min_stay_minutes <= max(1, int((data.ends_at - data.starts_at).total_seconds() // 60))
    ):
        errors["min_stay_minutes"] = _("The minimum stay must be at least one minute and no longer than the activity.")
    if data.checkin_radius_m is not None:
        if not 20 <= data.checkin_radius_m <= 5000:
            errors["checkin_radius_m"] = _("The check-in radius must be from 20 to 5000 metres.")
        elif data.lat is None:
            errors["checkin_radius_m"] = _("A check-in radius needs the venue's position on the map.")
    if errors:
        raise ActivityInvalid(errors)
    data.title, data.description, data.address = title, description, address
    return data


def _audit(activity: Activity, actor: User | None, action: str, **details: Any) -> ActivityEvent:
    event = ActivityEvent(
        activity_id=activity.id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        details_json=json.dumps(details, ensure_ascii=False, default=str, sort_keys=True),
        at=utcnow(),
    )
    db.session.add(event)
    return event


def _place(activity: Activity) -> None:
    grid_code = locate(activity.lat, activity.lon) if activity.lat is not None and activity.lon is not None else None
    activity.grid_code = grid_code
    activity.street_code = grid_code[:9] if grid_code else None


def create_activity(organiser: User, data: ActivityData, *, now: datetime | None = None) -> Activity:
    if not is_organiser(organiser):
        raise ActivityError(_("Only organisers can create activities."))
    now = now or utcnow()
    data = _clean(data, now=now)
    activity = Activity(
        **{name: getattr(data, name) for name in EDITABLE},
        organiser_id=organiser.id,
        department_id=organiser.department_id if organiser.role is Role.DEPARTMENT else None,
        created_at=now,
        updated_at=now,
    )
    _place(activity)
    db.session.add(activity)
    db.session.flush()
    _audit(activity, organiser, "created", title=activity.title)
    db.session.flush()
    return activity


def update_activity(actor: User, activity: Activity, data: ActivityData, *, now: datetime | None = None) -> dict:
    """Change an activity; every changed field is audited (from → to). Points already paid stay paid: they are in
    the ledger, which is never rewritten. Returns the changes."""
    if not may_manage(actor, activity):
        raise ActivityError(_("You cannot change this activity."))
    if activity.cancelled_at is not None:
        raise ActivityError(_("This activity was cancelled and can no longer be changed."))
    now = now or utcnow()
    data = _clean(data, now=now, existing=activity)
    confirmed = _count(activity, SignupStatus.CONFIRMED)
    if data.capacity < confirmed:
        raise ActivityInvalid(
            {"capacity": _("%(n)d people have a place already: the capacity cannot be lower.", n=confirmed)}
        )
    changes: dict[str, list[Any]] = {}
    for name in EDITABLE:
        old, new = getattr(activity, name), getattr(data, name)
        if old != new:
            changes[name] = [
                old.value if isinstance(old, ActivityKind) else old,
                new.value if isinstance(new, ActivityKind) else new,
            ]
            setattr(activity, name, new)
    if not changes:
        return changes
    if "lat" in changes or "lon" in changes:
        _place(activity)
    activity.updated_at = now
    checked_in = db.session.scalar(sa.select(sa.func.count()).where(Checkin.activity_id == activity.id)) or 0
    _audit(activity, actor, "edited", changes=changes, checked_in=checked_in)
    if "capacity" in changes:
        _fill_from_waiting_list(activity, now)
    db.session.flush()
    return changes


def cancel_activity(actor: User, activity: Activity, *, now: datetime | None = None) -> None:
    if not may_manage(actor, activity):
        raise ActivityError(_("You cannot change this activity."))
    if activity.cancelled_at is not None:
        raise ActivityError(_("This activity was already cancelled."))
    now = now or utcnow()
    activity.cancelled_at = now
    _audit(activity, actor, "cancelled")
    people = db.session.scalars(
        sa.select(User)
        .join(Signup, Signup.user_id == User.id)
        .where(Signup.activity_id == activity.id, Signup.status != SignupStatus.CANCELLED)
    )
    _notify(list(people), "activity_cancelled", activity)
    db.session.flush()


def history(activity: Activity) -> list[ActivityEvent]:
    return list(
        db.session.scalars(
            sa.select(ActivityEvent).where(ActivityEvent.activity_id == activity.id).order_by(ActivityEvent.id.desc())
        )
    )


# --- Finding activities ------------------------------------------------------------------------------------------


def get(activity_id: int) -> Activity | None:
    return db.session.get(Activity, activity_id)


def local(moment: datetime) -> datetime:
    """The moment in the city's time zone (webapp/localtime.py)."""
    return moment.astimezone(zone())


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def streets() -> list[tuple[str, str]]:
    """(street code, name) of the streets that have activities, for the filter."""
    rows = db.session.execute(
        sa.select(Grid.street_code, sa.func.max(Grid.street_name))
        .where(Grid.street_code.in_(sa.select(Activity.street_code).where(Activity.street_code.is_not(None))))
        .group_by(Grid.street_code)
        .order_by(Grid.street_code)
    ).all()
    return [(code, name or code) for code, name in rows]


def street_name(code: str | None) -> str:
    if not code:
        return ""
    return db.session.scalar(sa.select(Grid.street_name).where(Grid.street_code == code).limit(1)) or code


def listing(
    *,
    kind: ActivityKind | None = None,
    street: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_cancelled: bool = False,
    near: tuple[float, float] | None = None,
    limit: int = 200,
) -> list[Activity]:
    """Activities that end after ``start`` (now by default) and start before ``end``, soonest first; with ``near``
    (a position) the nearest first, then those without a map pin (soonest first)."""
    start = start or utcnow()
    stmt = sa.select(Activity).where(Activity.ends_at > start)
    if end is not None:
        stmt = stmt.where(Activity.starts_at < end)
    if kind is not None:
        stmt = stmt.where(Activity.kind == kind)
    if street:
        stmt = stmt.where(Activity.street_code == street)
    if not include_cancelled:
        stmt = stmt.where(Activity.cancelled_at.is_(None))
    order: list[Any] = [Activity.starts_at, Activity.id]
    if near is not None:
        order = [Activity.lat.is_(None), _squared_distance(*near), *order]
    return list(db.session.scalars(stmt.order_by(*order).limit(limit)))


def _squared_distance(lat: float, lon: float) -> Any:
    """What orders pins by distance from (lat, lon) in SQL on SQLite and PostgreSQL alike: a degree of longitude
    shrunk by the cosine of the latitude (within 0.1 % of the great-circle order at city scale)."""
    shrink = math.cos(math.radians(lat))
    north, east = Activity.lat - lat, (Activity.lon - lon) * shrink
    return north * north + east * east


@dataclass(frozen=True)
class Listed:
    """An activity of the list and, when the list is ordered from a position, how far its pin is from it."""

    activity: Activity
    distance_m: float | None = None


def with_distances(activities: list[Activity], near: tuple[float, float] | None) -> list[Listed]:
    if near is None:
        return [Listed(activity) for activity in activities]
    return [
        Listed(activity, haversine_m(*near, activity.lat, activity.lon) if activity.has_pin else None)
        for activity in activities
    ]


def week(day: date, **filters: Any) -> list[tuple[date, list[Activity]]]:
    """The seven days of the week containing ``day`` (Monday first) with the activities starting on each."""
    monday = week_start(day)
    start = midnight(monday)
    found = listing(start=start, end=start + timedelta(days=7), **filters)
    days = [monday + timedelta(days=n) for n in range(7)]
    return [(d, [a for a in found if local(a.starts_at).date() == d]) for d in days]


def past(limit: int = 20) -> list[Activity]:
    return list(
        db.session.scalars(
            sa.select(Activity).where(Activity.ends_at <= utcnow()).order_by(Activity.starts_at.desc()).limit(limit)
        )
    )


def points_for(activity: Activity, at: datetime | None = None) -> int:
    return rules.effective(at).activity_points(activity.kind.value)


# --- Sign-up and the waiting list --------------------------------------------------------------------------------


def _count(activity: Activity, status: SignupStatus) -> int:
    return int(
        db.session.scalar(sa.select(sa.func.count()).where(Signup.activity_id == activity.id, Signup.status == status))
        or 0
    )


@dataclass(frozen=True)
class Places:
    capacity: int
    taken: int
    waiting: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)


def places(activity: Activity) -> Places:
    return Places(activity.capacity, _count(activity, SignupStatus.CONFIRMED), _count(activity, SignupStatus.WAITING))


def signup_of(user: Any, activity: Activity) -> Signup | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return db.session.scalar(sa.select(Signup).where(Signup.activity_id == activity.id, Signup.user_id == user.id))


def waiting_position(signup: Signup) -> int:
    return 1 + int(
        db.session.scalar(
            sa.select(sa.func.count()).where(
                Signup.activity_id == signup.activity_id,
                Signup.status == SignupStatus.WAITING,
                sa.tuple_(Signup.created_at, Signup.id) < sa.tuple_(signup.created_at, signup.id),
            )
        )
        or 0
    )


def _lock(activity: Activity) -> None:
    """Serialise sign-ups of one activity (PostgreSQL: a row lock until commit; SQLite: the write lock)."""
    db.session.execute(sa.update(Activity).where(Activity.id == activity.id).values(updated_at=Activity.updated_at))


def signup_state(activity: Activity, now: datetime) -> str | None:
    """Why sign-up is closed now, or None when it is open."""
    if activity.cancelled_at is not None:
        return _("This activity was cancelled.")
    if activity.signup_opens_at is not None and now < activity.signup_opens_at:
        return _("Sign-up opens on %(when)s.", when=local(activity.signup_opens_at).strftime("%Y-%m-%d %H:%M"))
    closes = activity.signup_closes_at or activity.starts_at
    if now >= closes:
        return _("Sign-up for this activity has closed.")
    return None


def sign_up(user: User, activity: Activity, *, now: datetime | None = None) -> Signup:
    """A place if one is free, otherwise the end of the waiting list."""
    now = now or utcnow()
    closed = signup_state(activity, now)
    if closed:
        raise ActivityError(closed)
    _lock(activity)
    existing = signup_of(user, activity)
    if existing is not None and existing.status is not SignupStatus.CANCELLED:
        raise ActivityError(
            _("You are already signed up for this activity.")
            if existing.status is SignupStatus.CONFIRMED
            else _("You are already on the waiting list for this activity.")
        )
    status = SignupStatus.CONFIRMED if places(activity).free > 0 else SignupStatus.WAITING
    if existing is None:
        existing = Signup(activity_id=activity.id, user_id=user.id, status=status, created_at=now, updated_at=now)
        db.session.add(existing)
    else:  # signing up again after cancelling: to the end of the list
        existing.status, existing.created_at, existing.updated_at, existing.reminded_at = status, now, now, None
    db.session.flush()
    return existing


def cancel_signup(user: User, activity: Activity, *, now: datetime | None = None) -> Signup:
    now = now or utcnow()
    signup = signup_of(user, activity)
    if signup is None or signup.status is SignupStatus.CANCELLED:
        raise ActivityError(_("You are not signed up for this activity."))
    if now >= activity.starts_at:
        raise ActivityError(_("The activity has started: a sign-up can no longer be cancelled."))
    _lock(activity)
    freed = signup.status is SignupStatus.CONFIRMED
    signup.status, signup.updated_at = SignupStatus.CANCELLED, now
    db.session.flush()
    if freed:
        _fill_from_waiting_list(activity, now)
    return signup


def _fill_from_waiting_list(activity: Activity, now: datetime) -> list[Signup]:
    """Give freed places to the waiting list, first come first served, and tell them."""
    free = places(activity).free
    if free <= 0:
        return []
    promoted = list(
        db.session.scalars(
            sa.select(Signup)
            .where(Signup.activity_id == activity.id, Signup.status == SignupStatus.WAITING)
            .order_by(Signup.created_at, Signup.id)
            .limit(free)
        )
    )
    for signup in promoted:
        signup.status, signup.updated_at = SignupStatus.CONFIRMED, now
    db.session.flush()
    _notify([s.user for s in promoted], "activity_place", activity)
    return promoted


def signups(activity: Activity) -> list[Signup]:
    return list(
        db.session.scalars(
            sa.select(Signup)
            .where(Signup.activity_id == activity.id)
            .order_by(Signup.status, Signup.created_at, Signup.id)
        )
    )


def my_activities(user: User) -> list[Signup]:
    return list(
        db.session.scalars(
            sa.select(Signup)
            .join(Activity, Activity.id == Signup.activity_id)
            .where(Signup.user_id == user.id, Signup.status != SignupStatus.CANCELLED)
            .order_by(Activity.starts_at.desc())
            .limit(100)
        )
    )


# --- No-shows ------------------------------------------------------------------------------------------------------


NO_SHOW_STREAK = 3


def no_show_streaks(user_ids: list[int], *, now: datetime | None = None) -> dict[int, int]:
    """For each person, how many of their latest past confirmed sign-ups in a row had no check-in."""
    now = now or utcnow()
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(Signup.user_id, Checkin.id)
        .join(Activity, Activity.id == Signup.activity_id)
        .outerjoin(Checkin, sa.and_(Checkin.activity_id == Signup.activity_id, Checkin.user_id == Signup.user_id))
        .where(
            Signup.user_id.in_(user_ids),
            Signup.status == SignupStatus.CONFIRMED,
            Activity.ends_at <= now,
            Activity.cancelled_at.is_(None),
        )
        .order_by(Signup.user_id, Activity.starts_at.desc())
    ).all()
    streaks: dict[int, int] = {}
    done: set[int] = set()
    for user_id, checkin_id in rows:
        if user_id in done:
            continue
        if checkin_id is None:
            streaks[user_id] = streaks.get(user_id, 0) + 1
        else:
            done.add(user_id)
    return streaks


def no_shows(activity: Activity, *, now: datetime | None = None) -> int:
    """Confirmed sign-ups without a check-in, once the activity is over."""
    now = now or utcnow()
    if activity.ends_at > now:
        return 0
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Signup)
            .outerjoin(Checkin, sa.and_(Checkin.activity_id == Signup.activity_id, Checkin.user_id == Signup.user_id))
            .where(Signup.activity_id == activity.id, Signup.status == SignupStatus.CONFIRMED, Checkin.id.is_(None))
        )
        or 0
    )


# --- Reminders and notifications -------------------------------------------------------------------------------


def _notify(users: list[User], kind: str, activity: Activity) -> None:
    from webapp.notifications import services as notifications

    when = local(activity.starts_at).strftime("%Y-%m-%d %H:%M")
    notifications.notify(users, kind, title=activity.title, when=when, place=activity.address, activity=activity.id)


def send_reminders(*, now: datetime | None = None) -> int:
    """Remind everyone with a place of the activities that start tomorrow (local time): a notification, and an
    SMS to those who asked for text messages. Each sign-up is reminded once, so running this often is safe."""
    now = now or utcnow()
    start = midnight(local_date(now) + timedelta(days=1))
    due = db.session.scalars(
        sa.select(Signup)
        .join(Activity, Activity.id == Signup.activity_id)
        .where(
            Activity.starts_at >= start,
            Activity.starts_at < start + timedelta(days=1),
            Activity.cancelled_at.is_(None),
            Signup.status == SignupStatus.CONFIRMED,
            Signup.reminded_at.is_(None),
        )
        .order_by(Signup.id)
    ).all()
    for signup in due:
        signup.reminded_at = now
        _notify([signup.user], "activity_reminder", signup.activity)
    db.session.flush()
    return len(due)


# --- Calendar file -------------------------------------------------------------------------------------------------


def _ics_text(value: str) -> str:
    value = _CONTROL.sub("", value)
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """RFC 5545 lines are at most 75 octets; longer ones continue on lines starting with a space."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 73:
            out.append(current)
            current = " "
        current += char
    out.append(current)
    return "\r\n".join(out)


def ics(activity: Activity, *, url: str, host: str, now: datetime | None = None) -> str:
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Citizen Grid//Activities//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:activity-{activity.id}@{host}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{activity.starts_at.strftime('%Y%m%dT%H%M%SZ')}",
        f"DTEND:{activity.ends_at.strftime('%Y%m%dT%H%M%SZ')}",
        f"SUMMARY:{_ics_text(activity.title)}",
        f"LOCATION:{_ics_text(activity.address)}",
        f"DESCRIPTION:{_ics_text(activity.description)}",
        f"URL:{url}",
        f"STATUS:{'CANCELLED' if activity.cancelled_at else 'CONFIRMED'}",
    ]
    if activity.has_pin:
        lines.append(f"GEO:{activity.lat:.6f};{activity.lon:.6f}")
    lines += [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER:-PT1H",
        f"DESCRIPTION:{_ics_text(activity.title)}",
        "END:VALARM",
    ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
