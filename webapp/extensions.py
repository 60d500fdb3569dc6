"""Flask extensions, created once and bound to the app in create_app."""

from __future__ import annotations

import weakref
from typing import Any

import flask_babel
from flask import current_app, g, has_app_context, has_request_context, request
from flask_babel import Babel, get_locale, get_timezone, get_translations
from flask_babel.speaklater import LazyString
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


def _babel_state() -> Any:
    try:
        return vars(g._get_current_object()).get("_flask_babel")
    except RuntimeError:  # no application context
        return None


def request_locale() -> Any:
    """``flask_babel.get_locale()``, read straight from Flask-Babel's request state once it has chosen (or
    ``force_locale`` set) the locale: ``get_locale`` goes through ``g`` three times, about 10 µs, and a page asks
    for every string and every category name it shows. The state's names are those of the pinned Flask-Babel
    (constraints.txt); tests/unit/test_template_gettext.py checks ``force_locale`` is still followed."""
    locale = getattr(_babel_state(), "babel_locale", None)
    return locale if locale is not None else get_locale()


def request_timezone() -> Any:
    """``flask_babel.get_timezone()``, read the same way."""
    tzinfo = getattr(_babel_state(), "babel_tzinfo", None)
    return tzinfo if tzinfo is not None else get_timezone()


# --- Translations, found once per request ---------------------------------------------------------------------
# Flask-Babel's gettext finds the catalogue anew for every string (domain, context, locale, its name): about 10 µs,
# and a list shows a label (a status, a role, a reason) on every row. Here the application context's catalogue is
# found once per locale (``force_locale`` changes it within a request), and a message without variables is
# translated once per catalogue. Templates use the same catalogue (webapp.rendering's template_gettext).

_MARKUP: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_TEXT: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def request_catalogue() -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The current locale's translations, with their memo of translated messages for templates (Markup) and for
    text; call it within an application context."""
    locale = request_locale()
    state = vars(g._get_current_object())
    found = state.get("_catalogue")
    if found is None or found[0] is not locale:
        translations = get_translations()
        markup = _MARKUP.get(translations)
        if markup is None:
            markup = _MARKUP[translations] = {}
        text = _TEXT.get(translations)
        if text is None:
            text = _TEXT[translations] = {}
        found = state["_catalogue"] = (locale, translations, markup, text)
    return found[1], found[2], found[3]


def gettext(string: str, **variables: Any) -> str:
    """``flask_babel.gettext`` with the catalogue found once per request (above); the same result."""
    if not has_app_context():
        return flask_babel.gettext(string, **variables)
    translations, _markup, text = request_catalogue()
    if variables:
        return translations.ugettext(string) % variables  # type: ignore[no-any-return]
    found = text.get(string)
    if found is None:
        found = text[string] = translations.ugettext(string)
    return found


def lazy_gettext(string: str, **variables: Any) -> LazyString:
    """``flask_babel.lazy_gettext`` (the same lazy string), translated by ``gettext`` above when shown: for labels
    defined at import time. Extracted for translation as ``_l`` (the Makefile's extract-messages)."""
    return LazyString(gettext, string, **variables)


def is_english() -> bool:
    """Whether to show English names of data (categories, departments); Chinese outside a request.

    Reads the locale Flask-Babel worked out once for the request (a list page asks this for every row)."""
    if not has_request_context():
        return False
    locale = request_locale()
    return locale is not None and locale.language == "en"


def list_of(items: Any) -> str:
    """Words joined as the page's language joins them: “A、B和C” in Chinese, “A, B, and C” in English."""
    from babel.lists import format_list
    from flask_babel import get_locale

    words = [str(item) for item in items]
    return format_list(words, locale=str(get_locale() or "zh_Hans_CN")) if words else ""
