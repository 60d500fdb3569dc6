"""Who handles a case: the routing table (category × place → department) with the local fallbacks."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.accounts.models import Department
from webapp.db import db
from webapp.geo.models import Grid
from webapp.reports.models import Category
from webapp.review.models import RoutingRule


def _specificity(rule: RoutingRule) -> tuple[int, int]:
    """Higher is more specific: what a rule names (category over group), then where (grid > street > district)."""
    what = 2 if rule.category_code else 1 if rule.group_code else 0
    where = 3 if rule.grid_code else 2 if rule.street_code else 1 if rule.district_code else 0
    return what, where


def route(category: Category, grid: Grid | None) -> Department | None:
    """The department for ``category`` at ``grid`` (None when the place is outside every grid).

    Order: the most specific routing rule that matches; then the grid's own owner (属地); then the district's
    fallback department (兜底); then any fallback department.
    """
    place = sa.and_(
        sa.or_(RoutingRule.grid_code.is_(None), RoutingRule.grid_code == (grid.code if grid else None)),
        sa.or_(RoutingRule.street_code.is_(None), RoutingRule.street_code == (grid.street_code if grid else None)),
        sa.or_(
            RoutingRule.district_code.is_(None), RoutingRule.district_code == (grid.district_code if grid else None)
        ),
    )
    what = sa.or_(
        RoutingRule.category_code == category.code,
        sa.and_(RoutingRule.category_code.is_(None), RoutingRule.group_code == category.group_code),
        sa.and_(RoutingRule.category_code.is_(None), RoutingRule.group_code.is_(None)),
    )
    rules = db.session.scalars(
        sa.select(RoutingRule).join(RoutingRule.department).where(place, what, Department.active)
    )
    # Equally specific rules: the oldest wins, so the answer never depends on the database's row order.
    best = max(rules, key=lambda rule: (*_specificity(rule), -rule.id), default=None)
    if best is not None:
        return best.department
    if grid is not None and grid.department is not None and grid.department.active:
        return grid.department
    fallbacks = sa.select(Department).where(Department.fallback_for_district, Department.active)
    if grid is not None:
        local = db.session.scalar(
            fallbacks.where(Department.district_code == grid.district_code).order_by(Department.id).limit(1)
        )
        if local is not None:
            return local
    return db.session.scalar(fallbacks.order_by(Department.id).limit(1))
