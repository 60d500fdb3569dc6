"""Community activities: public list, calendar and pages; sign-up; check-in (resident, offline API, organiser);
organiser pages (create, edit, check-in screen, poster); participation certificates and ``/verify/<code>``.

Form errors answer 422 with the form again (htmx swaps 422, see base.html); refused actions raise domain errors,
which errors.py turns into a page, a fragment or JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from webapp import localtime
from webapp.activities import certificates, checkin, services
from webapp.activities.forms import ActivityForm, CertificateForm, CheckinForm, OrganiserCheckForm, SignupForm
from webapp.activities.models import KIND_LABELS, Activity, ActivityKind, SignupStatus
from webapp.db import db, utcnow
from webapp.errors import DomainError, Forbidden, NotFound
from webapp.extensions import limiter
from webapp.geo.distance import valid_coordinates
from webapp.rendering import is_fragment_request, page_or_fragment, print_page
from webapp.reports.posters import services as posters

bp = Blueprint("activities", __name__)

VERIFY_LIMIT = "30 per minute;300 per hour"


def _activity(activity_id: int) -> Activity:
    activity = services.get(activity_id)
    if activity is None:
        raise NotFound(_("There is no such activity."))
    return activity


def organisers_only(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            from webapp.extensions import login_manager

            return login_manager.unauthorized()
        if not services.is_organiser(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _managed(activity_id: int) -> Activity:
    activity = _activity(activity_id)
    if not services.may_manage(current_user, activity):
        raise Forbidden(_("Only this activity's organisers can open this page."))
    return activity


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def activity_kind_label(kind: str) -> str:
    try:
        return ActivityKind(kind).label
    except ValueError:
        return kind


@bp.app_template_global()
def personal_code_card(user: Any) -> dict[str, str]:
    """The resident's personal code and its QR code (the profile page and the printable card show it)."""
    code = checkin.personal_code(user)
    return {"code": code, "qr": Markup(posters.qr_svg(code, title=_("Personal code %(code)s", code=code)))}


@bp.app_template_filter("localtime")
def local_time_filter(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return services.local(moment).strftime(fmt)


@bp.app_template_filter("distance")
def distance_filter(metres: float) -> str:
    """How far, as the list says it: to 100 m under a kilometre, then to 0.1 km (a list is not a range finder)."""
    if metres < 950:
        return _("%(m)d m away", m=max(100, round(metres / 100) * 100))
    return _("%(km)s km away", km=format_decimal(round(metres / 1000, 1), format="#,##0.0"))


# --- Public pages --------------------------------------------------------------------------------------------------


def _filters() -> dict[str, Any]:
    kind_arg = request.args.get("kind", "")
    kind = ActivityKind(kind_arg) if kind_arg in ActivityKind.__members__.values() else None
    street = request.args.get("street", "").strip()
    if street and not (street.isdigit() and len(street) == 9):
        street = ""
    return {"kind": kind, "street": street or None}


def _near() -> tuple[float, float] | None:
    """The position the list is ordered from (``?order=near&lat=…&lon=…``, sent by the page's "Nearest first"), or
    None: no order asked for, no position or a wrong one — the list is then soonest first."""
    lat = request.args.get("lat", type=float)
    lon = request.args.get("lon", type=float)
    if request.args.get("order") != "near" or lat is None or lon is None or not valid_coordinates(lat, lon):
        return None
    return (lat, lon)


def _week_day() -> date:
    raw = request.args.get("week", "")
    try:
        day = date.fromisoformat(raw) if raw else localtime.today()
    except ValueError:
        day = localtime.today()
    if not 2020 <= day.year <= 2100:
        day = localtime.today()
    return services.week_start(day)


@bp.get("/activities")
def index() -> Response:
    filters = _filters()
    view = "week" if request.args.get("view") == "week" else "list"
    context: dict[str, Any] = {
        "filters": filters,
        "view": view,
        "kinds": KIND_LABELS,
        "streets": services.streets(),
        "organiser": services.is_organiser(current_user),
    }
    if view == "week":
        monday = _week_day()
        context.update(
            days=services.week(monday, **filters),
            monday=monday,
            previous_week=(monday - timedelta(days=7)).isoformat(),
            next_week=(monday + timedelta(days=7)).isoformat(),
        )
    else:
        near = _near()
        context.update(
            listed=services.with_distances(services.listing(**filters, near=near), near),
            near=near,
            past=services.past(limit=5),
        )
    return page_or_fragment("activities/index.html", "activities/_results.html", **context)


def _detail_context(activity: Activity) -> dict[str, Any]:
    signup = services.signup_of(current_user, activity)
    return {
        "activity": activity,
        "places": services.places(activity),
        "signup": signup,
        "position": services.waiting_position(signup) if signup and signup.status is SignupStatus.WAITING else None,
        "closed": services.signup_state(activity, utcnow()),
        "points": services.points_for(activity),
        "street": services.street_name(activity.street_code),
        "checkin": checkin.checkin_of(activity, current_user),
        "can_manage": services.may_manage(current_user, activity),
        "form": SignupForm(),
        "started": utcnow() >= activity.starts_at,
    }


@bp.get("/activities/<id:activity_id>")
def detail(activity_id: int) -> Response:
    activity = _activity(activity_id)
    return page_or_fragment(
        "activities/detail.html",
        "activities/_signup.html",
        **_detail_context(activity),
        share_url=url_for("activities.detail", activity_id=activity.id, _external=True),
    )


@bp.get("/activities/<id:activity_id>.ics")
def calendar_file(activity_id: int) -> Response:
    activity = _activity(activity_id)
    url = url_for("activities.detail", activity_id=activity.id, _external=True)
    body = services.ics(activity, url=url, host=request.host.split(":")[0] or "citizen-grid")
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="activity-{activity.id}.ics"'
    return response


def _signup_answer(activity: Activity, message: str) -> Response:
    if is_fragment_request():
        response = make_response(render_template("activities/_signup.html", **_detail_context(activity), note=message))
        response.vary.add("HX-Request")
        return response
    flash(message, "success")
    return redirect(url_for("activities.detail", activity_id=activity.id), 303)


@bp.post("/activities/<id:activity_id>/signup")
@login_required
def sign_up(activity_id: int) -> Response:
    activity = _activity(activity_id)
    signup = services.sign_up(current_user, activity)
    db.session.commit()
    if signup.status is SignupStatus.CONFIRMED:
        message = _("You are signed up. See you there!")
    else:
        message = _(
            "The activity is full: you are number %(n)d on the waiting list.", n=services.waiting_position(signup)
        )
    return _signup_answer(activity, message)


@bp.post("/activities/<id:activity_id>/signup/cancel")
@login_required
def cancel_signup(activity_id: int) -> Response:
    activity = _activity(activity_id)
    services.cancel_signup(current_user, activity)
    db.session.commit()
    return _signup_answer(activity, _("Your sign-up is cancelled."))


@bp.get("/activities/mine")
@login_required
def mine() -> str:
    return render_template("activities/mine.html", signups=services.my_activities(current_user))


# --- Check-in: the resident's side ---------------------------------------------------------------------------------


def _position(form: CheckinForm) -> tuple[float, float] | None:
    if form.lat.data is None or form.lon.data is None:
        return None
    return (form.lat.data, form.lon.data)


@bp.get("/activities/scan")
def scanner() -> str:
    """The app's scanner page (camera), also the offline page for a scanned check-in URL (the service worker
    serves it when there is no network; its script stores the scan in the outbox)."""
    return render_template("activities/scan.html")


@bp.route("/activities/<id:activity_id>/checkin", methods=["GET", "POST"])
def checkin_page(activity_id: int) -> Response:
    """What a scanned rotating code opens. GET checks the code and asks to confirm (or to log in first, carrying
    a signed note of when the code was seen); POST checks in (or out)."""
    activity = _activity(activity_id)
    now = utcnow()
    token = (request.values.get("t") or "").strip()[:40]
    stamp = (request.values.get("s") or "")[:400] or None
    at = checkin.scan_time(activity, token, stamp, now)
    checkin.check_token(activity, token, at)
    stamp = checkin.seen_stamp(activity, token, at)
    if not current_user.is_authenticated:
        flash(_("Please log in to check in. The code you scanned stays valid for a few minutes."), "info")
        return redirect(
            url_for(
                "accounts.login", next=url_for("activities.checkin_page", activity_id=activity.id, t=token, s=stamp)
            )
        )
    form = CheckinForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            raise DomainError(_("This page has expired. Please scan the code again."))
        outcome = checkin.resident_scan(current_user, activity, token, at=at, position=_position(form))
        db.session.commit()
        return _no_store(
            make_response(render_template("activities/checked_in.html", activity=activity, outcome=outcome))
        )
    form.t.data, form.s.data = token, stamp
    return _no_store(
        make_response(
            render_template(
                "activities/checkin.html",
                activity=activity,
                form=form,
                existing=checkin.checkin_of(activity, current_user),
            )
        )
    )


@bp.post("/api/v1/checkins")
def api_checkin() -> Response:
    """An offline scan from the outbox: ``client_id``, ``activity_id``, ``token``, ``scanned_at`` (ISO 8601 or
    milliseconds since 1970), optional ``lat``/``lon`` and ``user`` (the account that saved it). 201 the first
    time, 200 with the same body for a replay."""
    if not current_user.is_authenticated:
        return _api_error(401, "unauthorized", _("Please log in first."))
    data = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, dict) and not hasattr(data, "get"):
        return _api_error(400, "bad_request", _("The request was not understood."))
    client_id = str(data.get("client_id") or "")
    try:
        client_id = str(uuid.UUID(client_id))
    except ValueError:
        return _api_error(422, "invalid", _("The scan has no valid id."), field="client_id")
    saved_by = str(data.get("user") or "")
    if saved_by and saved_by != str(current_user.id):
        return _api_error(
            403, "other_person", _("This scan was saved by another account: only that person can send it.")
        )
    try:
        activity_id = int(data.get("activity_id") or 0)
    except (TypeError, ValueError):
        activity_id = 0
    activity = services.get(activity_id) if 0 < activity_id < 2**31 else None
    if activity is None:
        return _api_error(404, "not_found", _("There is no such activity."))
    scanned_at = _parse_time(data.get("scanned_at"))
    if scanned_at is None:
        return _api_error(422, "invalid", _("The scan time is missing or not valid."), field="scanned_at")
    position = None
    try:
        if data.get("lat") not in (None, "") and data.get("lon") not in (None, ""):
            position = (float(data["lat"]), float(data["lon"]))
    except (TypeError, ValueError):
        return _api_error(422, "invalid", _("The position is not valid."), field="position")
    outcome = checkin.offline_scan(
        current_user,
        activity,
        str(data.get("token") or "")[:40],
        client_id=client_id,
        scanned_at=scanned_at,
        position=position,
    )
    db.session.commit()
    body = {
        "id": outcome.checkin.id,
        "client_id": client_id,
        "url": url_for("activities.detail", activity_id=activity.id, _external=True),
        "status": "checked_out" if outcome.checkin.checked_out_at else "checked_in",
        "points": outcome.points,
    }
    return make_response(jsonify(body), 201 if outcome.created else 200)


def _api_error(status: int, code: str, message: str, **extra: Any) -> Response:
    from webapp.errors import error_response

    return error_response(status, code, message, extra or None)


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        if isinstance(value, int | float) or str(value).isdigit():
            moment = datetime.fromtimestamp(float(value) / 1000, UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


# --- Organisers ----------------------------------------------------------------------------------------------------


def _data(form: ActivityForm) -> services.ActivityData:
    return services.ActivityData(
        kind=ActivityKind(form.kind.data),
        title=form.title.data or "",
        description=form.description.data or "",
        address=form.address.data or "",
        starts_at=form.starts_at.data,
        ends_at=form.ends_at.data,
        capacity=form.capacity.data,
        lat=form.lat.data,
        lon=form.lon.data,
        signup_opens_at=form.signup_opens_at.data,
        signup_closes_at=form.signup_closes_at.data,
        min_stay_minutes=form.min_stay_minutes.data,
        checkin_radius_m=form.checkin_radius_m.data,
    )


def _form_errors(form: ActivityForm, error: services.ActivityInvalid) -> None:
    for name, message in error.errors.items():
        field = getattr(form, name, None) or form.title
        field.errors = [*field.errors, message]


@bp.route("/activities/new", methods=["GET", "POST"])
@organisers_only
def create() -> Response:
    form = ActivityForm()
    if form.validate_on_submit():
        try:
            activity = services.create_activity(current_user, _data(form))
        except services.ActivityInvalid as error:
            db.session.rollback()
            _form_errors(form, error)
        else:
            db.session.commit()
            flash(_("The activity is published."), "success")
            return redirect(url_for("activities.manage", activity_id=activity.id), 303)
    status = 422 if form.is_submitted() else 200
    return make_response(render_template("activities/form.html", form=form, activity=None), status)


@bp.route("/activities/<id:activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(activity_id: int) -> Response:
    activity = _managed(activity_id)
    form = ActivityForm(obj=activity if request.method == "GET" else None)
    if request.method == "GET":
        form.kind.data = activity.kind.value
        for name in ("starts_at", "ends_at", "signup_opens_at", "signup_closes_at"):
            value = getattr(activity, name)
            getattr(form, name).data = services.local(value).replace(tzinfo=None) if value else None
    if form.validate_on_submit():
        try:
            changes = services.update_activity(current_user, activity, _data(form))
        except services.ActivityInvalid as error:
            db.session.rollback()
            _form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Saved.") if changes else _("Nothing was changed."), "success")
            return redirect(url_for("activities.manage", activity_id=activity.id), 303)
    status = 422 if form.is_submitted() else 200
    return make_response(render_template("activities/form.html", form=form, activity=activity), status)


@bp.post("/activities/<id:activity_id>/cancel")
@login_required
def cancel(activity_id: int) -> Response:
    activity = _managed(activity_id)
    if not SignupForm().validate_on_submit():
        abort(400)
    services.cancel_activity(current_user, activity)
    db.session.commit()
    flash(_("The activity is cancelled; everyone signed up has been told."), "success")
    return redirect(url_for("activities.manage", activity_id=activity.id), 303)


def _manage_context(activity: Activity, form: OrganiserCheckForm | None = None, **extra: Any) -> dict[str, Any]:
    signups = services.signups(activity)
    return {
        "activity": activity,
        "signups": signups,
        "attendance": checkin.attendance(activity),
        "streaks": services.no_show_streaks([s.user_id for s in signups]),
        "streak_limit": services.NO_SHOW_STREAK,
        "no_shows": services.no_shows(activity),
        "places": services.places(activity),
        "events": services.history(activity),
        "form": form or OrganiserCheckForm(),
        "cancel_form": SignupForm(),
        **extra,
    }


@bp.get("/activities/<id:activity_id>/manage")
@login_required
def manage(activity_id: int) -> Response:
    activity = _managed(activity_id)
    return _no_store(make_response(render_template("activities/manage.html", **_manage_context(activity))))


@bp.post("/activities/<id:activity_id>/check")
@login_required
def organiser_check(activity_id: int) -> Response:
    """The organiser checks a resident in or out by phone number or personal code (htmx: the panel)."""
    activity = _managed(activity_id)
    form = OrganiserCheckForm()
    status, note = 200, None
    if form.validate_on_submit():
        person, outcome = checkin.organiser_check(current_user, activity, form.who.data or "", action=form.action.data)
        db.session.commit()
        name = person.display_name or person.masked_phone
        note = {
            "checked_in": _("%(name)s is checked in.", name=name),
            "checked_out": _("%(name)s is checked out after %(m)d minutes.", name=name, m=outcome.checkin.minutes or 0),
            "already": _("%(name)s was already checked in.", name=name),
        }[outcome.action]
        form = OrganiserCheckForm(formdata=None)
    else:
        status = 422
    return page_or_fragment(
        "activities/manage.html", "activities/_attendance.html", status, **_manage_context(activity, form, note=note)
    )


@bp.get("/activities/<id:activity_id>/screen")
@login_required
def screen(activity_id: int) -> Response:
    """The rotating code for the venue. The page carries 30 minutes of codes, so it keeps working offline."""
    activity = _managed(activity_id)
    return _no_store(
        make_response(render_template("activities/screen.html", activity=activity, codes=_codes(activity)))
    )


def _codes(activity: Activity) -> list[dict[str, Any]]:
    codes = []
    for window, token in checkin.tokens_ahead(activity, utcnow()):
        url = url_for("activities.checkin_page", activity_id=activity.id, t=token, _external=True)
        codes.append({"from": window * checkin.WINDOW_SECONDS * 1000, "url": url, "svg": posters.qr_svg(url)})
    return codes


@bp.get("/activities/<id:activity_id>/codes.json")
@login_required
def codes(activity_id: int) -> Response:
    activity = _managed(activity_id)
    return _no_store(jsonify({"window_ms": checkin.WINDOW_SECONDS * 1000, "codes": _codes(activity)}))


@bp.get("/activities/<id:activity_id>/poster")
@login_required
def poster(activity_id: int) -> Response:
    """A4 notice-board poster: the activity and a QR code of its public page (sign-up), printed with the posters'
    print styles."""
    activity = _managed(activity_id)
    url = url_for("activities.detail", activity_id=activity.id, _external=True)
    return print_page(
        "activities/poster.html",
        activity=activity,
        url=url,
        short_url=url.split("://", 1)[-1],
        qr=posters.qr_svg(url, title=_("QR code: %(url)s", url=url)),
    )


@bp.get("/activities/organise")
@organisers_only
def organise() -> str:
    everything = services.listing(start=utcnow() - timedelta(days=365), include_cancelled=True, limit=500)
    mine = [a for a in everything if services.may_manage(current_user, a)]
    counts = certificates.counts() if current_user.role.value == "admin" else None
    return render_template("activities/organise.html", activities=mine, counts=counts)


# --- Personal code --------------------------------------------------------------------------------------------------


@bp.get("/me/code")
@login_required
def personal_card() -> str:
    return render_template("activities/card.html")


# --- Certificates ---------------------------------------------------------------------------------------------------


def _period(form: CertificateForm) -> localtime.Period:
    kind = localtime.PeriodKind(form.period.data)
    number = form.number.data or 0
    if kind is localtime.PeriodKind.MONTH and not 1 <= number <= 12:
        raise certificates.CertificateError(_("Please choose a month from 1 to 12."), field="number")
    if kind is localtime.PeriodKind.QUARTER and not 1 <= number <= 4:
        raise certificates.CertificateError(_("Please choose a quarter from 1 to 4."), field="number")
    return localtime.Period(kind, form.year.data, number if kind is not localtime.PeriodKind.YEAR else 0)


@bp.route("/me/certificates", methods=["GET", "POST"])
@login_required
def my_certificates() -> Response:
    form = CertificateForm()
    if request.method == "GET":
        form.year.data = localtime.today().year
        form.name.data = current_user.display_name
    elif form.validate_on_submit():
        certificate = certificates.issue(current_user, _period(form), name=form.name.data or "")
        db.session.commit()
        flash(_("Your certificate is issued. Print it or share its code."), "success")
        return redirect(url_for("activities.certificate", certificate_id=certificate.id), 303)
    status = 422 if form.is_submitted() else 200
    return _no_store(
        make_response(
            render_template("activities/certificates.html", form=form, items=certificates.mine(current_user)), status
        )
    )


def _certificate_context(certificate: Any) -> dict[str, Any]:
    url = url_for("activities.verify", code=certificate.code, _external=True)
    return {
        "certificate": certificate,
        "figures": certificate.figures,
        "code": certificates.pretty(certificate.code),
        "url": url,
        "period_label": _period_label(certificate),
    }


@bp.app_template_global("certificate_period")
def _period_label(certificate: Any) -> str:
    start = services.local(certificate.period_start).date()
    last = services.local(certificate.period_end).date() - timedelta(days=1)
    return f"{start.isoformat()} – {last.isoformat()}"


@bp.get("/me/certificates/<id:certificate_id>")
@login_required
def certificate(certificate_id: int) -> Response:
    item = certificates.owned(current_user, certificate_id)
    if item is None:
        raise NotFound(_("There is no such certificate."))
    context = _certificate_context(item)
    context["qr"] = Markup(posters.qr_svg(context["url"], title=_("QR code: %(url)s", url=context["url"])))
    return _no_store(make_response(render_template("activities/certificate.html", form=SignupForm(), **context)))


@bp.post("/me/certificates/<id:certificate_id>/revoke")
@login_required
def revoke(certificate_id: int) -> Response:
    item = certificates.owned(current_user, certificate_id)
    if item is None:
        raise NotFound(_("There is no such certificate."))
    if not SignupForm().validate_on_submit():
        abort(400)
    certificates.revoke(current_user, item)
    db.session.commit()
    flash(_("The certificate is revoked: checking its code now shows that it is no longer valid."), "success")
    return redirect(url_for("activities.my_certificates"), 303)


@bp.get("/verify")
def verify_form() -> Response:
    code = request.args.get("code")
    if code:
        value = certificates.normalise(code)
        if value is None:
            return make_response(
                render_template("activities/verify_form.html", error=_("This is not a certificate code.")), 422
            )
        return redirect(url_for("activities.verify", code=value), 303)
    return make_response(render_template("activities/verify_form.html", error=None))


@bp.get("/verify/<code>")
@limiter.limit(VERIFY_LIMIT)
def verify(code: str) -> Response:
    """Anyone can check a certificate: the figures as issued, the date, and whether it is still valid."""
    item = certificates.verify(code)
    if item is None:
        abort(404)
    db.session.commit()
    response = make_response(render_template("activities/verify.html", **_certificate_context(item)))
    response.headers["X-Robots-Tag"] = "noindex"
    return _no_store(response)
