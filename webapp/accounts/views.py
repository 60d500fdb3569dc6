from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from webapp.accounts import services, sessions, sms
from webapp.accounts.access import roles_required
from webapp.accounts.forms import (
    LoginForm,
    PasswordForm,
    PhoneForm,
    ProfileForm,
    RegisterForm,
    ResetPasswordForm,
)
from webapp.accounts.models import Role, SmsPurpose, User
from webapp.db import db
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l
from webapp.extensions import limiter, login_manager
from webapp.rendering import is_fragment_request

bp = Blueprint("accounts", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Only a live session's cookie logs anyone in (webapp.accounts.sessions)."""
    return sessions.load(session_id)


def safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("reports.home")


def _phone_key() -> str:
    """Rate-limit key for SMS codes: one budget per phone number, whoever asks."""
    return "sms:" + (request.form.get("phone") or "").strip()


def _login_phone_key() -> str:
    return "login:" + (request.form.get("phone") or "").strip()


def _form_error(form, error: DomainError) -> None:  # type: ignore[no-untyped-def]
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, str(error.message)]
    else:
        form.form_errors.append(str(error.message))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], key_func=_login_phone_key)
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.phone.data, form.password.data)
        if user is not None:
            sessions.log_in(user, remember=form.remember.data)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")), 303)
        form.form_errors.append(_("The mobile number or password is not correct."))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form), status  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    """Ends this browser's session: a saved copy of its cookies no longer works."""
    sessions.log_out(current_user)
    db.session.commit()
    flash(_("You have logged out."), "info")
    return redirect(url_for("reports.home"), 303)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REGISTER"], methods=["POST"])
def register() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("reports.home"))
    if not sms.sends_codes():
        return _service_desk(_("Register"))
    form = RegisterForm()
    if request.method == "GET" and request.args.get("phone"):
        form.phone.data = request.args["phone"]
    if form.validate_on_submit():
        try:
            user = services.register(
                form.phone.data,
                form.code.data,
                form.password.data,
                form.display_name.data or "",
                max_attempts=current_app.config["SMS_CODE_MAX_ATTEMPTS"],
            )
        except DomainError as error:
            db.session.commit()  # keeps the failed-attempt count of the code
            _form_error(form, error)
        else:
            sessions.log_in(user, remember=True)
            db.session.commit()
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(safe_next(request.args.get("next")), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/register.html", form=form), status  # type: ignore[return-value]


@bp.post("/auth/code")
@limiter.limit(lambda: current_app.config["RATELIMIT_SMS"], key_func=_phone_key)
@limiter.limit(lambda: current_app.config["RATELIMIT_SMS_IP"])
def send_code() -> Response | str:
    """Send a verification code. htmx gets a status fragment; a plain form post returns to its page."""
    form = PhoneForm()
    purpose = SmsPurpose.RESET_PASSWORD if request.form.get("purpose") == "reset" else SmsPurpose.REGISTER
    back = "accounts.reset_password" if purpose is SmsPurpose.RESET_PASSWORD else "accounts.register"
    code: str | None = None
    error: str | None = None
    if not sms.sends_codes():
        error = str(NO_SMS_MESSAGE)
    elif not form.validate_on_submit():
        error = _("Please enter your mobile number.")
    else:
        try:
            # The same answer whether or not the number has an account (the SMS says which).
            code = services.request_code(
                form.phone.data, purpose, ttl_seconds=current_app.config["SMS_CODE_TTL_SECONDS"]
            )
            db.session.commit()
        except DomainError as exc:
            error = str(exc.message)
    dev_code = code if _show_dev_code() else None
    if is_fragment_request():
        status = (403 if not sms.sends_codes() else 422) if error else 200
        return render_template("accounts/_code_status.html", error=error, dev_code=dev_code), status  # type: ignore[return-value]
    if error:
        flash(error, "error")
    else:
        flash(_("A verification code has been sent to your phone."), "success")
        if dev_code:
            flash(_("Development mode: the code is %(code)s", code=dev_code), "info")
    return redirect(url_for(back, phone=form.phone.data or ""), 303)


NO_SMS_MESSAGE = _l(
    "This service does not send verification codes by text message. Residents are registered, and forgotten "
    "passwords reset, at the community service desk: please bring your ID card."
)


def _service_desk(title: str) -> Response:
    """SMS_BACKEND=none: registration and password resets happen at a service desk, not here."""
    status = 200 if request.method == "GET" else 403
    return make_response(render_template("accounts/service_desk.html", title=title, message=NO_SMS_MESSAGE), status)


def _show_dev_code() -> bool:
    sender = current_app.extensions["sms"]
    return bool(getattr(sender, "is_development", False) and current_app.config["SMS_SHOW_DEV_CODE"])


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_REGISTER"], methods=["POST"])
def reset_password() -> Response | str:
    if not sms.sends_codes():
        return _service_desk(_("Forgot your password?"))
    form = ResetPasswordForm()
    if request.method == "GET" and request.args.get("phone"):
        form.phone.data = request.args["phone"]
    if form.validate_on_submit():
        try:
            services.reset_password(
                form.phone.data,
                form.code.data,
                form.password.data,
                max_attempts=current_app.config["SMS_CODE_MAX_ATTEMPTS"],
            )
        except DomainError as error:
            db.session.commit()
            _form_error(form, error)
        else:
            db.session.commit()
            flash(_("Your password has been changed. Please log in."), "success")
            return redirect(url_for("accounts.login"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/reset_password.html", form=form), status  # type: ignore[return-value]


@bp.route("/me/profile", methods=["GET", "POST"])
@login_required
def profile() -> Response | str:
    form = ProfileForm(obj=current_user)
    if request.method == "GET":
        form.locale.data = current_user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    password_form = PasswordForm(prefix="pw")
    if form.validate_on_submit():
        services.update_profile(
            current_user,
            display_name=form.display_name.data or "",
            show_name_publicly=form.show_name_publicly.data,
            large_text=form.large_text.data,
            locale=form.locale.data,
            notify_by_sms=form.notify_by_sms.data,
            notify_only_important=form.notify_only_important.data,
        )
        db.session.commit()
        flash(_("Your profile has been saved."), "success")
        response = redirect(url_for("accounts.profile"), 303)
        response.set_cookie("lang", form.locale.data, max_age=365 * 86400, samesite="Lax")
        return response
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/profile.html", form=form, password_form=password_form), status  # type: ignore[return-value]


@bp.post("/me/password")
@login_required
def change_password() -> Response | str:
    form = ProfileForm(obj=current_user, formdata=None)
    password_form = PasswordForm(prefix="pw")
    if password_form.validate_on_submit():
        try:
            services.change_password(current_user, password_form.current_password.data, password_form.new_password.data)
        except DomainError as error:
            _form_error(password_form, error)
        else:
            # Every session of the account has ended; this browser continues in a new one.
            remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            sessions.log_in(current_user._get_current_object(), remember=remembered)  # type: ignore[attr-defined]
            db.session.commit()
            flash(_("Your password has been changed. You have been logged out everywhere else."), "success")
            return redirect(url_for("accounts.profile"), 303)
    return render_template("accounts/profile.html", form=form, password_form=password_form), 422  # type: ignore[return-value]


@bp.post("/prefs")
def preferences() -> Response:
    """Language and text size from the switch on every page; remembered per user and in a cookie."""
    languages = current_app.config["LANGUAGES"]
    locale = request.form.get("lang")
    locale = locale if locale in languages else None
    large_text = {"on": True, "off": False}.get(request.form.get("large_text", ""))
    if current_user.is_authenticated:
        services.set_preference(current_user, locale=locale, large_text=large_text)
        db.session.commit()
    response = redirect(safe_next(request.form.get("next")), 303)
    if locale:
        response.set_cookie("lang", locale, max_age=365 * 86400, samesite="Lax")
    if large_text is not None:
        response.set_cookie("large_text", "on" if large_text else "off", max_age=365 * 86400, samesite="Lax")
    return response


@bp.get("/admin/staff")
@roles_required(Role.ADMIN)
def staff() -> str:
    """Staff accounts and their live sessions; an admin can end them (a lost phone, someone leaving)."""
    return render_template(
        "accounts/staff.html", staff=sessions.staff_with_sessions(), events=sessions.recent_events(limit=30)
    )


@bp.post("/admin/staff/<id:user_id>/end-sessions")
@roles_required(Role.ADMIN)
def end_staff_sessions(user_id: int) -> Response:
    member = db.session.get(User, user_id)
    if member is None or not member.role.is_staff:
        abort(404)
    ended = sessions.end_all(member, action="sessions_ended_by_admin", actor=current_user)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d session of %(who)s has been ended.", "%(num)d sessions of %(who)s have been ended.", ended,
            who=member.display_name or member.masked_phone,
        ),
        "success",
    )  # fmt: skip
    return redirect(url_for("accounts.staff"), 303)
