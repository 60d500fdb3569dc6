from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from webapp.extensions import lazy_gettext as _l
from webapp.reports.models import SEVERITY_LABELS, Severity


class CaseForm(FlaskForm):
    """Every action on a case carries the version the reviewer saw, so a stale form is refused."""

    version = HiddenField(validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])

    @property
    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None


class AcceptForm(CaseForm):
    category = SelectField(_l("Category (confirm or correct)"), validators=[DataRequired()])
    severity = RadioField(
        _l("Severity"),
        choices=[SelectChoice(s.value, SEVERITY_LABELS[s]) for s in Severity],
        default=Severity.GENERAL.value,
        validators=[DataRequired()],
    )
    department = SelectField(_l("Department"), validators=[Optional()])
    for_volunteers = BooleanField(_l("Leave it to volunteers (simple problems only)"))


class RejectForm(CaseForm):
    reason = SelectField(_l("Reason"), validators=[DataRequired()])
    duplicate_of = IntegerField(_l("Number of the original report"), validators=[Optional(), NumberRange(min=1)])


class DispatchForm(CaseForm):
    department = SelectField(_l("Department"), validators=[DataRequired()])


class ExtensionDecisionForm(CaseForm):
    request_id = HiddenField(validators=[DataRequired()])
    decision = HiddenField(validators=[DataRequired()])


class BulkForm(FlaskForm):
    action = SelectField(
        _l("Action"),
        choices=[
            SelectChoice("accept", _l("Open the cases and dispatch them as suggested")),
            SelectChoice("reject", _l("Refuse the cases")),
        ],
    )
    reason = SelectField(_l("Reason"), validators=[Optional()])
