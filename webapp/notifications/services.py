"""Notifications: one row per person and message, shown in the notification centre in the reader's language.

Urgent notifications (emergencies, escalations) are also sent by SMS to staff through the app's SmsSender
(webapp.accounts.sms), and residents who ask for it in their profile get their reports' news by SMS too. Accounts
are made with a phone number, so there is no e-mail channel; one would plug in next to _send_sms.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale, get_locale

from webapp.accounts import sessions
from webapp.accounts.models import Role, User
from webapp.accounts.sms import notice_message, queue_sms
from webapp.db import db, utcnow
from webapp.extensions import lazy_gettext as _l
from webapp.notifications.models import Notification
from webapp.reports.models import Report, ReportEvent, ReportFollower
from webapp.reports.privacy import view
from webapp.reports.signals import report_opened
from webapp.reports.status import ReportStatus
from webapp.review.signals import case_event, emergency_reaches_department

log = logging.getLogger(__name__)

# Message templates by kind. Parameters are filled in when the message is shown.
MESSAGES: dict[str, Any] = {
    "status": _l("Your report #%(id)s: %(status)s."),
    "followed_status": _l("A report you follow, #%(id)s (%(category)s, %(place)s): %(status)s."),
    "merged": _l("Report #%(id)s was merged into #%(original)s, which is about the same problem: follow it there."),
    "dispatched": _l("New case #%(id)s for your department: %(category)s."),
    "emergency": _l("EMERGENCY: case #%(id)s, %(category)s, %(place)s. Please act now."),
    "escalated": _l("Case #%(id)s is overdue and has been escalated: %(category)s."),
    "extension_requested": _l("Case #%(id)s: the department asks for more time."),
    "reopened": _l("Case #%(id)s was reopened by the resident who reported it."),
    "returned": _l("Case #%(id)s was returned by the department; please decide who handles it."),
    "points_expiring": _l("%(points)s of your points expire on %(date)s. Use them in the points store before then."),
    "points_awarded": _l("You earned %(points)s points: %(what)s."),
    "daily_cap": _l(
        "Your report #%(id)s was opened, but today's report points have reached the limit (%(cap)s valid reports a "
        "day earn points). Reports tomorrow earn points again."
    ),
    "feedback_reply": _l("There is a reply to your feedback %(ref)s."),
    "feedback_adopted": _l("Your feedback %(ref)s was adopted. Thank you!"),
    "activity_reminder": _l("Reminder: “%(title)s” starts tomorrow, %(when)s, at %(place)s."),
    "activity_place": _l("A place has become free for you: “%(title)s”, %(when)s, at %(place)s."),
    "activity_cancelled": _l("The activity “%(title)s” on %(when)s has been cancelled."),
}
# The same messages for a reader who may not see the report's place (privacy.view), or when it has none.
WITHOUT_PLACE: dict[str, Any] = {
    "followed_status": _l("A report you follow, #%(id)s (%(category)s): %(status)s."),
    "emergency": _l("EMERGENCY: case #%(id)s, %(category)s. Please act now."),
}


def notify(
    users: Iterable[User], kind: str, report: Report | None = None, *, urgent: bool = False, **params: Any
) -> list[Notification]:
    """Store a notification for each user (once per user). Also by SMS: urgent ones to staff, and everything to
    residents who asked for text messages in their profile. What a message says of ``report`` is made per reader
    by ``about`` and overrides any parameter of the same name."""
    created = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen or not user.active:
            continue
        seen.add(user.id)
        values = params if report is None else {**params, **about(report, user)}
        notification = Notification(
            user=user, report=report, kind=kind, params_json=json.dumps(values, ensure_ascii=False), urgent=urgent
        )
        db.session.add(notification)
        created.append(notification)
        if (urgent and user.role.is_staff) or (user.notify_by_sms and not user.role.is_staff):
            _send_sms(user, notification)
    db.session.flush()
    sessions.forget_loaded_with(BADGE)
    return created


def about(report: Report, reader: User) -> dict[str, Any]:
    """What a message to ``reader`` may say of ``report``: its number, its category (both names: the reader's
    language is known when it is shown) and the place only as privacy.view() lets this reader see it — a follower
    of a sensitive or not yet reviewed report gets no place. Kept with the message, as an SMS is."""
    seen = view(report, reader)
    category = report.category
    facts: dict[str, Any] = {"id": report.id, "category": category.name_zh, "category_en": category.name_en}
    place = seen.address or (f"{seen.lat:.5f}, {seen.lon:.5f}" if seen.full and seen.lat is not None else "")
    if place:
        facts["place"] = place
    return facts


def _send_sms(user: User, notification: Notification) -> None:
    """Queued: sent after the change that caused it commits; a failed SMS never undoes it (the in-app message
    remains)."""
    queue_sms(notice_message(user.phone, text(notification, english=False)))


# The steps a resident who asked for "only when it is fixed or needs me" still hears about.
IMPORTANT_STATUSES = frozenset({ReportStatus.CLOSED, ReportStatus.REJECTED})


def _wants(user: User | None, status: ReportStatus) -> bool:
    return user is not None and (status in IMPORTANT_STATUSES or not user.notify_only_important)


def status_changed(report: Report, event: ReportEvent) -> None:
    """Tell the reporter and the residents following the report that it moved on (a merged duplicate: where to)."""
    status = event.to_status.value
    merged = event.to_status is ReportStatus.REJECTED and report.duplicate_of_id is not None
    extra = {"original": report.duplicate_of_id} if merged else {}
    if (
        report.reporter is not None
        and report.reporter_id != event.actor_id
        and _wants(report.reporter, event.to_status)
    ):
        notify([report.reporter], "merged" if merged else "status", report, status=status, **extra)
    followers = db.session.scalars(
        sa.select(User)
        .join(ReportFollower, ReportFollower.user_id == User.id)
        .where(ReportFollower.report_id == report.id, User.id != event.actor_id)
    )
    wanted = [user for user in followers if _wants(user, event.to_status)]
    notify(wanted, "merged" if merged else "followed_status", report, status=status, **extra)


def staff(*roles: Role, department_id: int | None = None, heads_only: bool = False) -> list[User]:
    stmt = sa.select(User).where(User.role.in_(roles), User.active.is_(True))
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if heads_only:
        stmt = stmt.where(User.is_department_head.is_(True))
    return list(db.session.scalars(stmt))


def text(notification: Notification, *, english: bool | None = None) -> str:
    """The message in the reader's language (``english=False`` forces Chinese, e.g. for an SMS)."""
    if english is False:
        with force_locale("zh_Hans_CN"):
            return text(notification)
    params = _Params(notification.params)
    if params.get("category_en") and str(get_locale() or "").startswith("en"):
        params["category"] = params["category_en"]
    if params.get("status") in ReportStatus.__members__.values():
        params["status"] = ReportStatus(params["status"]).label
    message = MESSAGES.get(notification.kind, _l("Case #%(id)s changed."))
    if not params.get("place"):
        message = WITHOUT_PLACE.get(notification.kind, message)
    return str(message) % params


class _Params(dict):  # type: ignore[type-arg]
    """Missing parameters show as empty rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def unread_count(user: User) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def _unread_entries_of(user_id: Any) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count(sa.distinct(sa.func.coalesce(Notification.report_id, -Notification.id))))
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def unread_entries(user: User) -> int:
    """What the menu's badge counts: reports with news (one per report, however many steps) and other messages."""
    return db.session.scalar(sa.select(_unread_entries_of(user.id))) or 0


def badge(user: User) -> int:
    """``unread_entries`` for the layout: the figure read with the user at the start of the request (one statement
    less on every logged-in page), unless notifications changed since."""
    loaded = sessions.loaded_with(user, BADGE)
    return int(loaded) if loaded is not None else unread_entries(user)


BADGE = "unread_notifications"


@dataclass(frozen=True)
class Entry:
    """One line of the notification centre: the latest message about a report (or a message about no report),
    how many messages it stands for, and whether any of them is unread or urgent."""

    latest: Notification
    count: int
    unread: bool
    urgent: bool


def grouped(user: User, limit: int = 50, scan: int = 500) -> list[Entry]:
    """The notification centre: one entry per report with its latest state, newest first."""
    entries: dict[object, list[Notification]] = {}
    for notification in recent(user, limit=scan):
        key = notification.report_id if notification.report_id is not None else ("message", notification.id)
        entries.setdefault(key, []).append(notification)
    return [
        Entry(
            latest=items[0],
            count=len(items),
            unread=any(n.read_at is None for n in items),
            urgent=any(n.urgent for n in items),
        )
        for items in list(entries.values())[:limit]
    ]


def recent(user: User, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user: User) -> int:
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    db.session.flush()
    sessions.forget_loaded_with(BADGE)
    return result.rowcount or 0


def mark_read_for_report(user: User, report: Report) -> int:
    """Opening a report's page reads the news about it: its unread notifications to ``user`` are marked read.
    Looked up first, so the usual visit with nothing unread writes nothing (no write lock on SQLite)."""
    unread = list(
        db.session.scalars(
            sa.select(Notification.id).where(
                Notification.user_id == user.id, Notification.read_at.is_(None), Notification.report_id == report.id
            )
        )
    )
    if unread:
        db.session.execute(sa.update(Notification).where(Notification.id.in_(unread)).values(read_at=utcnow()))
        db.session.flush()
        sessions.forget_loaded_with(BADGE)
    return len(unread)


def on_report_opened(report: Report, *, viewer: User, **_extra: Any) -> bool:
    return mark_read_for_report(viewer, report) > 0


def acknowledge_for_report(report: Report) -> None:
    """An emergency acknowledged by anyone clears the urgent banners about it for everyone."""
    db.session.execute(
        sa.update(Notification)
        .where(
            Notification.report_id == report.id, Notification.urgent.is_(True), Notification.acknowledged_at.is_(None)
        )
        .values(acknowledged_at=utcnow())
    )
    db.session.flush()


# --- Case events: who is told about a step of a case ------------------------------------------------------------
# The workflow announces each step (webapp.review.signals); it does not know who listens.


def reviewers_on_duty() -> list[User]:
    """Reviewers marked on duty (值班); everyone who reviews when nobody is."""
    reviewers = staff(Role.REVIEWER)
    return [u for u in reviewers if u.on_duty] or reviewers


def _department_heads(report: Report) -> list[User]:
    if report.department_id is None:
        return []
    return staff(Role.DEPARTMENT, department_id=report.department_id, heads_only=True)


def on_case_event(report: Report, *, event: ReportEvent, from_status: ReportStatus, **_extra: Any) -> None:
    if report.status is not from_status:
        status_changed(report, event)
    if event.action in ("dispatch", "rework"):  # the case is (again) the department's to handle
        notify(staff(Role.DEPARTMENT, department_id=report.department_id), "dispatched", report)
    elif event.action == "escalate":
        notify(staff(Role.ADMIN) + _department_heads(report), "escalated", report, urgent=True)
    elif event.action == "emergency":
        people = reviewers_on_duty() + staff(Role.ADMIN) + _department_heads(report)
        notify(people, "emergency", report, urgent=True)
    elif event.action == "acknowledge":
        acknowledge_for_report(report)


def on_emergency_reaches_department(report: Report, **_extra: Any) -> None:
    notify(_department_heads(report), "emergency", report, urgent=True)


def connect() -> None:
    """Listen to the workflow's case events and to reports being opened (called once by the application
    factory)."""
    case_event.connect(on_case_event)
    emergency_reaches_department.connect(on_emergency_reaches_department)
    report_opened.connect(on_report_opened)
    sessions.load_with_user(BADGE, lambda: _unread_entries_of(User.id))
