"""Points admin: special campaigns (专项整治) that multiply the points of some categories and places."""

from __future__ import annotations

from flask import (
    Response,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp import localtime
from webapp.campaigns import prefill
from webapp.campaigns import services as campaign_pages
from webapp.errors import DomainError
from webapp.points import awards, campaigns
from webapp.points.admin.common import admins_only, bp, category_name, finish, refuse, render
from webapp.points.admin.forms import CAMPAIGN_STATUS_LABELS, CampaignForm


def _campaigns_page(form: CampaignForm, status: int = 200, hotspot: prefill.Prefill | None = None) -> Response:
    today = localtime.today()
    rows = [(c, campaigns.status(c, today), awards.campaign_spent(c)) for c in campaigns.all_campaigns()]
    return render(
        "points/admin/campaigns.html",
        status,
        section="campaigns",
        form=form,
        rows=rows,
        status_labels=CAMPAIGN_STATUS_LABELS,
        category_name=category_name,
        hotspot=hotspot,
        published=campaign_pages.published_ids(),
    )


@bp.get("/campaigns")
@admins_only
def campaigns_page() -> Response:
    form = CampaignForm()
    form.starts_on.data = localtime.today()
    # "From a hotspot": the dashboard links here with grid=…&category=…&start=…&end=… to fill the form in.
    hotspot = prefill.from_hotspot(request.args, localtime.today())
    for name, value in hotspot.values.items():
        getattr(form, name).data = value
    return _campaigns_page(form, 400 if hotspot.problems else 200, hotspot)


@bp.post("/campaigns")
@admins_only
def create_campaign() -> Response:
    form = CampaignForm()
    if not form.validate():
        return _campaigns_page(form, 422)
    try:
        campaign = campaigns.create_campaign(
            current_user,
            name=form.name.data or "",
            description=form.description.data or "",
            categories=form.categories.data or "",
            places=form.places.data or "",
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            multiplier=form.multiplier.data,
            budget_points=form.budget_points.data,
        )
        if form.published.data:
            campaign_pages.set_published(current_user, campaign, True)
    except DomainError as error:
        return _campaigns_page(form, refuse(form, error))
    return finish(_("Campaign “%(name)s” created.", name=campaign.name), url_for("points_admin.campaigns_page"))
