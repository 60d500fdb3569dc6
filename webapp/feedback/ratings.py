"""Ratings (回访): after a case is closed the resident who reported it rates the result; a dissatisfied rating
can reopen it for the reviewers to check again (the rating is weighed against the facts, not obeyed blindly)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.accounts.models import Role, User
from webapp.db import db
from webapp.errors import DomainError
from webapp.feedback.models import Rating
from webapp.notifications import services as notifications
from webapp.points import awards
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus
from webapp.review import workflow

COMMENT_MAX = 1000
REOPEN_AT_MOST = 2  # stars


class RatingError(DomainError):
    code = "invalid"


def rating_of(report: Report, user: User) -> Rating | None:
    return db.session.scalar(sa.select(Rating).where(Rating.report_id == report.id, Rating.user_id == user.id))


def can_rate(report: Report, user: User | None) -> bool:
    return (
        user is not None
        and report.reporter_id == user.id
        and report.handler_id != user.id  # nobody rates their own fix (a volunteer's report-and-fix)
        and report.status is ReportStatus.CLOSED
        and rating_of(report, user) is None
    )


def rate(report: Report, user: User, *, stars: int, comment: str = "", reopen: bool = False) -> Rating:
    if report.reporter_id != user.id:
        raise RatingError(_("Only the resident who reported this problem can rate it."))
    if report.handler_id == user.id:
        raise RatingError(_("You fixed this problem yourself, so it is not yours to rate."))
    if report.status is not ReportStatus.CLOSED:
        raise RatingError(_("A report can be rated once it is closed."))
    if rating_of(report, user) is not None:
        raise RatingError(_("You have already rated this report."))
    if not 1 <= stars <= 5:
        raise RatingError(_("Please choose from 1 to 5 stars."), field="stars")
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise RatingError(_("The comment is too long: at most %(n)d characters.", n=COMMENT_MAX), field="comment")
    if reopen and stars > REOPEN_AT_MOST:
        raise RatingError(_("Only a dissatisfied rating (1 or 2 stars) can reopen a case."), field="reopen")
    rating = Rating(report_id=report.id, user_id=user.id, stars=stars, comment=comment.strip(), reopened=reopen)
    db.session.add(rating)
    db.session.flush()
    awards.award_rating(report, user)
    if reopen:
        workflow.perform(report, "reopen", user, note=comment.strip() or _("Not fixed"))
        report.closed_at = None
        notifications.notify(notifications.staff(Role.REVIEWER), "reopened", report)
    return rating
