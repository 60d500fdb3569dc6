"""Public campaign pages (anyone), and publishing a campaign's page (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.campaigns import services
from webapp.db import db
from webapp.points import campaigns as points_campaigns
from webapp.points.models import Campaign
from webapp.rendering import is_fragment_request, page_or_fragment
from webapp.reports import privacy, taxonomy

bp = Blueprint("campaigns", __name__)
CASES_PER_PAGE = 10


@bp.app_template_global()
def current_campaigns(limit: int = 3) -> list[Campaign]:
    """Published campaigns running today (home page, report form)."""
    return services.current_public(limit=limit)


@bp.app_template_global()
def campaign_categories(campaign: Campaign) -> list[str]:
    names = []
    for code in campaign.categories:
        category = taxonomy.active_category(code)
        names.append(category.name if category else code)
    return names


@bp.get("/campaigns")
def index() -> str:
    return render_template("campaigns/index.html", listing=services.public_campaigns())


def _detail_context(campaign: Campaign) -> dict[str, Any]:
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    return {
        "campaign": campaign,
        "state": points_campaigns.status(campaign),
        "categories": campaign_categories(campaign),
        "result": services.cases(campaign, page, CASES_PER_PAGE),
        "cell_m": privacy.CELL_M,
    }


@bp.get("/campaigns/<id:campaign_id>")
def detail(campaign_id: int) -> Response:
    campaign = services.get_public(campaign_id)
    context = _detail_context(campaign)
    if not is_fragment_request():  # the counts and the area are only on the full page
        context.update(progress=services.public_progress(campaign), area=services.public_area(campaign))
    return page_or_fragment("campaigns/detail.html", "campaigns/_cases.html", **context)


@bp.post("/admin/campaigns/<id:campaign_id>/publish")
@roles_required(Role.ADMIN)
def publish(campaign_id: int) -> Response:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    published = request.form.get("published") == "1"
    services.set_published(current_user, campaign, published)
    db.session.commit()
    if published:
        flash(_("The page of “%(name)s” is public now.", name=campaign.name), "success")
    else:
        flash(_("The page of “%(name)s” is hidden from the public now.", name=campaign.name), "success")
    return redirect(url_for("points_admin.campaigns_page"), 303)
