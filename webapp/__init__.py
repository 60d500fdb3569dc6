"""Citizen Grid (全民网格): the application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import layout, localtime, multipart, static_files, textinput
from webapp.config import Config, instance_secret_key
from webapp.converters import CONVERTERS
from webapp.db import db
from webapp.extensions import (
    babel,
    compress,
    csrf,
    htmx,
    limiter,
    list_of,
    login_manager,
    migrate,
    select_locale,
)
from webapp.rendering import (
    install_template_gettext,
    remembered_dateformat,
    remembered_datetimeformat,
    site_nav,
    static_url,
    template_url_for,
    url_in_loop,
)

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
    )
    app.jinja_environment = layout.Environment  # pages render into the layout's shell (before jinja_env is made)
    app.config.from_object(Config)
    app.config.from_prefixed_env()  # FLASK_<NAME> sets any other setting
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    _fill_instance_defaults(app)
    app.url_map.converters.update(CONVERTERS)
    if app.config.get("TRUSTED_PROXIES", 0):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=1)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":  # a file has nothing to lose its connection to
            from webapp.db import ping_idle_connections, read_outside_transactions

            read_outside_transactions(db.engine)  # before the ping, which then runs outside a transaction too
            ping_idle_connections(db.engine, app.config["DATABASE_PING_AFTER_IDLE"])
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    limiter.init_app(app)
    compress.init_app(app)
    static_files.install(app)
    textinput.install(app)  # invisible control characters never reach the app
    multipart.install()  # multipart bodies without two regular expressions compiled per request

    from webapp.accounts.sms import make_sender
    from webapp.storage import make_storage

    app.extensions["sms"] = make_sender(app.config["SMS_BACKEND"], app.config)
    if app.config["SMS_BACKEND"] == "log" and not app.testing and not app.config["PRODUCTION"]:
        app.logger.warning("SMS_BACKEND=log: verification codes are only logged, not sent (development only)")
    app.extensions["storage"] = make_storage(
        app.config["STORAGE_BACKEND"], app.config["UPLOAD_DIR"], app.config
    )
    from webapp import jobs, observability

    jobs.init_app(app)
    observability.init_app(app)  # request ids, JSON logs, the optional Sentry hook

    from webapp import models  # noqa: F401  (every model registered before the first query)
    from webapp.accounts.views import bp as accounts_bp
    from webapp.activities.views import bp as activities_bp
    from webapp.analytics.views import bp as analytics_bp
    from webapp.api.keys.views import bp as api_keys_bp
    from webapp.api.open311.views import bp as open311_bp
    from webapp.api.views import bp as api_bp
    from webapp.campaigns.views import bp as campaigns_bp
    from webapp.feedback.platform.views import bp as platform_feedback_bp
    from webapp.feedback.views import bp as feedback_bp
    from webapp.handling.views import bp as handling_bp
    from webapp.monitoring.views import bp as monitoring_bp
    from webapp.notifications.views import bp as notifications_bp
    from webapp.opendata.views import bp as opendata_bp
    from webapp.points.admin.views import bp as points_admin_bp
    from webapp.points.handover.views import bp as handover_bp
    from webapp.points.views import bp as points_bp
    from webapp.pwa.views import bp as pwa_bp
    from webapp.reports.posters.views import bp as posters_bp
    from webapp.reports.views import bp as reports_bp
    from webapp.review import emergency
    from webapp.review.views import bp as review_bp

    for blueprint in (
        accounts_bp,
        reports_bp,
        api_bp,
        open311_bp,
        api_keys_bp,
        posters_bp,
        pwa_bp,
        review_bp,
        handling_bp,
        notifications_bp,
        feedback_bp,
        platform_feedback_bp,
        monitoring_bp,
        points_bp,
        points_admin_bp,
        handover_bp,
        analytics_bp,
        campaigns_bp,
        opendata_bp,
        activities_bp,
    ):
        app.register_blueprint(blueprint)
    emergency.connect()
    # Case events (webapp/review/signals.py): notifications first, then points, as the workflow called them before.
    from webapp.notifications import services as notifications
    from webapp.points import awards

    notifications.connect()
    awards.connect()
    from webapp.analytics import rollup

    rollup.install()  # the daily roll-up follows every committed change to reports
    _forget_figures_on_change()

    from webapp.errors import register_error_handlers

    register_error_handlers(app)
    _register_template_helpers(app)
    _register_security_headers(app)

    from webapp.cli import register_commands

    register_commands(app)
    return app


def _fill_instance_defaults(app: Flask) -> None:
    """The embedded demo keeps its database, photos and secret key in the instance folder."""
    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY") and not app.config["PRODUCTION"]:  # production refuses to start instead
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
        app.config["SECRET_KEY_IS_DEMO"] = True
        if not app.testing:
            app.logger.warning("SECRET_KEY is not set: using the demo key in %s/secret_key", app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'citizen_grid.sqlite3'}"
    if not app.config.get("UPLOAD_DIR"):
        app.config["UPLOAD_DIR"] = str(instance / "uploads")
    if not app.config.get("HUEY_URL"):
        app.config["HUEY_URL"] = f"sqlite:///{instance / 'jobs.sqlite3'}"


def _forget_figures_on_change() -> None:
    """Public figures and pieces of pages kept for a short time (webapp.cache.remember, fragment) are forgotten
    when what they count, show or name changes in this process (reports, their photos and followers, the ledger,
    campaign pages, names, grids, departments, the store's goods)."""
    from webapp import cache
    from webapp.accounts.models import Department, User
    from webapp.campaigns.models import CampaignPage
    from webapp.geo.models import Grid
    from webapp.points.models import Household, LedgerTransaction, StoreItem
    from webapp.reports.models import Report, ReportEvent, ReportFollower, ReportPhoto

    cache.forget_figures_on_flush(
        Report,
        ReportEvent,
        ReportPhoto,
        ReportFollower,
        LedgerTransaction,
        CampaignPage,
        User,
        Household,
        Grid,
        Department,
        StoreItem,
    )


def _register_template_helpers(app: Flask) -> None:
    from webapp.feedback.ratings import can_rate, rating_of
    from webapp.notifications.services import badge
    from webapp.reports.privacy import view
    from webapp.review.emergency import unacknowledged
    from webapp.review.workflow import action_label

    def report_view(report: Any) -> Any:
        """What the current viewer may see of a report (webapp.reports.privacy)."""
        return view(report, current_user)

    install_template_gettext(app)
    app.jinja_env.filters["list_of"] = list_of
    app.jinja_env.filters["datetimeformat"] = remembered_datetimeformat  # Flask-Babel's, remembered
    app.jinja_env.filters["dateformat"] = remembered_dateformat
    app.jinja_env.filters["minutes"] = localtime.minutes
    from webapp.accounts.sessions import csrf_token, event_label

    app.jinja_env.globals.update(
        account_event_label=event_label,
        site_nav=site_nav,
        static_url=static_url,
        url_for=template_url_for,
        url_in_loop=url_in_loop,
        action_label=action_label,
        can_rate=can_rate,
        rating_of=rating_of,
        report_view=report_view,
        zone_label=localtime.zone_label,
    )

    @app.context_processor
    def inject() -> dict[str, Any]:
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        user = current_user if current_user.is_authenticated else None
        return {
            "demo_mode": not app.config["PRODUCTION"],
            "current_locale": locale,
            "html_lang": "en" if locale.startswith("en") else "zh-Hans",
            "large_text": user.large_text if user else request.cookies.get("large_text") == "on",
            "logged_in": user is not None,
            # Flask-WTF's, with the signed token kept per session; replaces Flask-WTF's own (its context processor
            # runs before this one, and a context value hides the global of the same name)
            "csrf_token": csrf_token,
            "languages": app.config["LANGUAGES"],
            "unread_notifications": badge(user) if user else 0,
            "emergencies": unacknowledged(user) if user else [],
        }


def content_security_policy(config: Any, storage: Any) -> str:
    tile_origin = _origin(config.get("MAP_TILE_URL", ""))
    # Public photos may be redirected to the object store's presigned URLs (webapp.files).
    photo_origin = storage.public_origin()
    img_src = "'self' data: blob:" + "".join(f" {origin}" for origin in (tile_origin, photo_origin) if origin)
    return (
        f"default-src 'self'; img-src {img_src}; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'; object-src 'none'"
    )


def _register_security_headers(app: Flask) -> None:
    policy = content_security_policy(app.config, app.extensions["storage"])

    @app.after_request
    def headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self)")
        return response


def _origin(url_template: str) -> str:
    if "://" not in url_template:
        return ""
    scheme, rest = url_template.split("://", 1)
    host = rest.split("/", 1)[0].replace("{s}", "*")
    return f"{scheme}://{host}"
