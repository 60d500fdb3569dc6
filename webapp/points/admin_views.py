"""Admin pages for points: rules, campaigns, store items and stock, the fund and its reconciliation.

Every page is for supervisors (admins); handing over (核销) has its own pages in ``points/handover``. Views stay
thin: they read the form, call one service, commit and redirect (303); a refused form is shown again with the
message next to the field and the status of the refusal (422 for invalid values). Services write the fund's
audit log (``store.audit``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError

from webapp import localtime
from webapp.accounts.access import roles_required
from webapp.accounts.models import Role
from webapp.campaigns import prefill
from webapp.campaigns import services as campaign_pages
from webapp.db import db, utcnow
from webapp.errors import DomainError, NotFound
from webapp.points import awards, campaigns, catalogue, fund, rules, store
from webapp.points.models import (
    Account,
    AccountKind,
    BudgetLine,
    FundAudit,
    LedgerEntry,
    LedgerTransaction,
    StoreItem,
    TransactionKind,
)
from webapp.rendering import page_or_fragment
from webapp.reports import taxonomy
from webapp.reports.models import Report
from webapp.reports.services import PhotoError

bp = Blueprint("points_admin", __name__, url_prefix="/admin/points")
admins_only = roles_required(Role.ADMIN)

# Where the fund's money comes from (fund.SOURCES keeps the values).
SOURCE_LABELS: dict[str, Any] = {
    "财政专项": _l("Special budget from the city (财政专项)"),
    "社会捐赠": _l("Donations (社会捐赠)"),
    "村集体收益": _l("Village collective income (村集体收益)"),
    "其他": _l("Other (其他)"),
}

# What each setting of the rules means, for people (rules.py keeps the keys).
SETTING_LABELS: dict[str, Any] = {
    "report_points": _l("Points for a valid report"),
    "safety_report_points": _l("Points for a valid report of a safety problem (manhole covers, gas, fire lanes …)"),
    "category_points": _l("Points for particular categories (instead of the two above)"),
    "emergency_multiplier": _l("Multiplier for emergencies (urgent and critical cases)"),
    "later_reporter_points": _l("Points for reporting a problem someone else reported first"),
    "volunteer_result_points": _l("Points for a volunteer's fix accepted at the check"),
    "rating_points": _l("Points for rating the result of a closed report"),
    "feedback_adopted_points": _l("Points for feedback on the platform that was adopted"),
    "daily_report_cap": _l("Valid reports a day that earn points"),
    "monthly_points_cap": _l("Most points a person can earn in a month, from all sources"),
    "expiry_enabled": _l("Points expire at the end of the year after the one they were earned in"),
    "fen_per_point": _l("What one point is worth to the fund, in fen"),
    "activity_garbage_sorting_points": _l("Points for attending a garbage-sorting guidance day"),
    "activity_legal_awareness_points": _l("Points for attending a legal-awareness event"),
    "activity_volunteer_day_points": _l("Points for a volunteer service day (after the minimum stay)"),
    "activity_traffic_duty_points": _l("Points for civilised-traffic duty"),
    "activity_launch_ceremony_points": _l("Points for attending a launch ceremony"),
    "activity_other_points": _l("Points for attending another community activity"),
}

# What the audit log's actions mean.
AUDIT_LABELS: dict[str, Any] = {
    "rules_published": _l("Rules published"),
    "campaign_created": _l("Campaign created"),
    "item_created": _l("Store item created"),
    "item_updated": _l("Store item changed"),
    "stock_purchased": _l("Goods bought"),
    "stock_adjusted": _l("Stock corrected"),
    "budget_line_added": _l("Budget line added"),
    "points_reversed": _l("Points taken back (false report)"),
    "service_point_set": _l("Service point chosen or removed"),
}

# The audit log's details, for people.
DETAIL_LABELS: dict[str, Any] = {
    "item": _l("Item number"),
    "quantity": _l("Quantity"),
    "cost_fen": _l("Cost (fen)"),
    "budget_line": _l("Budget line number"),
    "line": _l("Budget line number"),
    "note": _l("Note"),
    "name": _l("Name"),
    "source": _l("Source"),
    "amount_fen": _l("Amount (fen)"),
    "year": _l("Year"),
    "version": _l("Version"),
    "settings": _l("Settings"),
    "effective_from": _l("In force from"),
    "campaign": _l("Campaign number"),
    "categories": _l("Categories"),
    "places": _l("Places"),
    "starts_on": _l("First day"),
    "ends_on": _l("Last day"),
    "multiplier": _l("Multiplier"),
    "budget_points": _l("Budget (points)"),
    "changes": _l("Changes"),
    "report": _l("Report number"),
    "reason": _l("Reason"),
    "points": _l("Points"),
    "transactions": _l("Ledger transactions"),
    "name_zh": _l("Name in Chinese"),
    "name_en": _l("Name in English"),
    "description": _l("Description"),
    "points_price": _l("Price in points"),
    "per_person_limit": _l("Limit per person"),
    "available_from": _l("Available from"),
    "available_until": _l("Available until"),
    "home_delivery": _l("Home delivery"),
    "active": _l("On sale"),
    "photo_key": _l("Photo"),
    "department": _l("Department"),
    "service_point": _l("Service point"),
    **SETTING_LABELS,
}

CAMPAIGN_STATUS_LABELS: dict[str, Any] = {
    "scheduled": _l("Scheduled"),
    "active": _l("Active"),
    "ended": _l("Ended"),
}

AUDIT_PAGE_SIZE = 50
FIELD_ALIASES = {"photos": "photo"}  # a service's name for a field → the form's
DATE_INPUT = {"class": "pa-input"}
YEARS = (2000, 2100)  # dates people may type: keeps every date far from the ends of what computers count


# --- Helpers ------------------------------------------------------------------------------------------------------


def _context(**extra: Any) -> dict[str, Any]:
    return {"yuan": fund.yuan, "section": extra.pop("section", ""), **extra}


def _render(template: str, status: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **_context(**context)), status)


def _refuse(form: FlaskForm, error: DomainError) -> int:
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


def _done(message: str, target: str) -> Response:
    db.session.commit()
    flash(message, "success")
    return redirect(target, 303)


def _in_years(day: date | datetime | None) -> bool:
    return day is None or YEARS[0] <= day.year <= YEARS[1]


class DateRange:
    """A date field's bounds (typed years 2000–2100)."""

    def __init__(self, message: Any = None) -> None:
        self.message = message or _l("Please enter a date between the years 2000 and 2100.")

    def __call__(self, form: FlaskForm, field: Any) -> None:
        if not _in_years(field.data):
            raise ValidationError(str(self.message))


class WholeNumberField(IntegerField):
    """A whole number; text that is not one gets one clear message (not a second one about the range)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or valuelist[0] in ("", None):
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(_("Please enter a whole number, without decimals or letters.")) from None

    def pre_validate(self, form: Any) -> None:
        if self.process_errors:
            raise StopValidation()


def _whole(label: Any, low: int, high: int, **kwargs: Any) -> IntegerField:
    return WholeNumberField(
        label,
        validators=[
            InputRequired(message=_l("Please enter a whole number.")),
            NumberRange(low, high, message=_l("Please enter a whole number from %(min)s to %(max)s.")),
        ],
        **kwargs,
    )


def _money(label: Any, **kwargs: Any) -> StringField:
    return StringField(
        label,
        validators=[InputRequired(message=_l("Please enter an amount in yuan.")), Length(max=20)],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"},
        **kwargs,
    )


# --- Overview -----------------------------------------------------------------------------------------------------


@bp.get("/")
@admins_only
def index() -> Response:
    today = localtime.today()
    all_campaigns = campaigns.all_campaigns()
    items = catalogue.all_items()
    return _render(
        "points/admin/index.html",
        section="index",
        current=rules.effective(),
        active_campaigns=[c for c in all_campaigns if campaigns.status(c, today) == "active"],
        low_stock=[i for i in items if i.active and i.stock < 5],
        waiting=len(store.waiting_orders()),
    )


# --- Rules --------------------------------------------------------------------------------------------------------


class RulesForm(FlaskForm):
    category_points = TextAreaField(
        SETTING_LABELS["category_points"], validators=[Optional(), Length(max=5000)], render_kw={"rows": 4}
    )
    expiry_enabled = BooleanField(SETTING_LABELS["expiry_enabled"])
    effective_from = DateTimeLocalField(
        _l("In force from (Beijing time)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        tz=localtime.zone,
        validators=[Optional(), DateRange()],
        render_kw={"class": "pa-input"},
    )
    note = TextAreaField(
        _l("Note (why the rules change)"), validators=[Optional(), Length(max=300)], render_kw={"rows": 2}
    )


def _add_setting_fields() -> None:
    """One number field per setting of the rules, with the bounds rules.py allows."""
    for key, (low, high) in rules.LIMITS.items():
        setattr(RulesForm, key, _whole(SETTING_LABELS[key], low, high))


_add_setting_fields()


def parse_category_points(text: str | None) -> dict[str, int]:
    """Lines like "01002 15": a 5-digit category code and the points its valid reports earn."""
    overrides: dict[str, int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.replace("=", " ").replace(":", " ").replace("：", " ").split()
        if not parts:
            continue
        if (
            len(parts) != 2
            or not (len(parts[0]) == 5 and parts[0].isascii() and parts[0].isdigit())
            or not (parts[1].isascii() and parts[1].isdigit())
        ):
            raise rules.RulesError(
                _("Line %(n)d: write a 5-digit category code and the points, like “01002 15”.", n=number),
                field="category_points",
            )
        code, digits = parts
        if taxonomy.active_category(code) is None:
            raise rules.RulesError(
                _("Line %(n)d: there is no category %(code)s.", n=number, code=code), field="category_points"
            )
        if code in overrides:
            raise rules.RulesError(
                _("Line %(n)d: category %(code)s is listed twice.", n=number, code=code), field="category_points"
            )
        if len(digits) > 3 or int(digits) > 200:
            raise rules.RulesError(
                _("Line %(n)d: at most 200 points for a category.", n=number), field="category_points"
            )
        overrides[code] = int(digits)
    return overrides


def _rules_page(form: RulesForm, status: int = 200) -> Response:
    current = rules.effective()
    history = rules.versions()
    now = utcnow()
    in_force = next((row for row in history if row.version == current.version), None)
    return _render(
        "points/admin/rules.html",
        status,
        section="rules",
        form=form,
        current=current,
        in_force=in_force,
        history=history,
        now=now,
        labels=SETTING_LABELS,
        limits=rules.LIMITS,
        category_name=_category_name,
    )


def _category_name(code: str) -> str:
    category = taxonomy.active_category(code)
    return category.name if category is not None else _("(retired)")


@bp.get("/rules")
@admins_only
def rules_page() -> Response:
    form = RulesForm()
    current = rules.effective()
    for key in rules.LIMITS:
        form[key].data = current[key]
    form.expiry_enabled.data = bool(current["expiry_enabled"])
    overrides = current["category_points"] or {}
    form.category_points.data = "\n".join(f"{code} {points}" for code, points in sorted(overrides.items()))
    form.effective_from.data = utcnow().astimezone(localtime.zone()).replace(second=0, microsecond=0)
    return _rules_page(form)


@bp.post("/rules")
@admins_only
def publish_rules() -> Response:
    form = RulesForm()
    if not form.validate():
        return _rules_page(form, 422)
    try:
        settings: dict[str, Any] = {key: form[key].data for key in rules.LIMITS}
        settings["category_points"] = parse_category_points(form.category_points.data)
        settings["expiry_enabled"] = bool(form.expiry_enabled.data)
        row = rules.publish(
            settings,
            effective_from=form.effective_from.data or utcnow(),
            admin=current_user,
            note=form.note.data or "",
        )
    except DomainError as error:
        return _rules_page(form, _refuse(form, error))
    message = _(
        "Version %(version)d of the rules is published. It applies from %(when)s; points already given keep "
        "the rules they were given under.",
        version=row.version,
        when=row.effective_from.astimezone(localtime.zone()).strftime("%Y-%m-%d %H:%M"),
    )
    if rules.starts_mid_month(row.effective_from):
        message += " " + _(
            "It starts in the middle of a month: that month's cap of %(cap)d points counts what was earned before "
            "the change too.",
            cap=row.settings["monthly_points_cap"],
        )
    return _done(message, url_for("points_admin.rules_page"))


# --- Campaigns ----------------------------------------------------------------------------------------------------


class CampaignForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[InputRequired(message=_l("Please give the campaign a name.")), Length(max=80)]
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 3})
    categories = StringField(
        _l("Categories (5-digit codes, separated by spaces)"),
        validators=[InputRequired(message=_l("Please give at least one category code.")), Length(max=1000)],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "placeholder": "06042 06010"},
    )
    places = StringField(
        _l("Places: grid or street codes, or their first digits (empty: everywhere)"),
        validators=[Optional(), Length(max=2000)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    starts_on = DateField(
        _l("First day"),
        validators=[InputRequired(message=_l("Please choose the first day.")), DateRange()],
        render_kw=DATE_INPUT,
    )
    ends_on = DateField(
        _l("Last day"),
        validators=[InputRequired(message=_l("Please choose the last day.")), DateRange()],
        render_kw=DATE_INPUT,
    )
    multiplier = _whole(_l("Multiplier of the base points (1–10)"), *campaigns.MULTIPLIER_RANGE, default=2)
    budget_points = _whole(_l("Budget: most bonus points the campaign may give"), 0, campaigns.BUDGET_MAX)
    published = BooleanField(_l("Show a public page of the campaign to residents"), default=True)


def _campaigns_page(form: CampaignForm, status: int = 200, hotspot: prefill.Prefill | None = None) -> Response:
    today = localtime.today()
    rows = [(c, campaigns.status(c, today), awards.campaign_spent(c)) for c in campaigns.all_campaigns()]
    return _render(
        "points/admin/campaigns.html",
        status,
        section="campaigns",
        form=form,
        rows=rows,
        status_labels=CAMPAIGN_STATUS_LABELS,
        category_name=_category_name,
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
        return _campaigns_page(form, _refuse(form, error))
    return _done(_("Campaign “%(name)s” created.", name=campaign.name), url_for("points_admin.campaigns_page"))


# --- Store items and stock ----------------------------------------------------------------------------------------


class ItemForm(FlaskForm):
    name_zh = StringField(
        _l("Name in Chinese"),
        validators=[InputRequired(message=_l("Please give the item's Chinese name.")), Length(max=60)],
    )
    name_en = StringField(_l("Name in English (optional)"), validators=[Optional(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 3})
    points_price = _whole(_l("Price in points"), *catalogue.PRICE_RANGE)
    cost = _money(_l("What one costs the fund, in yuan"))
    per_person_limit = _whole(_l("Most one person may order (0: no limit)"), 0, catalogue.LIMIT_MAX, default=0)
    available_from = DateField(
        _l("Available from (optional)"), validators=[Optional(), DateRange()], render_kw=DATE_INPUT
    )
    available_until = DateField(
        _l("Available until (optional)"), validators=[Optional(), DateRange()], render_kw=DATE_INPUT
    )
    home_delivery = BooleanField(_l("Can be delivered to the home (for older residents)"), default=True)
    active = BooleanField(_l("On sale"), default=True)
    photo = FileField(_l("Photo (optional)"), render_kw={"accept": "image/*"})


class PurchaseForm(FlaskForm):
    quantity = _whole(_l("Quantity bought"), 1, 100_000)
    cost = _money(_l("What they cost in all, in yuan"))
    budget_line = SelectField(_l("Paid from the budget line"), validators=[Optional()])
    note = StringField(_l("Note (supplier, invoice number)"), validators=[Optional(), Length(max=200)])


class AdjustForm(FlaskForm):
    quantity = _whole(_l("Difference (+ found, − broken or lost)"), -100_000, 100_000)
    note = StringField(_l("Reason"), validators=[InputRequired(message=_l("Please give the reason.")), Length(max=200)])


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
    return _render("points/admin/items.html", section="items", items=catalogue.all_items())


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
                status = _refuse(form, error)
            else:
                return _done(
                    _("“%(name)s” is in the store. Record a purchase to put goods on the shelf.", name=item.name_zh),
                    url_for("points_admin.item_page", item_id=item.id),
                )
    return _render("points/admin/item_new.html", status, section="items", form=form)


def _item_page(item: StoreItem, status: int = 200, **forms: Any) -> Response:
    if "form" not in forms:
        form = ItemForm(obj=item, formdata=None)
        form.cost.data = fund.yuan(item.cost_fen)
        forms["form"] = form
    forms.setdefault("purchase_form", _purchase_form(formdata=None))
    forms.setdefault("adjust_form", AdjustForm(prefix="adjust", formdata=None))
    return _render(
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
        status = _refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, form=form)
    return _done(_("“%(name)s” saved.", name=item.name_zh), url_for("points_admin.item_page", item_id=item.id))


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
        status = _refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, purchase_form=form)
    return _done(
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
        status = _refuse(form, error)
        return _item_page(catalogue.get_item(item_id), status, adjust_form=form)
    return _done(
        _("Stock of “%(name)s” corrected: %(n)d on the shelf.", name=item.name_zh, n=item.stock),
        url_for("points_admin.item_page", item_id=item.id),
    )


# --- The fund -----------------------------------------------------------------------------------------------------


class BudgetLineForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(message=_l("Please give a name.")), Length(max=80)])
    source = SelectField(_l("Source"), choices=[SelectChoice(s, SOURCE_LABELS.get(s, s)) for s in fund.SOURCES])
    amount = _money(_l("Amount in yuan"))
    year = _whole(_l("Year"), *YEARS)


class PeriodError(DomainError):
    code = "invalid_period"


def _parse_day(value: str | None, field: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10 or not _in_years(day):
        raise PeriodError(_("Please enter dates as year-month-day, like 2026-05-01."), field=field)
    return day


def _period(args: Any) -> tuple[date, date]:
    """The reconciliation period from the query string: whole local days, this month so far by default."""
    today = localtime.today()
    start = _parse_day(args.get("start"), "start") or today.replace(day=1)
    end = _parse_day(args.get("end"), "end") or today
    if end < start:
        raise PeriodError(_("The period must start on or before the day it ends."), field="end")
    if start > today:
        raise PeriodError(_("The period cannot start in the future."), field="start")
    return start, end


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return localtime.midnight(start), localtime.midnight(end + timedelta(days=1))


def _audit_rows(page: int) -> tuple[list[tuple[FundAudit, dict[str, Any]]], bool]:
    rows = list(
        db.session.scalars(
            sa.select(FundAudit)
            .order_by(FundAudit.created_at.desc(), FundAudit.id.desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE + 1)
        )
    )
    result = []
    for row in rows[:AUDIT_PAGE_SIZE]:
        try:
            details = json.loads(row.details_json or "{}")
        except ValueError:
            details = {"details": row.details_json}
        result.append((row, details if isinstance(details, dict) else {"details": details}))
    return result, len(rows) > AUDIT_PAGE_SIZE


def _fund_page(line_form: BudgetLineForm | None = None, status: int = 200) -> Response:
    if line_form is None:
        line_form = BudgetLineForm(prefix="line", formdata=None)
        line_form.year.data = localtime.today().year
    period_error: str | None = None
    period_field: str | None = None
    report = None
    start_text = request.args.get("start", "")
    end_text = request.args.get("end", "")
    try:
        start, end = _period(request.args)
        start_text, end_text = start.isoformat(), end.isoformat()
        report = fund.reconcile(*_bounds(start, end))
    except DomainError as error:
        db.session.rollback()
        period_error, period_field = str(error.message), error.field
        status = max(status, error.status)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 10_000)
    audit_rows, more = _audit_rows(page)
    lines = fund.budget_lines()
    return page_or_fragment(
        "points/admin/fund.html",
        "points/admin/_reconciliation.html",
        status,
        **_context(
            section="fund",
            line_form=line_form,
            lines=lines,
            lines_total=sum(line.amount_fen for line in lines),
            report=report,
            start=start_text,
            end=end_text,
            period_error=period_error,
            period_field=period_field,
            audit_rows=audit_rows,
            audit_labels=AUDIT_LABELS,
            detail_labels=DETAIL_LABELS,
            source_labels=SOURCE_LABELS,
            audit_page=page,
            more=more,
            user_label=_user_label,
        ),
    )


def _user_label(user: Any) -> str:
    if user is None:
        return _("the system")
    return f"{user.display_name or user.role.label} ({user.masked_phone})"


@bp.get("/fund")
@admins_only
def fund_page() -> Response:
    return _fund_page()


@bp.post("/fund/budget-lines")
@admins_only
def add_budget_line() -> Response:
    form = BudgetLineForm(prefix="line")
    if not form.validate():
        return _fund_page(form, 422)
    try:
        line = fund.add_budget_line(
            current_user,
            name=form.name.data or "",
            source=form.source.data,
            amount_fen=catalogue.parse_yuan(form.amount.data, field="amount"),
            year=form.year.data,
        )
    except DomainError as error:
        return _fund_page(form, _refuse(form, error))
    return _done(
        _("Budget line “%(name)s” added: ¥%(amount)s.", name=line.name, amount=fund.yuan(line.amount_fen)),
        url_for("points_admin.fund_page"),
    )


@bp.get("/fund/reconciliation.csv")
@admins_only
def reconciliation_csv() -> Response:
    start, end = _period(request.args)
    report = fund.reconcile(*_bounds(start, end))
    response = make_response(fund.to_csv(report))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="reconciliation-{start.isoformat()}-{end.isoformat()}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Taking back the points of a false report ---------------------------------------------------------------------


class ReverseForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[InputRequired(message=_l("Please give a reason.")), Length(max=300)],
        render_kw={"rows": 2},
    )


def _report_points(report: Report) -> list[tuple[LedgerTransaction, int]]:
    """What the report moved on residents' accounts: its awards (+) and reversals (−), oldest first."""
    rows = db.session.execute(
        sa.select(LedgerTransaction, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.report_id == report.id,
            LedgerTransaction.kind.in_((TransactionKind.AWARD, TransactionKind.REVERSAL)),
            Account.kind == AccountKind.RESIDENT,
        )
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    ).all()
    return [(transaction, int(amount)) for transaction, amount in rows]


def _reverse_page(report: Report, form: ReverseForm, status: int = 200) -> Response:
    return _render(
        "points/admin/reverse.html", status, section="", report=report, form=form, movements=_report_points(report)
    )


def _get_report(report_id: int) -> Report:
    report = db.session.get(Report, report_id)
    if report is None:
        raise NotFound(_("This report does not exist."))
    return report


@bp.get("/reports/<id:report_id>/reverse")
@admins_only
def reverse_form(report_id: int) -> Response:
    return _reverse_page(_get_report(report_id), ReverseForm())


@bp.post("/reports/<id:report_id>/reverse")
@admins_only
def reverse(report_id: int) -> Response:
    report = _get_report(report_id)
    form = ReverseForm()
    if not form.validate():
        return _reverse_page(report, form, 422)
    reason = (form.reason.data or "").strip()
    try:
        done = awards.reverse_report(report, current_user, reason)
        taken = sum(
            -entry.amount
            for transaction in done
            for entry in transaction.entries
            if entry.amount < 0 and entry.account.kind is AccountKind.RESIDENT
        )
        if done:
            # awards.reverse_report writes the ledger but not the fund's audit log: record the decision here.
            store.audit(
                current_user,
                "points_reversed",
                report=report.id,
                reason=reason,
                points=taken,
                transactions=[t.id for t in done],
            )
            db.session.flush()
    except DomainError as error:
        return _reverse_page(_get_report(report_id), form, _refuse(form, error))
    target = url_for("review.case", report_id=report.id)
    if not done:
        db.session.rollback()
        flash(
            _(
                "Nothing was taken back: the points of report #%(id)d were already taken back, or the resident "
                "has none left.",
                id=report.id,
            ),
            "info",
        )
        return redirect(target, 303)
    return _done(_("%(points)d points of report #%(id)d taken back.", points=taken, id=report.id), target)
