"""Residents' points pages: balance and history, the points store, orders, households, honour rolls.

Views stay thin: read and check the input, call one service, commit, answer. Every GET page answers with its
fragment (``templates/points/_name.html``) to htmx requests and with the full page otherwise (Vary: HX-Request).
Form errors re-render the page with the message next to the field and a 4xx status (422 for bad values, 409 for
a state that does not allow the action), with nothing written.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import segno
import sqlalchemy as sa
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
from flask_login import current_user, login_required
from markupsafe import Markup

from webapp import csvfile, localtime
from webapp.db import db
from webapp.errors import DomainError, NotFound
from webapp.extensions import lazy_gettext as _l
from webapp.extensions import limiter
from webapp.points import awards, honour, households, ledger, store
from webapp.points.models import OrderStatus, StoreItem, StoreOrder
from webapp.rendering import page_or_fragment, render_fragment, shared_fragment
from webapp.reports import services as reports

bp = Blueprint("points", __name__)

# What each kind of ledger movement is called in a resident's history (LedgerTransaction.reason).
REASON_LABELS: dict[str, Any] = {
    "report_accepted": _l("Report accepted"),
    "campaign_bonus": _l("Campaign bonus"),
    "later_reporter": _l("Also reported a known problem"),
    "volunteer_result": _l("Volunteer fix accepted"),
    "rating": _l("Rated the result of a report"),
    "feedback_adopted": _l("Feedback adopted"),
    "activity_attended": _l("Took part in a community activity"),
    "redemption": _l("Redeemed in the points store"),
    "order_cancelled": _l("Order cancelled: points returned"),
    "false_report": _l("False report: points taken back"),
    "expired": _l("Points expired"),
}

ORDER_STATUS_LABELS: dict[OrderStatus, Any] = {
    OrderStatus.WAITING: _l("Waiting to be collected"),
    OrderStatus.HANDED_OVER: _l("Handed over"),
    OrderStatus.CANCELLED: _l("Cancelled"),
}

HISTORY_SHOWN = 100  # the page shows the latest movements; the CSV download has them all
EXPORT_LIMIT = 100_000
HOUSEHOLD_JOIN_LIMIT = "10 per minute;30 per hour"  # invite codes cannot be guessed by trying


@bp.app_template_global("ledger_reason_label")
def reason_label(reason: str) -> str:
    label = REASON_LABELS.get(reason)
    return str(label) if label is not None else _("Other")


@bp.app_template_global("order_status_label")
def order_status_label(status: OrderStatus, delivery: bool = False) -> str:
    """An order's state for its resident; a home delivery waits to be delivered, not collected."""
    if delivery and status is OrderStatus.WAITING:
        return _("Waiting to be delivered")
    return str(ORDER_STATUS_LABELS[status])


bp.add_app_template_global(households.format_code, "invite_code")


def _no_store(response: Response) -> Response:
    """Personal pages (balances, pickup codes) stay out of shared caches and the browser's disk cache."""
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- My points ------------------------------------------------------------------------------------------------


@bp.get("/points")
@login_required
def index() -> Response:
    overview, history = awards.points_page(current_user, history_limit=HISTORY_SHOWN)
    return _no_store(
        page_or_fragment(
            "points/index.html",
            "points/_index.html",
            overview=overview,
            history=history,
            history_limit=HISTORY_SHOWN,
        )
    )


# --- The store ------------------------------------------------------------------------------------------------


def _viewer_balance() -> int | None:
    return ledger.balance_of(current_user) if current_user.is_authenticated else None


@bp.get("/store")
def store_index() -> Response:
    rendered = shared_fragment(
        "store", None, lambda: render_fragment("points/_store.html", items=store.available_items(), balance=None)
    )
    if rendered is not None:
        return page_or_fragment("points/store.html", "points/_store.html", rendered=rendered)
    return page_or_fragment(
        "points/store.html",
        "points/_store.html",
        items=store.available_items(),
        balance=_viewer_balance(),
    )


def _available_item(item_id: int) -> StoreItem:
    item = db.session.get(StoreItem, item_id)
    if item is None or not store.is_available(item, localtime.today()):
        abort(404)
    return item


def _new_form_values() -> dict[str, Any]:
    # A fresh request key per rendered form: submitting the same form twice makes one order.
    return {"quantity": "1", "deliver": False, "address": "", "request_key": str(uuid.uuid4())}


def _render_item(item_id: int, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    item = _available_item(item_id)
    logged_in = current_user.is_authenticated
    return page_or_fragment(
        "points/item.html",
        "points/_item.html",
        status,
        item=item,
        values=values,
        errors=errors,
        balance=_viewer_balance(),
        can_redeem=logged_in and not current_user.role.is_staff,
        ordered=store.ordered_quantity(current_user, item) if logged_in and item.per_person_limit else 0,
        max_quantity=store.MAX_QUANTITY,
        address_max=store.ADDRESS_MAX,
    )


@bp.get("/store/<id:item_id>")
def item(item_id: int) -> Response:
    return _render_item(item_id, _new_form_values(), {})


def _quantity(raw: str) -> int | None:
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        return None
    value = int(raw)
    return value if 1 <= value <= store.MAX_QUANTITY else None


def _request_key(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw.strip()))
    except (ValueError, AttributeError):
        return None


@bp.post("/store/<id:item_id>/redeem")
@login_required
def redeem(item_id: int) -> Response:
    item = _available_item(item_id)
    deliver = request.form.get("deliver", "") in {"1", "on", "yes", "true"}
    values: dict[str, Any] = {
        "quantity": request.form.get("quantity", "")[:10],
        "deliver": deliver,
        "address": request.form.get("address", "")[: store.ADDRESS_MAX + 50],
        "request_key": _request_key(request.form.get("request_key", "")),
    }
    if values["request_key"] is None:
        values["request_key"] = str(uuid.uuid4())
        message = _("This form has expired. Please check your choice and send it again.")
        return _render_item(item_id, values, {"form": message}, 400)
    errors: dict[str, str] = {}
    quantity = _quantity(values["quantity"])
    if quantity is None:
        errors["quantity"] = _("Please choose a quantity from 1 to %(n)d.", n=store.MAX_QUANTITY)
    address = values["address"].strip() if deliver else ""
    if deliver and not item.home_delivery:
        errors["address"] = _("This item cannot be delivered; please collect it.")
    elif deliver and not address:
        errors["address"] = _("Please give the address the goods should be brought to.")
    elif len(address) > store.ADDRESS_MAX:
        errors["address"] = _("The address is too long: at most %(n)d characters.", n=store.ADDRESS_MAX)
    if errors:
        return _render_item(item_id, values, errors, 422)
    assert quantity is not None
    try:
        order, created = store.redeem(
            current_user, item, quantity=quantity, request_key=values["request_key"], delivery_address=address
        )
    except DomainError as error:
        db.session.rollback()
        return _render_item(item_id, values, {error.field or "form": str(error.message)}, error.status)
    except sa.exc.IntegrityError:
        # The same form sent twice at the same moment: the other request made the order (request_key is unique).
        db.session.rollback()
        order = _order_for_key(values["request_key"])
        if order is None:
            raise
        created = False
    db.session.commit()
    if not created:
        flash(_("This order had already been placed; nothing was ordered twice."), "info")
    elif order.delivery_address:
        flash(
            _("Done! %(points)d points were exchanged. The goods will be brought to your home.", points=order.points),
            "success",
        )
    else:
        flash(
            _(
                "Done! %(points)d points were exchanged. Show the pickup code when you collect the goods.",
                points=order.points,
            ),
            "success",
        )
    return redirect(url_for("points.order", order_id=order.id), 303)


# --- My orders ------------------------------------------------------------------------------------------------


def _order_for_key(key: str) -> StoreOrder | None:
    return db.session.scalar(
        sa.select(StoreOrder).where(StoreOrder.request_key == key, StoreOrder.user_id == current_user.id)
    )


@bp.get("/store/orders")
@login_required
def orders() -> Response:
    return _no_store(
        page_or_fragment("points/orders.html", "points/_orders.html", orders=store.orders_of(current_user))
    )


def _my_order(order_id: int) -> StoreOrder:
    """An order of the logged-in resident; anyone else's is "not found", whoever asks."""
    order = db.session.get(StoreOrder, order_id)
    if order is None or order.user_id != current_user.id:
        abort(404)
    return order


def qr_svg(code: str) -> Markup:
    """The pickup code as a QR code, drawn on the server as inline SVG (no script, no image request)."""
    qr = segno.make(code, error="m", micro=False)
    return Markup(qr.svg_inline(scale=4, border=4, omitsize=True, svgclass="qr", lineclass="qr-line"))


def _render_order(order_id: int, error: str | None = None, status: int = 200) -> Response:
    order = _my_order(order_id)
    return _no_store(
        page_or_fragment(
            "points/order.html",
            "points/_order.html",
            status,
            order=order,
            qr=qr_svg(order.pickup_code),
            error=error,
        )
    )


@bp.get("/store/orders/<id:order_id>")
@login_required
def order(order_id: int) -> Response:
    return _render_order(order_id)


@bp.post("/store/orders/<id:order_id>/cancel")
@login_required
def cancel_order(order_id: int) -> Response:
    order = _my_order(order_id)
    if request.form.get("confirm") != "yes":  # one tap under the pickup code must not cancel an order
        return _render_order(order_id, _("Please tick the box to confirm that you want to cancel this order."), 422)
    try:
        store.cancel(order, current_user)
    except DomainError as error:
        db.session.rollback()
        return _render_order(order_id, str(error.message), error.status)
    db.session.commit()
    flash(_("The order was cancelled; %(points)d points are back in your account.", points=order.points), "success")
    return redirect(url_for("points.order", order_id=order.id), 303)


# --- Households -----------------------------------------------------------------------------------------------


def _render_household(errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    household = households.household_of(current_user)
    return _no_store(
        page_or_fragment(
            "points/household.html",
            "points/_household.html",
            status,
            summary=households.summary(household) if household is not None else None,
            errors=errors or {},
            values=values or {},
            name_max=households.NAME_MAX,
            max_members=households.MAX_MEMBERS,
        )
    )


def _household_action(action: Any, success: str, values: dict[str, str]) -> Response:
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        return _render_household({error.field or "form": str(error.message)}, values, error.status)
    db.session.commit()
    flash(success, "success")
    return redirect(url_for("points.household"), 303)


@bp.get("/household")
@login_required
def household() -> Response:
    return _render_household()


@bp.post("/household/create")
@login_required
def create_household() -> Response:
    name = request.form.get("name", "")[:200]
    return _household_action(
        lambda: households.create(current_user, name),
        _("Your household was created. Give the invite code to your family so they can join."),
        {"name": name},
    )


@bp.post("/household/join")
@login_required
@limiter.limit(
    lambda: current_app.config.get("RATELIMIT_HOUSEHOLD_JOIN", HOUSEHOLD_JOIN_LIMIT),
    key_func=lambda: f"household-join:{current_user.id}",
)
def join_household() -> Response:
    code = request.form.get("code", "")[:40]
    return _household_action(
        lambda: households.join(current_user, code), _("Welcome! You are now in this household."), {"code": code}
    )


@bp.post("/household/leave")
@login_required
def leave_household() -> Response:
    return _household_action(
        lambda: households.leave(current_user), _("You left the household. Your points stay yours."), {}
    )


@bp.post("/household/public")
@login_required
def household_public() -> Response:
    show = request.form.get("show_publicly", "") in {"1", "on", "yes", "true"}
    return _household_action(
        lambda: households.set_shown_publicly(current_user, show),
        _("Our household's name is now shown on the honour roll.")
        if show
        else _("Our household's name is no longer shown on the honour roll."),
        {},
    )


# --- Honour rolls ---------------------------------------------------------------------------------------------


def _period_from_args() -> localtime.Period:
    args = request.args
    return honour.parse_period(args.get("period"), args.get("year"), args.get("month"), args.get("quarter"))


@bp.get("/honour")
def honour_roll() -> Response:
    period = _period_from_args()
    viewer = current_user if current_user.is_authenticated else None
    return page_or_fragment(
        "points/honour.html",
        "points/_honour.html",
        rolls=honour.public_rolls(period) if viewer is None else honour.rolls(period, viewer),
        tabs=honour.tab_periods(period),
        top=honour.TOP_PEOPLE,
        started=period.has_started(),
    )


@bp.get("/honour/certificate")
@login_required
def certificate() -> Response:
    period = _period_from_args()
    row = honour.certificate_rank(current_user, period)
    if row is None:
        raise NotFound(
            _(
                "There is no certificate for you for %(period)s: certificates are for the top %(n)d residents "
                "of a period.",
                period=period.label,
                n=honour.TOP_PEOPLE,
            )
        )
    response = make_response(
        render_template(
            "points/certificate.html",
            period=period,
            row=row,
            name=current_user.display_name.strip(),
            final=period.is_over(),
            issued=localtime.today(),
        )
    )
    return _no_store(response)


# --- My participation record ----------------------------------------------------------------------------------


def _local_day(moment: datetime) -> str:
    return localtime.local_date(moment).isoformat()


def _history_detail(movement: ledger.Movement) -> str:
    parts = [movement.memo] if movement.memo else []
    if movement.report_id:
        parts.append(_("report #%(id)d", id=movement.report_id))
    return " · ".join(parts)


@bp.get("/me/participation.csv")
@login_required
def participation_csv() -> Response:
    """My reports and my points history in one table (UTF-8 with a BOM, so spreadsheet programs read Chinese)."""
    header = [_("Record"), _("Number"), _("Date"), _("What"), _("Status or detail"), _("Points")]
    rows: list[list[object]] = [
        [_("Report"), report.id, _local_day(report.created_at), f"{report.category_code} {report.category.name}",
         report.status.label, ""]
        for report in reports.reports_by(current_user, limit=EXPORT_LIMIT)
    ]  # fmt: skip
    rows += [
        [_("Points"), movement.id, _local_day(movement.created_at), reason_label(movement.reason),
         _history_detail(movement), movement.amount]
        for movement in ledger.history(current_user, limit=EXPORT_LIMIT)
    ]  # fmt: skip
    response = csvfile.response(header, rows, f"participation-{localtime.today().isoformat()}.csv")
    return _no_store(response)
