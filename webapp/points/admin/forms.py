"""The forms of the points admin pages (rules, campaigns, store items, stock, the fund, reversals) and the
label tables that name settings, sources, audit actions and details for people."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError

from webapp import localtime
from webapp.extensions import lazy_gettext as _l
from webapp.points import campaigns, catalogue, fund, rules

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


DATE_INPUT = {"class": "pa-input"}


YEARS = (2000, 2100)  # dates people may type: keeps every date far from the ends of what computers count


def in_years(day: date | datetime | None) -> bool:
    return day is None or YEARS[0] <= day.year <= YEARS[1]


class DateRange:
    """A date field's bounds (typed years 2000–2100)."""

    def __init__(self, message: Any = None) -> None:
        self.message = message or _l("Please enter a date between the years 2000 and 2100.")

    def __call__(self, form: FlaskForm, field: Any) -> None:
        if not in_years(field.data):
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


class RulesForm(FlaskForm):
    category_points = TextAreaField(
        SETTING_LABELS["category_points"], validators=[Optional(), Length(max=5000)], render_kw={"rows": 4}
    )
    expiry_enabled = BooleanField(SETTING_LABELS["expiry_enabled"])
    effective_from = DateTimeLocalField(
        _l("In force from (%(zone)s)", zone=localtime.ZONE_LABEL),
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


class BudgetLineForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(message=_l("Please give a name.")), Length(max=80)])
    source = SelectField(_l("Source"), choices=[SelectChoice(s, SOURCE_LABELS.get(s, s)) for s in fund.SOURCES])
    amount = _money(_l("Amount in yuan"))
    year = _whole(_l("Year"), *YEARS)


class ReverseForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[InputRequired(message=_l("Please give a reason.")), Length(max=300)],
        render_kw={"rows": 2},
    )
