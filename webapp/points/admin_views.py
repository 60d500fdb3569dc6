"""Admin pages for points: rules, campaigns, store items and stock, the fund and its reconciliation, handing over."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("points_admin", __name__, url_prefix="/admin/points")
