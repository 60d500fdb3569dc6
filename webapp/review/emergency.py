"""The emergency plan (应急预案): urgent and critical cases and safety-critical categories alert the reviewer on
duty, the supervisors and the handling department's head at once, go to the top of every queue, show a red banner
to staff until someone acknowledges them, and show residents a safety notice."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.errors import DomainError
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


def unacknowledged(user: User) -> list[Report]:
    """The emergencies the red banner shows this staff member."""
    if not user.role.is_staff:
        return []
    stmt = sa.select(Report).where(
        Report.emergency.is_(True),
        Report.emergency_acknowledged_at.is_(None),
        Report.status.in_(OPEN_STATUSES),
    )
    if user.role is Role.DEPARTMENT:
        if user.department_id is None:  # `== None` would match every case not yet dispatched
            return []
        stmt = stmt.where(Report.department_id == user.department_id)
    return list(db.session.scalars(stmt.order_by(Report.created_at).limit(5)))


def _on_report_submitted(report: Report, **_extra: Any) -> None:
    if report.category.safety_critical:
        start(report, None, _("Safety-critical category"))


def connect() -> None:
    report_submitted.connect(_on_report_submitted)
