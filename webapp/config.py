"""Configuration read from the environment.

Every setting a deployment changes comes from an environment variable; the defaults serve the embedded demo
(SQLite in the instance folder, photos on local disk, rate limits in memory). Any other Flask or extension setting
can be given as ``FLASK_<NAME>`` (``app.config.from_prefixed_env()``, values parsed as JSON when they can be).
Started through ``webapp.wsgi`` (production) the app refuses to boot with the demo defaults: see
``webapp.production``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from webapp.localtime import DEFAULT_TIMEZONE


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def normalise_database_url(url: str) -> str:
    """Accept postgres:// and postgresql:// URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


# Room for the multipart framing (each part's headers and boundary: a few hundred bytes) around photos and fields.
MULTIPART_FRAMING_BYTES = 1024 * 1024


def request_size_limit(photo_max_bytes: int, photos_per_report: int, form_max_bytes: int) -> int:
    """The largest request body the app reads (``MAX_CONTENT_LENGTH``), derived from the photo limits so that no
    request the per-photo rules accept is refused as a whole: the form with the most photos (a volunteer's report and
    fix: the report's photos and as many of the result), each at its limit, plus the text fields and the framing.
    nginx's ``client_max_body_size`` (deploy/nginx) sits above it, so the app answers 413 itself."""
    return 2 * photos_per_report * photo_max_bytes + form_max_bytes + MULTIPART_FRAMING_BYTES


def instance_secret_key(instance_path: str) -> str:
    """The demo's SECRET_KEY when none is set: generated once and kept in the instance folder."""
    key_file = Path(instance_path) / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


class Config:
    # Unset values are filled in by create_app from the instance folder (demo only).
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL", "")) or None
    # Pooled connections live at most DATABASE_POOL_RECYCLE seconds (a failed-over or restarted server, a proxy
    # that drops old connections); one that sat unused for DATABASE_PING_AFTER_IDLE seconds is checked with a
    # round trip before use (webapp.db.ping_idle_connections): a busy worker's connections never are.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_recycle": _env_int("DATABASE_POOL_RECYCLE", 1800)}
    DATABASE_PING_AFTER_IDLE = _env_int("DATABASE_PING_AFTER_IDLE", 10)
    # True only when started through webapp.wsgi (gunicorn, make serve); the demo band is shown otherwise.
    PRODUCTION = False
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust (0: none). Without it
    # behind a proxy every per-address rate limit is shared by the whole city.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)

    # Photos and other uploads (webapp.storage). STORAGE_BACKEND "local" keeps files under UPLOAD_DIR; "s3" in a
    # bucket of an S3-compatible object store (MinIO, Aliyun OSS, Tencent COS, Huawei OBS, AWS).
    STORAGE_BACKEND = os.environ.get("STORAGE_BACKEND", "local")
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR")
    S3_BUCKET = os.environ.get("S3_BUCKET", "")
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None  # None: AWS itself
    S3_REGION = os.environ.get("S3_REGION") or None
    AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None  # None: boto3's usual credential chain
    AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
    # "path" (endpoint/bucket/key) for MinIO; "virtual" (bucket.endpoint/key) for Aliyun OSS and Tencent COS.
    S3_ADDRESSING_STYLE = os.environ.get("S3_ADDRESSING_STYLE", "path")
    # How long a presigned photo URL lives (at most 7 days with SigV4); the same URL is reused for a seventh of it.
    S3_URL_EXPIRES = _env_int("S3_URL_EXPIRES", 7 * 24 * 3600)

    # Upload limits: each photo, the decoded pixel count, the text fields of a form, and the request as a whole,
    # which follows from the others (request_size_limit).
    PHOTO_MAX_BYTES = _env_int("PHOTO_MAX_BYTES", 12 * 1024 * 1024)
    PHOTO_MAX_PIXELS = _env_int("PHOTO_MAX_PIXELS", 50_000_000)
    PHOTOS_PER_REPORT = 3
    MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
    MAX_CONTENT_LENGTH = request_size_limit(PHOTO_MAX_BYTES, PHOTOS_PER_REPORT, MAX_FORM_MEMORY_SIZE)

    # Sessions and CSRF. A report form may stay open for hours on a phone, so CSRF tokens live as long as the
    # session instead of Flask-WTF's default hour.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 90
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]

    # Languages: Simplified Chinese by default, English on request.
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", DEFAULT_TIMEZONE)
    LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}

    # Rate limits (Flask-Limiter). RATELIMIT_STORAGE_URI may be redis://host:6379/0 when several processes run.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # No X-RateLimit-* headers on every answer: reading the window back costs two more round trips to the storage per
    # limited request, and no client reads them. A refused request still says when to retry (Retry-After, errors.py).
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute;50 per hour")
    RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "5 per hour")
    RATELIMIT_SMS = os.environ.get("RATELIMIT_SMS", "1 per minute;5 per hour")  # per phone number
    RATELIMIT_SMS_IP = os.environ.get("RATELIMIT_SMS_IP", "20 per hour")  # per address
    RATELIMIT_SUBMIT = os.environ.get("RATELIMIT_SUBMIT", "20 per hour;60 per day")
    RATELIMIT_OPEN311 = os.environ.get("RATELIMIT_OPEN311", "30 per minute;1000 per day")  # per API key or address
    RATELIMIT_OPEN_DATA = os.environ.get("RATELIMIT_OPEN_DATA", "20 per minute;200 per day")  # downloads, per address
    RATELIMIT_OPEN_DATA_MAP = os.environ.get("RATELIMIT_OPEN_DATA_MAP", "60 per minute")

    # Open311: with a jurisdiction id set, requests naming another one are answered 404.
    OPEN311_JURISDICTION = _env_str("OPEN311_JURISDICTION")

    # Background jobs (webapp.jobs, Huey). HUEY_URL: redis://host:6379/N in production; unset: an SQLite queue in
    # the instance folder, and jobs run in the process that queues them, right after the commit (HUEY_IMMEDIATE),
    # so the demo needs nothing but Python. `make worker` runs queued jobs, retries and the schedule.
    HUEY_URL = os.environ.get("HUEY_URL", "")
    HUEY_IMMEDIATE = _env_bool("HUEY_IMMEDIATE", not os.environ.get("HUEY_URL"))
    # Refresh the dashboard's roll-up inside every writing transaction (the old way; for the benchmark's "before").
    ANALYTICS_ROLLUP_INLINE = _env_bool("ANALYTICS_ROLLUP_INLINE", False)

    # Operations (webapp.observability): LOG_FORMAT=json for one JSON line per request; SENTRY_DSN to send unhandled
    # exceptions to Sentry (needs the optional extra: pip install 'citizen-grid[sentry]').
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
    SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "production")

    # SMS (webapp.accounts.sms): "tencent" sends through Tencent Cloud SMS; "none" sends nothing and residents
    # register at a service desk; "log" writes codes to the application log (development only).
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "log")
    TENCENTCLOUD_SECRET_ID = _env_str("TENCENTCLOUD_SECRET_ID")
    TENCENTCLOUD_SECRET_KEY = _env_str("TENCENTCLOUD_SECRET_KEY")
    SMS_TENCENT_APP_ID = _env_str("SMS_TENCENT_APP_ID")  # SmsSdkAppId
    SMS_TENCENT_REGION = _env_str("SMS_TENCENT_REGION", "ap-guangzhou")
    SMS_TENCENT_ENDPOINT = _env_str("SMS_TENCENT_ENDPOINT", "https://sms.tencentcloudapi.com")
    SMS_SIGN_NAME = _env_str("SMS_SIGN_NAME")  # the approved signature (签名)
    SMS_TEMPLATE_CODE = _env_str("SMS_TEMPLATE_CODE")  # template id: {1} the code, {2} minutes valid
    SMS_TEMPLATE_NOTICE = _env_str("SMS_TEMPLATE_NOTICE")  # template id: {1} the message
    SMS_TIMEOUT_SECONDS = _env_int("SMS_TIMEOUT_SECONDS", 10)
    SMS_CODE_TTL_SECONDS = 600
    SMS_CODE_MAX_ATTEMPTS = 5
    # Show the development SMS code on the page, so the demo works without a phone. Never with a real sender.
    SMS_SHOW_DEV_CODE = _env_bool("SMS_SHOW_DEV_CODE", True)

    # Map: a Leaflet tile URL template (empty: the map shows no tiles and the form still works).
    MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")
    MAP_DEFAULT_CENTER = (37.8572, 112.5216)  # 太原 万柏林区
    DUPLICATE_RADIUS_M = 200
    DUPLICATE_LIMIT = 5

    REPORTS_PER_PAGE = 20
    # Pieces of public pages (report lists, report pages, open data) rendered for anonymous visitors are kept this
    # long (seconds) in each process; a change written through the same process forgets them at once.
    PUBLIC_FRAGMENT_SECONDS = float(os.environ.get("PUBLIC_FRAGMENT_SECONDS", "10"))
    # Each process keeps static data (categories, points rules, campaigns) and checks the version counters in
    # the database at most this often (seconds): a change made through another process shows within that time.
    STATIC_CACHE_CHECK_SECONDS = float(os.environ.get("STATIC_CACHE_CHECK_SECONDS", "1"))
    COMPRESS_MIMETYPES = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "image/svg+xml",
    ]
    COMPRESS_LEVEL = 6
    COMPRESS_MIN_SIZE = 500
    COMPRESS_ALGORITHM = "gzip"
    COMPRESS_STREAMS = False  # static files are gzipped once by webapp.static_files
    SEND_FILE_MAX_AGE_DEFAULT = 3600


class TestConfig(Config):
    TESTING = True
    STATIC_CACHE_CHECK_SECONDS = 0.0  # every request checks the versions (tests change data between requests)
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("TEST_DATABASE_URL", "")) or None
    # Rate limiting stays on in tests; the limits are generous unless a test lowers one.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_LOGIN = RATELIMIT_REGISTER = RATELIMIT_SMS = RATELIMIT_SMS_IP = "1000 per minute"
    RATELIMIT_SUBMIT = "1000 per minute"
    MAP_TILE_URL = ""
    SMS_SHOW_DEV_CODE = True
    # Jobs run right after the commit that queues them, in the test's process (retries wait in memory).
    HUEY_URL = "memory://"
    HUEY_IMMEDIATE = True
