"""Points admin: the store's items, their photos, purchases of stock and stock corrections."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    current_app,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp.db import db
from webapp.errors import DomainError
from webapp.points import catalogue, fund, store
from webapp.points.admin.common import admins_only, bp, finish, refuse, render
from webapp.points.admin.forms import AdjustForm, ItemForm, PurchaseForm
from webapp.points.models import (
    BudgetLine,
    StoreItem,
)
from webapp.reports.services import PhotoError


def _purchase_form(**kwargs: Any) -> PurchaseForm:
    form = PurchaseForm(prefix="purchase", **kwargs)
    form.budget_line.choices = [
        SelectChoice("", _("— none —")),
        *[SelectChoice(str(line.id), f"{line.year} · {line.name} · {line.source}") for line in fund.budget_lines()],
    ]
    return form


def _item_data(form: ItemForm) -> catalogue.ItemData:
    return catalogue.ItemData(
        name_zh=form.name_zh.data or "",
        name_en=form.name_en.data or "",
        description=form.description.data or "",
        points_price=form.points_price.data,
        cost_fen=catalogue.parse_yuan(form.cost.data),
        per_person_limit=form.per_person_limit.data,
        available_from=form.available_from.data,
        available_until=form.available_until.data,
        home_delivery=bool(form.home_delivery.data),
        active=bool(form.active.data),
    )


def _uploaded_photo(form: ItemForm) -> bytes | None:
    upload = request.files.get(form.photo.name)
    if upload is None or not (upload.filename or upload.content_length):
        return None
    limit = current_app.config["PHOTO_MAX_BYTES"]
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise PhotoError(
            _("The photo is too large: at most %(mb)d MB.", mb=limit // 2**20), status=413, code="photo_too_large"
        )
    return data


def _photo_options() -> dict[str, Any]:
    config = current_app.config
    return {
        "storage": current_app.extensions["storage"],
        "max_photo_bytes": config["PHOTO_MAX_BYTES"],
        "max_photo_pixels": config["PHOTO_MAX_PIXELS"],
    }


@bp.get("/items")
@admins_only
def items_page() -> Response:
    return render("points/admin/items.html", section="items", items=catalogue.all_items())


@bp.route("/items/new", methods=["GET", "POST"])
@admins_only
def new_item() -> Response:
    form = ItemForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                item = catalogue.create_item(
                    current_user, _item_data(form), photo=_uploaded_photo(form), **_photo_options()
                )
            except DomainError as error:
                status = refuse(form, error)
            else:
                return finish(
                    _("“%(name)s” is in the store. Record a purchase to put goods on the shelf.", name=item.name_zh),
                    url_for("points_admin.item_page", item_id=item.id),
                )
    return render("points/admin/item_new.html", status, section="items", form=form)


def _item_page(item: StoreItem, status: int = 200, **forms: Any) -> Response:
    if "form" not in forms:
        form = ItemForm(obj=item, formdata=None)
        form.cost.data = fund.yuan(item.cost_fen)
        forms["form"] = form
    forms.setdefault("purchase_form", _purchase_form(formdata=None))
    forms.setdefault("adjust_form", AdjustForm(prefix="adjust", formdata=None))
    return render(
        "points/admin/item.html",
        status,
        section="items",
        item=item,
        movements=catalogue.movements(item),
        **forms,
    )


@bp.get("/items/<id:item_id>")
@admins_only
def item_page(item_id: int) -> Response:
    return _item_page(catalogue.get_item(item_id))


@bp.post("/items/<id:item_id>")
@admins_only
def edit_item(item_id: int) -> Response:
    item = catalogue.get_item(item_id)
    form = ItemForm()
    if not form.validate():
        return _item_page(item, 422, form=form)
    try:
        catalogue.update_item(item, current_user, _item_data(form), photo=_uploaded_photo(form), **_photo_options())
    except DomainError as error:
        status = refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, form=form)
    return finish(_("“%(name)s” saved.", name=item.name_zh), url_for("points_admin.item_page", item_id=item.id))


@bp.post("/items/<id:item_id>/purchase")
@admins_only
def purchase(item_id: int) -> Response:
    item = catalogue.get_item(item_id)
    form = _purchase_form()
    if not form.validate():
        return _item_page(item, 422, purchase_form=form)
    try:
        line = db.session.get(BudgetLine, int(form.budget_line.data)) if form.budget_line.data else None
        store.purchase(
            item,
            current_user,
            quantity=form.quantity.data,
            cost_fen=catalogue.parse_yuan(form.cost.data),
            budget_line=line,
            note=(form.note.data or "").strip(),
        )
    except DomainError as error:
        status = refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, purchase_form=form)
    return finish(
        _("%(n)d × “%(name)s” added to the stock.", n=form.quantity.data, name=item.name_zh),
        url_for("points_admin.item_page", item_id=item.id),
    )


@bp.post("/items/<id:item_id>/adjust")
@admins_only
def adjust(item_id: int) -> Response:
    item = catalogue.get_item(item_id)
    form = AdjustForm(prefix="adjust")
    if not form.validate():
        return _item_page(item, 422, adjust_form=form)
    try:
        store.adjust(item, current_user, quantity=form.quantity.data, note=form.note.data or "")
    except DomainError as error:
        status = refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, adjust_form=form)
    return finish(
        _("Stock of “%(name)s” corrected: %(n)d on the shelf.", name=item.name_zh, n=item.stock),
        url_for("points_admin.item_page", item_id=item.id),
    )
