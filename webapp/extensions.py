"""Flask extensions, created once and bound to the app in create_app."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, request
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.session_protection = "basic"  # mobile networks change IP addresses often

csrf = CSRFProtect()
htmx = Htmx()
migrate = Migrate()
compress = Compress()
limiter = Limiter(get_remote_address)


def select_locale() -> str:
    """The user's saved language, else the language cookie, else Simplified Chinese."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and background work
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    cookie = request.cookies.get("lang")
    if cookie in languages:
        return cookie
    return current_app.config["BABEL_DEFAULT_LOCALE"]


babel = Babel()


def is_english() -> bool:
    """Whether to show English names of data (categories, departments); Chinese outside a request.

    Reads the locale Flask-Babel worked out once for the request (a list page asks this for every row)."""
    if not has_request_context():
        return False
    from flask_babel import get_locale

    locale = get_locale()
    return locale is not None and locale.language == "en"


def list_of(items: Any) -> str:
    """Words joined as the page's language joins them: “A、B和C” in Chinese, “A, B, and C” in English."""
    from babel.lists import format_list
    from flask_babel import get_locale

    words = [str(item) for item in items]
    return format_list(words, locale=str(get_locale() or "zh_Hans_CN")) if words else ""
