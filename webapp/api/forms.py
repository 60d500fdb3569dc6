"""The admin form that issues an Open311 API key."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.api.models import NAME_MAX
from webapp.extensions import lazy_gettext as _l


class ApiKeyForm(FlaskForm):
    name = StringField(
        _l("Client name"),
        validators=[
            DataRequired(_l("Please name the client the key is for.")),
            Length(max=NAME_MAX, message=_l("The name is too long: at most %(max)d characters.")),
        ],
        render_kw={"maxlength": NAME_MAX, "autocomplete": "off"},
    )
