"""The templates' date filters are Flask-Babel's, remembered per language and time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import render_template_string
from flask_babel import force_locale, format_date, format_datetime

WHEN = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 2 March in Shanghai, 1 March in UTC


def render(source: str, **values: object) -> str:
    return render_template_string(source, **values)


def test_dateformat_and_datetimeformat_give_what_flask_babel_gives(app):
    with app.test_request_context("/"):
        for locale in ("zh_Hans_CN", "en"):
            with force_locale(locale):
                assert render("{{ d|dateformat('long') }}", d=date(2026, 3, 2)) == format_date(date(2026, 3, 2), "long")
                assert render("{{ t|dateformat('medium') }}", t=WHEN) == format_date(WHEN, "medium")
                assert render("{{ t|datetimeformat('short') }}", t=WHEN) == format_datetime(WHEN, "short")


def test_a_remembered_date_follows_the_language_and_the_filter(app):
    with app.test_request_context("/"):
        with force_locale("en"):
            english = render("{{ t|dateformat('long') }}", t=WHEN)
            english_time = render("{{ t|datetimeformat('long') }}", t=WHEN)
        with force_locale("zh_Hans_CN"):
            chinese = render("{{ t|dateformat('long') }}", t=WHEN)
        with force_locale("en"):
            assert render("{{ t|dateformat('long') }}", t=WHEN) == english
    assert "March 2, 2026" in english  # the city's day (Asia/Shanghai), not UTC's
    assert "2026年3月2日" in chinese
    assert english_time != english  # one remembered value per filter, not per time alone
