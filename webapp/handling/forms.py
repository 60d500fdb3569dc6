from __future__ import annotations

from wtforms import IntegerField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange

from webapp.extensions import lazy_gettext as _l
from webapp.reports.models import TimeUnit
from webapp.review.forms import CaseForm


class ExtensionForm(CaseForm):
    extra_value = IntegerField(_l("How much more time"), validators=[DataRequired(), NumberRange(min=1, max=200)])
    extra_unit = RadioField(
        _l("Unit"),
        choices=[
            SelectChoice(TimeUnit.WORK_HOURS.value, _l("working hours")),
            SelectChoice(TimeUnit.WORK_DAYS.value, _l("working days")),
        ],
        default=TimeUnit.WORK_DAYS.value,
    )
