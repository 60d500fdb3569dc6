"""Admin pages for Open311 API keys: list, issue (the key is shown once, on the answer to the POST), revoke."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.api import models as keys
from webapp.api.forms import ApiKeyForm
from webapp.db import db

bp = Blueprint("api_keys", __name__, url_prefix="/admin/api-keys")


def _reason_message(error: keys.ApiKeyError) -> str:
    messages = {
        "empty": _("Please name the client the key is for."),
        "too_long": _("The name is too long: at most %(max)d characters.", max=keys.NAME_MAX),
        "duplicate": _("A key with this name exists already (revoked keys keep their name). Choose another name."),
        "revoked": _("This key was revoked already."),
        "control": _("Please remove the control characters from the text."),
    }
    return messages.get(error.reason, str(error.message))


def _page(form: ApiKeyForm, *, new_key: str | None = None, status: int = 200) -> Response:
    response = make_response(
        render_template(
            "api/keys/index.html",
            form=form,
            rows=keys.keys_with_counts(),
            new_key=new_key,
            endpoint=url_for("open311.index", _external=True),
        ),
        status,
    )
    # The page may show a new key: never keep it in a cache or the browser history.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@roles_required(Role.ADMIN)
def index() -> Response:
    return _page(ApiKeyForm())


@bp.post("")
@roles_required(Role.ADMIN)
def create() -> Response:
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            _row, key = keys.create_api_key(form.name.data or "", created_by=current_user)
        except keys.ApiKeyError as error:
            db.session.rollback()
            form.name.errors = [*form.name.errors, _reason_message(error)]
        else:
            db.session.commit()
            # Shown on this answer only: only its hash is stored (no redirect, so it is never in a URL or a flash).
            return _page(ApiKeyForm(formdata=None), new_key=key)
    return _page(form, status=422)


@bp.post("/<id:key_id>/revoke")
@roles_required(Role.ADMIN)
def revoke(key_id: int) -> Response:
    api_key = keys.get_api_key(key_id)
    if api_key is None:
        abort(404)
    try:
        keys.revoke(api_key)
    except keys.ApiKeyError as error:
        db.session.rollback()
        flash(_reason_message(error), "error")
    else:
        db.session.commit()
        flash(_("The key of %(name)s is revoked: its requests are refused from now on.", name=api_key.name), "success")
    return redirect(url_for("api_keys.index"), 303)
