"""The emergency plan (应急预案): urgent and critical cases and safety-critical categories alert the reviewer on
duty, the supervisors and the handling department's head at once, go to the top of every queue, show a red banner
to staff until someone acknowledges them, and show residents a safety notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import cache as static_cache
from webapp.accounts.models import Role, User
from webapp.db import db, flush_pending, utcnow
from webapp.errors import DomainError
from webapp.reports import taxonomy
from webapp.reports.models import Report
from webapp.reports.signals import report_submitted
from webapp.reports.status import OPEN_STATUSES
from webapp.review import workflow
from webapp.review.signals import emergency_reaches_department


def start(report: Report, actor: User | None, reason: str = "") -> None:
    """Start the plan, or, when it already runs, bring in the department the case has just been sent to.

    Who is alerted (the reviewer on duty, the supervisors, the department's head) is the notifications' business:
    they listen to the "emergency" step of the workflow and to ``emergency_reaches_department``."""
    if report.emergency:
        emergency_reaches_department.send(report)
        return
    report.emergency = True
    workflow.perform(report, "emergency", actor, note=reason)


def acknowledge(report: Report, user: User) -> None:
    if not report.emergency:
        raise DomainError(_("This case is not an emergency."))
    if report.emergency_acknowledged_at is not None:
        return
    report.emergency_acknowledged_at = utcnow()
    report.emergency_acknowledged_by_id = user.id
    workflow.perform(report, "acknowledge", user)  # the notifications clear the urgent banners about it


@dataclass(frozen=True)
class Banner:
    """An open emergency nobody has acknowledged, as the red banner names it (plain data: kept between requests)."""

    id: int
    category_code: str
    department_id: int | None
    created_at: datetime

    @property
    def category(self) -> taxonomy.CategoryInfo | None:
        return taxonomy.category_info(self.category_code)


@static_cache.cached("emergencies")
def _open_emergencies() -> tuple[Banner, ...]:
    """Every open emergency nobody has acknowledged (a handful at most), oldest first: a copy per process, bumped by
    any flush that changes what it holds of a report that is or was an emergency (below), so staff pages do not
    ask on every request."""
    rows = db.session.execute(
        sa.select(Report.id, Report.category_code, Report.department_id, Report.created_at)
        .where(
            Report.emergency.is_(True),
            Report.emergency_acknowledged_at.is_(None),
            Report.status.in_(OPEN_STATUSES),
        )
        .order_by(Report.created_at, Report.id)
    ).all()
    return tuple(Banner(*row) for row in rows)


# What the banner's copy holds of a report or selects it by: only a flush that changes one of these moves the
# shared counter (an emergency's events, photos and notes are written often, and every bump updates one row).
_BANNER_FIELDS = ("emergency", "emergency_acknowledged_at", "status", "category_code", "department_id")


def _changes_the_banner(report: Report) -> bool:
    state = sa.inspect(report)
    is_or_was = bool(state.dict.get("emergency", True)) or state.attrs.emergency.history.has_changes()
    if state.deleted:
        return is_or_was
    # An attribute that is not loaded was not changed either (setting it loads it).
    return is_or_was and any(state.attrs[field].history.has_changes() for field in _BANNER_FIELDS)


static_cache.bump_on_flush("emergencies", Report, when=_changes_the_banner)


def unacknowledged(user: User, limit: int = 5) -> list[Banner]:
    """The emergencies the red banner shows this staff member: every one to reviewers and supervisors, their own
    department's to department staff, nothing to anyone else."""
    if not user.role.is_staff:
        return []
    if user.role is Role.DEPARTMENT and user.department_id is None:
        return []  # not attached yet: no department's cases (unassigned ones included)
    flush_pending()  # the copy is read past the session
    found = _open_emergencies()
    if user.role is Role.DEPARTMENT:
        found = tuple(banner for banner in found if banner.department_id == user.department_id)
    return list(found[:limit])


def _on_report_submitted(report: Report, **_extra: Any) -> None:
    if report.category.safety_critical:
        start(report, None, _("Safety-critical category"))


def connect() -> None:
    report_submitted.connect(_on_report_submitted)
