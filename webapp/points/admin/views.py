"""Admin pages for points: rules, campaigns, store items and stock, the fund and its reconciliation.

Every page is for supervisors (admins); handing over (核销) has its own pages in ``points/handover``. Views stay
thin: they read the form, call one service, commit and redirect (303); a refused form is shown again with the
message next to the field and the status of the refusal (422 for invalid values). Services write the fund's
audit log (``store.audit``). This module holds the overview; the blueprint's other routes are in the modules
next to it, imported at the end so they register on the blueprint."""

from __future__ import annotations

from flask import (
    Response,
)

from webapp import localtime
from webapp.points import campaigns, catalogue, rules, store
from webapp.points.admin.common import admins_only, bp, render


@bp.get("/")
@admins_only
def index() -> Response:
    today = localtime.today()
    all_campaigns = campaigns.all_campaigns()
    items = catalogue.all_items()
    return render(
        "points/admin/index.html",
        section="index",
        current=rules.effective(),
        active_campaigns=[c for c in all_campaigns if campaigns.status(c, today) == "active"],
        low_stock=[i for i in items if i.active and i.stock < 5],
        waiting=len(store.waiting_orders()),
    )


# The blueprint's other routes register on it when their modules are imported.
from webapp.points.admin import campaigns as campaign_pages  # noqa: E402,F401
from webapp.points.admin import fund as fund_pages  # noqa: E402,F401
from webapp.points.admin import items as item_pages  # noqa: E402,F401
from webapp.points.admin import reversals as reversal_pages  # noqa: E402,F401
from webapp.points.admin import rules as rules_pages  # noqa: E402,F401
