from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from webapp.accounts.services import DISPLAY_NAME_MAX, PASSWORD_MAX
from webapp.extensions import lazy_gettext as _l

PHONE_FIELD_KW = {
    "render_kw": {"inputmode": "numeric", "autocomplete": "tel", "maxlength": 20},
}


class LoginForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired()], **PHONE_FIELD_KW)
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me logged in on this phone"), default=True)


class PhoneForm(FlaskForm):
    """Asks for an SMS code."""

    phone = StringField(_l("Mobile number"), validators=[DataRequired()], **PHONE_FIELD_KW)


class RegisterForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired()], **PHONE_FIELD_KW)
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(), Length(max=6)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6},
    )
    password = PasswordField(
        _l("Password (at least 8 characters)"),
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
    display_name = StringField(_l("Name or nickname (optional)"), validators=[Optional(), Length(max=DISPLAY_NAME_MAX)])


class ResetPasswordForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[DataRequired()], **PHONE_FIELD_KW)
    code = StringField(
        _l("Verification code"),
        validators=[DataRequired(), Length(max=6)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6},
    )
    password = PasswordField(
        _l("New password (at least 8 characters)"),
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Name or nickname"), validators=[Optional(), Length(max=DISPLAY_NAME_MAX)])
    show_name_publicly = BooleanField(_l("Show my name on my public reports"))
    large_text = BooleanField(_l("Large text"))
    notify_by_sms = BooleanField(_l("Also send news about my reports by text message"))
    notify_only_important = BooleanField(
        _l("Tell me about my reports only when one is fixed or needs me (not every step)")
    )
    locale = RadioField(
        _l("Language"),
        choices=[SelectChoice("zh_Hans_CN", "中文"), SelectChoice("en", "English")],
        default="zh_Hans_CN",
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        _l("New password (at least 8 characters)"),
        validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        render_kw={"autocomplete": "new-password"},
    )
