"""Forms of the activities pages (field names match the services' ActivityData)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from webapp import localtime
from webapp.activities.models import KIND_LABELS, ActivityKind
from webapp.activities.services import ADDRESS_MAX, CAPACITY_MAX, DESCRIPTION_MAX, TITLE_MAX
from webapp.extensions import lazy_gettext as _l

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
WHOLE = _l("Please enter a whole number.")


def _when(label: object, required: bool) -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        format=DATETIME_FORMATS,
        tz=localtime.zone,
        validators=[InputRequired(message=_l("Please give a date and time."))] if required else [Optional()],
    )


class ActivityForm(FlaskForm):
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        default=ActivityKind.OTHER.value,
    )
    title = StringField(
        _l("Title"), validators=[InputRequired(message=_l("Please give the activity a title.")), Length(max=TITLE_MAX)]
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=DESCRIPTION_MAX)])
    address = StringField(
        _l("Place (address)"),
        validators=[InputRequired(message=_l("Please say where the activity takes place.")), Length(max=ADDRESS_MAX)],
    )
    lat = FloatField(_l("Latitude (optional map pin)"), validators=[Optional()])
    lon = FloatField(_l("Longitude (optional map pin)"), validators=[Optional()])
    starts_at = _when(_l("Starts (%(zone)s)", zone=localtime.ZONE_LABEL), True)
    ends_at = _when(_l("Ends (%(zone)s)", zone=localtime.ZONE_LABEL), True)
    capacity = IntegerField(
        _l("Places"),
        validators=[InputRequired(message=WHOLE), NumberRange(1, CAPACITY_MAX)],
        default=30,
    )
    signup_opens_at = _when(_l("Sign-up opens (optional)"), False)
    signup_closes_at = _when(_l("Sign-up closes (optional; by default at the start)"), False)
    min_stay_minutes = IntegerField(
        _l("Minimum stay in minutes (optional; needs check-out, counts as volunteer hours)"),
        validators=[Optional(), NumberRange(1, 3 * 24 * 60)],
    )
    checkin_radius_m = IntegerField(
        _l("Check-in only within this many metres of the pin (optional)"),
        validators=[Optional(), NumberRange(20, 5000)],
    )


class SignupForm(FlaskForm):
    """Sign up or cancel: only the CSRF token."""


class CheckinForm(FlaskForm):
    t = StringField(validators=[InputRequired(), Length(max=40)])
    s = StringField(validators=[Optional(), Length(max=400)])
    lat = FloatField(validators=[Optional()])
    lon = FloatField(validators=[Optional()])


class OrganiserCheckForm(FlaskForm):
    who = StringField(
        _l("Phone number or personal code"),
        validators=[
            InputRequired(message=_l("Please type the phone number or scan the personal code.")),
            Length(max=40),
        ],
    )
    action = SelectField(
        _l("Action"), choices=[SelectChoice("in", _l("Check in")), SelectChoice("out", _l("Check out"))], default="in"
    )


class CertificateForm(FlaskForm):
    name = StringField(_l("Name on the certificate (as you wish; may be left empty)"), validators=[Length(max=40)])
    period = SelectField(
        _l("Period"),
        choices=[
            SelectChoice("month", _l("Month")),
            SelectChoice("quarter", _l("Quarter")),
            SelectChoice("year", _l("Year")),
        ],
        default="year",
    )
    year = IntegerField(_l("Year"), validators=[InputRequired(message=WHOLE), NumberRange(2020, 2100)])
    number = IntegerField(_l("Month or quarter"), validators=[Optional(), NumberRange(1, 12)])
