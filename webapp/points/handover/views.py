"""Handing over (核销) at a service point, at ``/handover/``.

Its users are the staff of a service point (department users whose department is one) and supervisors; the
supervisors also choose here which departments are service points. The old address under ``/admin/points/handover``
redirects here. Views stay thin: read the input, call one service of ``points.store``, commit, redirect (303);
a refused lookup or action shows the page again with the message and its status (422).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField

from webapp.accounts.access import roles_required
from webapp.accounts.models import Department, Role, User
from webapp.db import db
from webapp.errors import DomainError, NotFound
from webapp.extensions import lazy_gettext as _l
from webapp.extensions import login_manager
from webapp.points import store
from webapp.points.models import OrderStatus, StoreOrder
from webapp.rendering import page_or_fragment

bp = Blueprint("handover", __name__)
F = TypeVar("F", bound=Callable[..., Any])

ORDER_STATUS_LABELS: dict[OrderStatus, Any] = {
    OrderStatus.WAITING: _l("Waiting to be handed over"),
    OrderStatus.HANDED_OVER: _l("Handed over"),
    OrderStatus.CANCELLED: _l("Cancelled"),
}


def service_point_staff(view: F) -> F:
    """Supervisors and staff of a service point; anonymous visitors log in first, everyone else gets 403."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not store.can_hand_over(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _digits(value: str | None) -> str:
    return "".join(ch for ch in (value or "") if ch.isascii() and ch.isdigit())


def _user_label(user: User | None) -> str:
    if user is None:
        return _("the system")
    return f"{user.display_name or user.role.label} ({user.masked_phone})"


def _page(order: StoreOrder | None = None, *, code: str = "", error: str | None = None, status: int = 200) -> Response:
    return page_or_fragment(
        "points/handover/index.html",
        "points/handover/_order.html",
        status,
        section="handover",
        order=order,
        code=code,
        error=error,
        handed_over_by=db.session.get(User, order.handed_over_by_id) if order and order.handed_over_by_id else None,
        waiting=store.waiting_orders(),
        status_labels=ORDER_STATUS_LABELS,
        user_label=_user_label,
    )


def _done(message: str, target: str) -> Response:
    db.session.commit()
    flash(message, "success")
    return redirect(target, 303)


@bp.get("/handover/")
@service_point_staff
def index() -> Response:
    typed = (request.args.get("code") or "").strip()[:40]
    if not typed:
        return _page()
    code = _digits(typed)
    if len(code) != 8:
        return _page(code=typed, error=_("Please type the 8 digits of the pickup code."), status=422)
    order = store.find_by_code(code)
    if order is None:
        return _page(
            code=code, error=_("No order has the pickup code %(code)s. Please check the digits.", code=code), status=422
        )
    return _page(order, code=code)


def _order_action(
    order_id: int, action: Callable[[StoreOrder], None], success: Callable[[StoreOrder], str]
) -> Response:
    order = db.session.get(StoreOrder, order_id)
    if order is None:
        raise NotFound(_("This order does not exist."))
    code = _digits(request.form.get("code"))
    if code != order.pickup_code:
        return _page(code=code, error=_("The pickup code does not match this order. Please type it again."), status=422)
    try:
        action(order)
    except DomainError as error:
        db.session.rollback()
        return _page(db.session.get(StoreOrder, order_id), code=code, error=str(error.message), status=error.status)
    return _done(success(order), url_for("handover.index"))


@bp.post("/handover/<id:order_id>")
@service_point_staff
def hand_over(order_id: int) -> Response:
    return _order_action(
        order_id,
        lambda order: store.hand_over(order, current_user),
        lambda order: _(
            "Handed over: %(n)d × %(item)s to %(name)s.",
            n=order.quantity,
            item=order.item.name,
            name=order.user.display_name or order.user.masked_phone,
        ),
    )


@bp.post("/handover/<id:order_id>/cancel")
@service_point_staff
def cancel_order(order_id: int) -> Response:
    return _order_action(
        order_id,
        lambda order: store.cancel(order, current_user),
        lambda order: _(
            "Order cancelled: %(points)d points and the goods went back (%(item)s).",
            points=order.points,
            item=order.item.name,
        ),
    )


# --- Which departments are service points (supervisors) -----------------------------------------------------------


class ServicePointForm(FlaskForm):
    service_point = BooleanField(_l("Orders are handed over here (service point)"))


@bp.get("/handover/service-points")
@roles_required(Role.ADMIN)
def service_points() -> Response:
    departments = db.session.scalars(sa.select(Department).order_by(Department.code)).all()
    return page_or_fragment(
        "points/handover/service_points.html",
        "points/handover/_service_points.html",
        departments=departments,
        section="service_points",
        form=ServicePointForm(),
    )


@bp.post("/handover/service-points/<id:department_id>")
@roles_required(Role.ADMIN)
def set_service_point(department_id: int) -> Response:
    department = db.session.get(Department, department_id)
    if department is None:
        raise NotFound(_("This department does not exist."))
    form = ServicePointForm()
    if not form.validate():
        abort(400)
    store.set_service_point(current_user, department, bool(form.service_point.data))
    if department.service_point:
        message = _("%(name)s is now a service point: its staff hand over store orders.", name=department.name)
    else:
        message = _("%(name)s is no longer a service point.", name=department.name)
    return _done(message, url_for("handover.service_points"))


# --- The old address under /admin ---------------------------------------------------------------------------------


@bp.route("/admin/points/handover", methods=["GET"])
def old_index() -> Response:
    target = url_for("handover.index")
    if request.query_string:
        target += "?" + request.query_string.decode("ascii", "replace")
    return redirect(target, 301)


@bp.route("/admin/points/handover/<id:order_id>", methods=["POST"])
def old_hand_over(order_id: int) -> Response:
    return redirect(url_for("handover.hand_over", order_id=order_id), 308)


@bp.route("/admin/points/handover/<id:order_id>/cancel", methods=["POST"])
def old_cancel_order(order_id: int) -> Response:
    return redirect(url_for("handover.cancel_order", order_id=order_id), 308)
