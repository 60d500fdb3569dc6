"""/admin/monitoring: system health, error counts and participation over time (admins only)."""

from __future__ import annotations

from flask import Blueprint, Response

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.monitoring import services
from webapp.rendering import is_fragment_request, page_or_fragment

bp = Blueprint("monitoring", __name__, url_prefix="/admin/monitoring")


@bp.get("")
@roles_required(Role.ADMIN)
def index() -> Response:
    """The whole page; an htmx request ("Check again") gets the health and error panel only."""
    context: dict[str, object] = {"health": services.health(), "errors": services.errors()}
    if not is_fragment_request():  # the panel alone does not need the 30-day queries
        participation = services.participation()
        context.update(participation=participation, chart=services.chart(participation))
    response = page_or_fragment("monitoring/index.html", "monitoring/_health.html", **context)
    response.headers["Cache-Control"] = "no-store"
    return response
