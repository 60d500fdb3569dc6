"""What every points admin page shares: the blueprint (``/admin/points``, admins only) and the render, refuse
and finish helpers of its thin views."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError
from webapp.points import fund
from webapp.reports import taxonomy

bp = Blueprint("points_admin", __name__, url_prefix="/admin/points")
admins_only = roles_required(Role.ADMIN)
FIELD_ALIASES = {"photos": "photo"}  # a service's name for a field → the form's


def page_context(**extra: Any) -> dict[str, Any]:
    return {"yuan": fund.yuan, "section": extra.pop("section", ""), **extra}


def render(template: str, status: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **page_context(**context)), status)


def refuse(form: FlaskForm, error: DomainError) -> int:
    """Show a service's refusal next to its field (or above the form); returns the status to answer with."""
    db.session.rollback()
    message = str(error.message)
    name = FIELD_ALIASES.get(error.field or "", error.field)
    target = getattr(form, name, None) if name else None
    if target is not None and hasattr(target, "errors") and not isinstance(target, FlaskForm):
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)
    return error.status


def finish(message: str, target: str) -> Response:
    db.session.commit()
    flash(message, "success")
    return redirect(target, 303)


def category_name(code: str) -> str:
    category = taxonomy.active_category(code)
    return category.name if category is not None else _("(retired)")

