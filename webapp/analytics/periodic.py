"""Weekly and monthly summaries (周期性汇报), compared with the period before.

Unlike the dashboard (which follows the reports received in a range), a summary counts what happened in the
period: reports received, cases opened (立案) and closed in it, the on-time rate of the cases closed in it, the
ratings given and the points issued and redeemed in it. Each figure is one indexed query over a week or a month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import localtime
from webapp.analytics import queries
from webapp.analytics.queries import BadFilter, CountRow
from webapp.db import db
from webapp.feedback.models import Rating
from webapp.geo.models import Grid
from webapp.localtime import Period, PeriodKind, current_period, parse_month, parse_week
from webapp.reports.models import Category, Report
from webapp.reports.status import ReportStatus

TOP = 5


def parse_period(kind: str, raw: str | None) -> Period:
    """2026-W48 or 2026-11; nothing: the last complete week or month."""
    today = localtime.today()
    if kind == "weekly":
        if not raw:
            return current_period(PeriodKind.WEEK, today).previous()
        try:
            return parse_week(raw)
        except ValueError:
            raise BadFilter(_("A week looks like 2026-W48 (year, W, week number 1–53).")) from None
    if kind == "monthly":
        if not raw:
            return current_period(PeriodKind.MONTH, today).previous()
        try:
            return parse_month(raw)
        except ValueError:
            raise BadFilter(_("A month looks like 2026-11 (year and month).")) from None
    raise BadFilter(_("Choose a weekly or a monthly report."))


@dataclass
class Figures:
    received: int
    accepted: int
    closed: int
    closed_due: int
    on_time: int
    ratings: int
    stars: int
    points_issued: int
    points_redeemed: int

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.closed_due if self.closed_due else None

    @property
    def satisfaction(self) -> float | None:
        return self.stars / self.ratings if self.ratings else None


def figures(period: Period) -> Figures:
    start, end = period.bounds

    def count(*conditions: Any) -> int:
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(Report).where(*conditions)) or 0)

    closed_in = [Report.closed_at >= start, Report.closed_at < end, Report.status == ReportStatus.CLOSED]
    rating = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Rating.stars), 0)).where(
            Rating.created_at >= start, Rating.created_at < end
        )
    ).one()
    issued, redeemed = queries.points_moved(start, end)
    return Figures(
        received=count(Report.created_at >= start, Report.created_at < end),
        accepted=count(Report.accepted_at >= start, Report.accepted_at < end),
        closed=count(*closed_in),
        closed_due=count(*closed_in, Report.due_at.is_not(None)),
        on_time=count(*closed_in, Report.due_at.is_not(None), Report.closed_at <= Report.due_at),
        ratings=int(rating[0]),
        stars=int(rating[1]),
        points_issued=issued,
        points_redeemed=redeemed,
    )


def _top(period: Period, column: Any, model: Any, key: Any) -> list[CountRow]:
    start, end = period.bounds
    n = sa.func.count().label("n")
    rows = db.session.execute(
        sa.select(column, n)
        .where(Report.created_at >= start, Report.created_at < end, column.is_not(None))
        .group_by(column)
        .order_by(n.desc(), column)
        .limit(TOP)
    ).all()
    names = {}
    if rows:
        for obj in db.session.scalars(sa.select(model).where(key.in_([r[0] for r in rows]))):
            names[getattr(obj, key.key)] = obj.label if model is Grid else obj.name
    return [CountRow(code, names.get(code, code), int(count)) for code, count in rows]


@dataclass
class Summary:
    period: Period
    previous: Period
    current: Figures
    before: Figures
    top_categories: list[CountRow]
    top_places: list[CountRow]

    def lines(self) -> list[tuple[str, str, str, str]]:
        """(label, this period, previous period, change) for the page, the CSV and the command."""

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{100 * value:.1f} %"

        def stars(value: float | None) -> str:
            return "—" if value is None else f"{value:.2f}"

        def change(now: float | None, then: float | None, unit: str = "") -> str:
            if now is None or then is None:
                return "—"
            delta = now - then
            return f"{delta:+.1f}{unit}" if unit else f"{delta:+,.0f}"

        c, b = self.current, self.before
        rate_now = None if c.on_time_rate is None else 100 * c.on_time_rate
        rate_then = None if b.on_time_rate is None else 100 * b.on_time_rate
        return [
            (_("Reports received"), f"{c.received:,}", f"{b.received:,}", change(c.received, b.received)),
            (_("Cases opened"), f"{c.accepted:,}", f"{b.accepted:,}", change(c.accepted, b.accepted)),
            (_("Cases closed"), f"{c.closed:,}", f"{b.closed:,}", change(c.closed, b.closed)),
            (_("On-time rate"), pct(c.on_time_rate), pct(b.on_time_rate), change(rate_now, rate_then, " pp")),
            (_("Ratings given"), f"{c.ratings:,}", f"{b.ratings:,}", change(c.ratings, b.ratings)),
            (
                _("Satisfaction (average stars)"),
                stars(c.satisfaction),
                stars(b.satisfaction),
                change(c.satisfaction, b.satisfaction, " ★"),
            ),
            (
                _("Points issued"),
                f"{c.points_issued:,}",
                f"{b.points_issued:,}",
                change(c.points_issued, b.points_issued),
            ),
            (
                _("Points redeemed"),
                f"{c.points_redeemed:,}",
                f"{b.points_redeemed:,}",
                change(c.points_redeemed, b.points_redeemed),
            ),
        ]


def summary(period: Period) -> Summary:
    previous = period.previous()
    return Summary(
        period=period,
        previous=previous,
        current=figures(period),
        before=figures(previous),
        top_categories=_top(period, Report.category_code, Category, Category.code),
        top_places=_top(period, Report.grid_code, Grid, Grid.code),
    )


def csv_rows(result: Summary) -> tuple[list[str], list[list[Any]]]:
    header = [_("Figure"), result.period.key, result.previous.key, _("Difference")]
    rows: list[list[Any]] = [list(line) for line in result.lines()]
    for index, row in enumerate(result.top_categories, 1):
        rows.append([_("Top category %(n)d", n=index), f"{row.label} ({row.code})", row.count, ""])
    for index, row in enumerate(result.top_places, 1):
        rows.append([_("Top place %(n)d", n=index), f"{row.label} ({row.code})", row.count, ""])
    return header, rows
