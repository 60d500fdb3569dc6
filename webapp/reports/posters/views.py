"""QR posters: the admin pages (list, create, print) and the public ``/p/<code>`` a poster's QR code opens."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.db import db
from webapp.rendering import print_page
from webapp.reports.forms import PosterForm
from webapp.reports.models import Poster, PosterKind
from webapp.reports.posters import services as posters

bp = Blueprint("posters", __name__)

PRINT_SIZES = ("a4", "sticker")


def poster_url(poster: Poster) -> str:
    """The absolute URL the QR code holds (set SERVER_NAME/PREFERRED_URL_SCHEME when printing behind a proxy)."""
    return url_for("posters.scan", code=poster.code, _external=True)


# A visit: scanning the same poster again within this time on the same phone counts once (a resident who scans,
# goes back and scans again, or whose browser reloads the page, is one scan).
SCAN_VISIT_SECONDS = 30 * 60


def _scan_cookie(poster: Poster) -> str:
    return f"cg_scan_{poster.code}"


@bp.get("/p/<code>")
def scan(code: str) -> Response:
    """A scanned poster: count the scan, then open the report form with the poster's place filled in.

    Counted once per visit (a cookie scoped to this poster's URL, holding nothing but "1", for 30 minutes); not
    counted for HEAD requests, prefetches and link-preview bots (chat apps fetch a shared link to draw a card)."""
    poster = posters.find_by_code(code)
    if poster is None:
        abort(404)
    cookie = _scan_cookie(poster)
    counted = (
        request.method == "GET"
        and request.cookies.get(cookie) is None
        and not posters.is_automated(
            request.user_agent.string,
            request.headers.get("Sec-Purpose") or request.headers.get("Purpose") or request.headers.get("X-Moz"),
        )
    )
    if counted:
        posters.record_scan(poster)
        db.session.commit()
    response = redirect(url_for("reports.new", **posters.report_form_args(poster)), 302)
    response.headers["Cache-Control"] = "no-store"  # every scan must reach us to be counted
    if counted:
        response.set_cookie(
            cookie,
            "1",
            max_age=SCAN_VISIT_SECONDS,
            path=url_for("posters.scan", code=poster.code),
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    return response


def _form() -> PosterForm:
    form = PosterForm()
    form.campaign_id.choices = [
        SelectChoice(None, _("None")),
        *(SelectChoice(campaign_id, name) for campaign_id, name in posters.campaign_choices()),
    ]
    return form


@bp.get("/admin/posters")
@roles_required(Role.ADMIN)
def index() -> str:
    return render_template("reports/posters/index.html", rows=posters.posters_with_counts())


@bp.route("/admin/posters/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def create() -> Response | str:
    form = _form()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            data = posters.NewPoster(
                kind=PosterKind(form.kind.data),
                label=form.label.data or "",
                asset_id=form.asset_id.data or "",
                grid_code=form.grid_code.data or None,
                lat=form.lat.data,
                lon=form.lon.data,
                campaign_id=form.campaign_id.data,
                again=bool(form.again.data),
            )
            try:
                poster = posters.create_poster(current_user, data)
            except posters.PosterInvalid as error:
                db.session.rollback()
                for name, message in error.errors.items():
                    getattr(form, name).errors = [*getattr(form, name).errors, message]
            else:
                db.session.commit()
                flash(_("Poster created. Print it and put it up."), "success")
                return redirect(url_for("posters.printable", poster_id=poster.id), 303)
        status = 422
    return make_response(render_template("reports/posters/new.html", form=form), status)


@bp.get("/admin/posters/<id:poster_id>/print")
@roles_required(Role.ADMIN)
def printable(poster_id: int) -> Response:
    """The poster ready to print: A4 (default) or a small sticker (``?size=sticker``)."""
    poster = posters.get_poster(poster_id)
    if poster is None:
        abort(404)
    size = request.args.get("size", "a4")
    if size not in PRINT_SIZES:
        size = "a4"
    url = poster_url(poster)
    return print_page(
        "reports/posters/print.html",
        poster=poster,
        size=size,
        url=url,
        short_url=url.split("://", 1)[-1],
        qr=posters.qr_svg(url, title=_("QR code: %(url)s", url=url)),
    )
