"""Forms of platform feedback (意见反馈): the public form and the admin's triage form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from webapp.extensions import lazy_gettext as _l
from webapp.feedback.models import FeedbackKind, ReplyChannel
from webapp.feedback.platform.services import CHANNEL_LABELS, KIND_LABELS, REPLY_MAX, TEXT_MAX


class FeedbackForm(FlaskForm):
    client_id = HiddenField()
    kind = RadioField(
        _l("What is it about?"),
        choices=[SelectChoice(kind.value, KIND_LABELS[kind]) for kind in FeedbackKind],
        validators=[InputRequired(message=_l("Please choose what your feedback is about."))],
    )
    text = TextAreaField(
        _l("Your feedback"),
        validators=[
            InputRequired(message=_l("Please write your feedback.")),
            Length(max=TEXT_MAX, message=_l("The feedback is too long: at most %(max)d characters.")),
        ],
        render_kw={"rows": 6, "maxlength": TEXT_MAX},
    )
    screenshot = FileField(_l("Screenshot (optional)"), render_kw={"accept": "image/*"})
    reply_via = RadioField(
        _l("How should we reply?"),
        choices=[SelectChoice(channel.value, CHANNEL_LABELS[channel]) for channel in ReplyChannel],
        validators=[InputRequired(message=_l("Please choose how we should reply."))],
    )
    phone = StringField(
        _l("Mobile number for the SMS reply"),
        validators=[Optional(), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "tel", "maxlength": 20},
    )


class TriageForm(FlaskForm):
    message = TextAreaField(
        _l("Reply to the resident (optional; needed for “Reply”)"),
        validators=[
            Optional(),
            Length(max=REPLY_MAX, message=_l("The reply is too long: at most %(max)d characters.")),
        ],
        render_kw={"rows": 4, "maxlength": REPLY_MAX},
    )
