"""The translation functions of templates (webapp.rendering) and of labels (webapp.extensions): the same output as
Jinja's "newstyle" gettext and Flask-Babel's gettext, with the request's catalogue found once and plain strings
remembered per catalogue."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask_babel import force_locale


def render(app: Flask, source: str, lang: str = "zh_Hans_CN", **context: object) -> str:
    with app.test_request_context("/", headers={"Cookie": f"lang={lang}"}):
        return render_template_string(source, **context)


def test_plain_strings_follow_the_language_of_the_request(app):
    assert render(app, "{{ _('Citizen Grid') }}") == "全民网格"
    assert render(app, "{{ _('Citizen Grid') }}", lang="en") == "Citizen Grid"
    assert render(app, "{{ _('Citizen Grid') }}") == "全民网格"  # the remembered text is per catalogue
    assert render(app, "{{ gettext('Citizen Grid') }}") == "全民网格"


def test_variables_are_escaped_and_the_text_is_a_format_string(app):
    assert render(app, "{{ _('Reported %(when)s', when=w) }}", w="<b>") == "上报于 &lt;b&gt;"
    assert render(app, "{{ _('100%% sure') }}", lang="en") == "100% sure"  # always a format string, as in Jinja
    assert render(app, "{{ _('<i>%(x)s</i>', x=x) }}", lang="en", x="&") == "<i>&amp;</i>"


def test_plural_and_context_forms(app):
    source = "{{ ngettext('%(num)d report', '%(num)d reports', n) }}"
    assert render(app, source, n=3) == "3 份报告"
    assert render(app, source, lang="en", n=1) == "1 report"
    assert render(app, source, lang="en", n=2) == "2 reports"
    assert render(app, "{{ pgettext('start of a date range', 'From') }}") == "起始日期"
    assert render(app, "{{ pgettext('who sent the feedback', 'From') }}") == "提交人"


def test_force_locale_inside_a_request_changes_the_catalogue(app):
    template = "{{ _('Citizen Grid') }}"
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert render_template_string(template) == "Citizen Grid"
        with force_locale("zh_Hans_CN"):
            assert render_template_string(template) == "全民网格"
        assert render_template_string(template) == "Citizen Grid"


def test_outside_autoescaping_nothing_is_escaped(app):
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        source = "{% autoescape false %}{{ _('Reported %(when)s', when=w) }}{% endautoescape %}"
        template = app.jinja_env.from_string(source)
        assert template.render(w="<b>") == "Reported <b>"


def test_the_request_locale_and_time_zone_are_flask_babels(app):
    from flask_babel import get_locale, get_timezone

    from webapp.extensions import is_english, request_locale, request_timezone

    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert request_locale() == get_locale() and str(request_locale()) == "en" and is_english()
        with force_locale("zh_Hans_CN"):
            assert str(request_locale()) == "zh_Hans_CN" and not is_english()
        assert str(request_locale()) == "en"
        assert request_timezone() == get_timezone()
    with app.app_context():  # no request: the default language
        assert request_locale() == get_locale() and not is_english()


def test_labels_translate_as_flask_babel_does_in_every_locale(app):
    """``webapp.extensions.gettext`` and its lazy strings (the ``_l`` labels) give Flask-Babel's result, also under
    ``force_locale`` and for a message with variables (which is not remembered)."""
    import flask_babel

    from webapp.extensions import gettext, lazy_gettext
    from webapp.reports.status import ReportStatus

    label = lazy_gettext("Citizen Grid")
    with_variables = lazy_gettext("Reported %(when)s", when="<b>")
    for lang, expected in (("zh_Hans_CN", "全民网格"), ("en", "Citizen Grid"), ("zh_Hans_CN", "全民网格")):
        with app.test_request_context("/", headers={"Cookie": f"lang={lang}"}):
            assert str(label) == gettext("Citizen Grid") == flask_babel.gettext("Citizen Grid") == expected
            assert str(with_variables) == flask_babel.gettext("Reported %(when)s", when="<b>")
            assert str(ReportStatus.CLOSED.label) == flask_babel.gettext("Closed")
            with force_locale("en" if lang != "en" else "zh_Hans_CN"):
                assert str(label) == flask_babel.gettext("Citizen Grid") != expected
            assert str(label) == expected
    with app.app_context():  # a job or a command: the default language
        assert str(label) == "全民网格"
    assert str(label) == "Citizen Grid"  # no application at all: the message itself
