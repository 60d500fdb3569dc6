"""Ratings (回访): only the reporter, only once the case is closed, once, 1–5 stars; a dissatisfied rating (at most
two stars) can reopen the case for the reviewers to check again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_babel import gettext

from tests.factories import make_user
from tests.unit.cases import events_of, make_case, make_department, make_staff, notifications_of
from webapp.accounts.models import Role
from webapp.db import db
from webapp.feedback import ratings as rating_service
from webapp.feedback.models import Rating
from webapp.feedback.ratings import RatingError
from webapp.reports import services as reports
from webapp.reports.status import ReportStatus
from webapp.review import services as review

S = ReportStatus


def closed_case(reporter):  # type: ignore[no-untyped-def]
    return make_case(reporter, status=S.CLOSED, department_id=make_department().id)


def ratings() -> list[Rating]:
    return list(db.session.scalars(sa.select(Rating)))


def test_the_reporter_rates_a_closed_case_once(ctx):
    reporter = make_user()
    report = closed_case(reporter)
    assert rating_service.can_rate(report, reporter)
    rating = rating_service.rate(report, reporter, stars=4, comment="  处理很快  ")
    assert (rating.report_id, rating.user_id, rating.stars, rating.comment, rating.reopened) == (
        report.id,
        reporter.id,
        4,
        "处理很快",
        False,
    )
    assert rating_service.rating_of(report, reporter) is rating
    assert report.status is S.CLOSED and [e.action for e in events_of(report)] == ["submit"]
    assert not rating_service.can_rate(report, reporter)
    with pytest.raises(RatingError) as again:
        rating_service.rate(report, reporter, stars=5)
    assert str(again.value.message) == gettext("You have already rated this report.")
    assert ratings() == [rating]


def test_only_the_reporter_may_rate(ctx):
    reporter, follower = make_user(), make_user()
    report = closed_case(reporter)
    reports.follow(follower, report)
    for someone in (follower, make_staff(Role.REVIEWER)):
        assert not rating_service.can_rate(report, someone)
        with pytest.raises(RatingError):
            rating_service.rate(report, someone, stars=5)
    assert not rating_service.can_rate(report, None)
    assert not rating_service.can_rate(closed_case(None), reporter)
    assert ratings() == []


@pytest.mark.parametrize("status", sorted(set(S) - {S.CLOSED}))
def test_only_a_closed_case_can_be_rated(ctx, status):
    reporter = make_user()
    report = make_case(reporter, status=status)
    assert not rating_service.can_rate(report, reporter)
    with pytest.raises(RatingError) as refused:
        rating_service.rate(report, reporter, stars=3)
    assert str(refused.value.message) == gettext("A report can be rated once it is closed.")
    assert ratings() == []


@pytest.mark.parametrize("stars", [0, 6, -1, 100])
def test_stars_are_one_to_five(ctx, stars):
    reporter = make_user()
    with pytest.raises(RatingError) as refused:
        rating_service.rate(closed_case(reporter), reporter, stars=stars)
    assert refused.value.field == "stars"
    assert ratings() == []


def test_a_comment_has_a_maximum_length(ctx):
    reporter = make_user()
    report = closed_case(reporter)
    with pytest.raises(RatingError) as refused:
        rating_service.rate(report, reporter, stars=2, comment="差" * (rating_service.COMMENT_MAX + 1))
    assert refused.value.field == "comment"
    rating_service.rate(report, reporter, stars=2, comment="差" * rating_service.COMMENT_MAX)
    assert len(ratings()) == 1


@pytest.mark.parametrize("stars", [3, 4, 5])
def test_only_a_dissatisfied_rating_reopens(ctx, stars):
    reporter = make_user()
    report = closed_case(reporter)
    with pytest.raises(RatingError) as refused:
        rating_service.rate(report, reporter, stars=stars, reopen=True)
    assert refused.value.field == "reopen"
    assert report.status is S.CLOSED and ratings() == []


@pytest.mark.parametrize("stars", [1, 2])
def test_a_dissatisfied_rating_reopens_the_case_for_checking(ctx, stars):
    reporter, follower = make_user(), make_user()
    reviewers = [make_staff(Role.REVIEWER), make_staff(Role.REVIEWER)]
    admin = make_staff(Role.ADMIN)
    report = closed_case(reporter)
    reports.follow(follower, report)
    rating = rating_service.rate(report, reporter, stars=stars, comment=" 根本没修 ", reopen=True)
    assert rating.reopened and rating.stars == stars
    assert report.status is S.AWAITING_CHECK
    event = events_of(report)[-1]
    assert (event.action, event.from_status, event.to_status, event.actor_id, event.note) == (
        "reopen",
        S.CLOSED,
        S.AWAITING_CHECK,
        reporter.id,
        "根本没修",
    )
    for reviewer in reviewers:
        assert [n.kind for n in notifications_of(reviewer)] == ["reopened"]
    assert notifications_of(admin) == []
    assert notifications_of(reporter) == []  # they did it themselves
    assert [n.params["status"] for n in notifications_of(follower)] == ["awaiting_check"]
    assert review.queue("check").items == [report]
    # The reviewers check again; the case can be closed again but not rated twice.
    review.close(report, reviewers[0], "复核已整改")
    assert report.status is S.CLOSED and not rating_service.can_rate(report, reporter)


def test_a_reopening_without_a_comment_says_not_fixed(ctx):
    reporter = make_user()
    report = closed_case(reporter)
    rating_service.rate(report, reporter, stars=1, reopen=True)
    assert events_of(report)[-1].note == gettext("Not fixed")


def test_a_low_rating_without_reopening_keeps_the_case_closed(ctx):
    reporter = make_user()
    report = closed_case(reporter)
    rating = rating_service.rate(report, reporter, stars=1)
    assert not rating.reopened and report.status is S.CLOSED
