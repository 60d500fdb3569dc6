"""A new campaign "from a hotspot": the supervisor dashboard links to the campaign form with the hotspot's grids,
categories and dates in the query (``grid``, ``category`` repeatable; ``start``, ``end`` as YYYY-MM-DD), and this
turns them into the form's first values. Bad arguments are left out and explained, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp.db import db
from webapp.extensions import list_of
from webapp.geo.models import Grid
from webapp.localtime import midnight
from webapp.points import rules
from webapp.points.campaigns import BUDGET_MAX, NAME_MAX, PLACE_MAX
from webapp.reports import taxonomy
from webapp.reports.models import Report

DEFAULT_DAYS = 30
DAYS_RANGE = (7, 92)  # a campaign modelled on a hotspot's window lasts at least a week, at most a quarter
DEFAULT_MULTIPLIER = 2
MAX_ARGS = 100


@dataclass
class Prefill:
    values: dict[str, Any] = field(default_factory=dict)  # form field name → first value
    problems: list[str] = field(default_factory=list)  # arguments left out, in words
    hotspot_reports: int | None = None  # reports of the hotspot in its window, when it had one

    @property
    def given(self) -> bool:
        return bool(self.values)


def _getlist(args: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if getlist else ([args[name]] if args.get(name) else [])
    values: list[str] = []
    for item in raw[:MAX_ARGS]:
        values.extend(part for part in str(item).replace(",", " ").split() if part)
    return list(dict.fromkeys(values))


def _grids(raw: list[str], problems: list[str]) -> list[Grid]:
    found: list[Grid] = []
    for code in raw:
        if not (code.isascii() and code.isdigit() and len(code) <= PLACE_MAX):
            problems.append(_("“%(code)s” is not a grid code: left out.", code=code[:20]))
            continue
        grids = list(
            db.session.scalars(
                sa.select(Grid)
                .where(Grid.code.startswith(code, autoescape=True), Grid.active)
                .order_by(Grid.code)
                .limit(2)
            )
        )
        if not grids:
            problems.append(_("There is no grid “%(code)s”: left out.", code=code))
            continue
        found.append(grids[0] if len(code) == 15 else Grid(code=code, street_name=grids[0].street_name))
    return found


def _date(raw: str, name: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        problems.append(
            _("“%(value)s” is not a date (YYYY-MM-DD): the %(name)s date was left out.", value=raw[:20], name=name)
        )
        return None


def from_hotspot(args: Mapping[str, Any], today: date) -> Prefill:
    """Form values for a campaign on the hotspot described by ``args``; empty when none of them is given."""
    result = Prefill()
    if not any(args.get(name) for name in ("grid", "category", "start", "end")):
        return result
    problems = result.problems
    grids = _grids(_getlist(args, "grid"), problems)
    categories = []
    for code in _getlist(args, "category"):
        if not (len(code) == 5 and code.isascii() and code.isdigit()) or taxonomy.get_category(code) is None:
            problems.append(_("There is no category “%(code)s”: left out.", code=code[:20]))
        else:
            categories.append(taxonomy.get_category(code))
    start = _date(args.get("start") or "", "start", problems)
    end = _date(args.get("end") or "", "end", problems)
    if start and end and end < start:
        problems.append(_("The hotspot's end date is before its start date: the dates were left out."))
        start = end = None

    # The campaign's days: the hotspot's own window if it is still ahead, otherwise as long as it, from today.
    if start and end and start >= today:
        starts_on, ends_on = start, end
    else:
        days = (end - start).days + 1 if start and end else DEFAULT_DAYS
        days = min(max(days, DAYS_RANGE[0]), DAYS_RANGE[1])
        starts_on, ends_on = today, today + timedelta(days=days - 1)

    # The budget: the bonus the hotspot's pace of reports would earn over the campaign's days, in hundreds.
    base = rules.effective()["report_points"]
    budget = 1000
    if grids and categories:
        window_start = start or (today - timedelta(days=DEFAULT_DAYS))
        window_end = end or today
        count = (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Report)
                .where(
                    Report.category_code.in_([c.code for c in categories]),
                    sa.or_(*(Report.grid_code.startswith(g.code, autoescape=True) for g in grids)),
                    Report.created_at >= midnight(window_start),
                    Report.created_at < midnight(window_end + timedelta(days=1)),
                )
            )
            or 0
        )
        result.hotspot_reports = count
        window_days = (window_end - window_start).days + 1
        expected = count * ((ends_on - starts_on).days + 1) / max(window_days, 1)
        budget = min(max(100, math.ceil(expected * base * (DEFAULT_MULTIPLIER - 1) / 100) * 100), BUDGET_MAX)

    what = list_of(c.name for c in categories[:3]) + ("…" if len(categories) > 3 else "")
    streets = list(dict.fromkeys(g.street_name for g in grids if g.street_name))
    where = list_of(streets[:2]) or (_("%(n)d grids", n=len(grids)) if grids else "")
    if what and where:
        name = _("Campaign on %(what)s in %(where)s", what=what, where=where)
    elif what:
        name = _("Campaign on %(what)s", what=what)
    else:
        name = ""
    description = ""
    if result.hotspot_reports is not None:
        description = _(
            "Started from a hotspot: %(n)d reports of these problems in this area from %(start)s to %(end)s.",
            n=result.hotspot_reports,
            start=(start or today - timedelta(days=DEFAULT_DAYS)).isoformat(),
            end=(end or today).isoformat(),
        )
    result.values = {
        "name": name[:NAME_MAX],
        "description": description,
        "categories": " ".join(c.code for c in categories),
        "places": " ".join(g.code for g in grids),
        "starts_on": starts_on,
        "ends_on": ends_on,
        "multiplier": DEFAULT_MULTIPLIER,
        "budget_points": budget,
    }
    return result
