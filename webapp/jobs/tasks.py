"""The background jobs and the schedule that replaces the crontab. Every job is safe to run twice:

* ``send_sms``: one text message, retried with exponential backoff (30 s, 1, 2, 4, 8 min …, ``SMS_RETRIES``
  times); every failed try is recorded for the monitoring page, the last one as given up. A message carries an id
  given when it was queued: once sent, a second run of the same job sends nothing.
* ``refresh_rollup``: counts the reports changed since the dashboard's roll-up last did (``analytics.rollup``);
  coalesced (one queued at a time), and every minute as a sweep.
* periodic, in the city's time zone (``TIMEZONE``): ``escalate_overdue`` every 5 minutes (a case is escalated
  once: ``escalated_at``), ``expire_points`` daily at 02:00 (ledger business keys make a second run pay or take
  nothing), ``rebuild_rollup`` nightly at 03:00 (recomputed from the facts), and the periodic reports on Monday and
  on the 1st at 06:00 (archived in the storage under the period's key; one already there is kept).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from huey import crontab

from webapp import jobs, localtime
from webapp.db import db
from webapp.jobs import huey, in_app_context

log = logging.getLogger(__name__)

SMS_RETRIES = 6
SMS_FIRST_RETRY_SECONDS = 30
SMS_SENT_MARK = "sms:sent:"  # + the message's id, in the queue's storage
ROLLUP_LOCK = "analytics-rollup"


def local_crontab(**fields: str) -> Any:
    """A crontab read in the city's time zone (TIMEZONE) rather than UTC (the queue's clock)."""
    matches = crontab(**fields)

    def validate(moment: datetime) -> bool:
        app = jobs.configured_app()
        zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"] if app is not None else localtime.DEFAULT_TIMEZONE)
        local = moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
        return bool(matches(local))

    return validate


# --- Text messages ------------------------------------------------------------------------------------------------


def new_message_id() -> str:
    return uuid.uuid4().hex


@huey.task(retries=SMS_RETRIES, retry_delay=SMS_FIRST_RETRY_SECONDS, retry_backoff=2, context=True)
def send_sms(message: dict[str, Any], message_id: str, task: Any = None) -> bool:
    """Send one text message (``SmsMessage.as_dict()``); raise to be retried."""
    return _send_sms(message, message_id, task)


@in_app_context
def _send_sms(message: dict[str, Any], message_id: str, task: Any) -> bool:
    from webapp.accounts.sms import SmsMessage, deliver

    if huey.get(SMS_SENT_MARK + message_id, peek=True) is not None:
        log.info("SMS %s was already sent; not sending it again", message_id)
        return False
    sms = SmsMessage(
        message["phone"], message["text"], message.get("template", "notice"), dict(message.get("params") or {})
    )
    retries_left = int(getattr(task, "retries", 0) or 0)
    note = f"try {SMS_RETRIES - retries_left + 1} of {SMS_RETRIES + 1}, " + (
        "will retry" if retries_left else "gave up"
    )
    deliver(sms, retry_note=note, raise_errors=True)
    huey.put(SMS_SENT_MARK + message_id, "1")
    return True


# --- The dashboard's roll-up --------------------------------------------------------------------------------------


@huey.task(retries=5, retry_delay=5)
def refresh_rollup() -> int:
    """Count the reports changed since the last refresh (coalesced: see analytics.rollup.request_refresh)."""
    return _refresh_rollup()


@huey.periodic_task(crontab(minute="*"))
def sweep_rollup() -> int:
    """Every minute: count what a lost or failed refresh job left behind."""
    return _refresh_rollup()


@in_app_context
def _refresh_rollup() -> int:
    from webapp.analytics import rollup

    huey.delete(rollup.QUEUED_FLAG)  # first: a commit from now on queues a new job
    counted = 0
    while True:
        done = rollup.refresh_pending(db.session)
        db.session.commit()
        counted += done
        if done < rollup.BATCH:
            return counted


@huey.periodic_task(local_crontab(minute="0", hour="3"))
def rebuild_rollup() -> int:
    """Nightly: rebuild the whole roll-up from the facts (also catches bulk loads that bypassed the app)."""
    return _rebuild_rollup()


@in_app_context
def _rebuild_rollup() -> int:
    from webapp.analytics import rollup

    rows = rollup.refresh_all()
    db.session.commit()
    log.info("analytics roll-up rebuilt: %d rows", rows)
    return rows


# --- Scheduled case work and points -------------------------------------------------------------------------------


@huey.periodic_task(crontab(minute="*/5"))
def escalate_overdue() -> int:
    """Every 5 minutes: escalate (督办) the cases past their deadline; each case once."""
    return _escalate_overdue()


@in_app_context
def _escalate_overdue() -> int:
    from webapp.review.services import escalate_overdue as escalate

    escalated = escalate()
    db.session.commit()
    return len(escalated)


@huey.periodic_task(local_crontab(minute="0", hour="2"))
def expire_points() -> tuple[int, int]:
    """Daily: expire points past their date and warn residents 30 days before theirs."""
    return _expire_points()


@in_app_context
def _expire_points() -> tuple[int, int]:
    from webapp.points.awards import expire, warn_expiring

    expired = expire()
    warned = warn_expiring()
    db.session.commit()
    return expired, warned


# --- Periodic reports ---------------------------------------------------------------------------------------------


def report_key(kind: str, period_key: str, suffix: str) -> str:
    return f"periodic-reports/{kind}/{period_key}{suffix}"


@huey.periodic_task(local_crontab(minute="0", hour="6", day_of_week="1"))
def weekly_report() -> list[str]:
    return _archive_report("weekly")


@huey.periodic_task(local_crontab(minute="0", hour="6", day="1"))
def monthly_report() -> list[str]:
    return _archive_report("monthly")


@in_app_context
def _archive_report(kind: str, period: str | None = None) -> list[str]:
    """Write the last complete week's or month's report (CSV and HTML) into the storage; keys already there are
    kept (a second run writes nothing). Returns the keys written."""
    from webapp.analytics import periodic
    from webapp.analytics.cli import report_files

    summary = periodic.summary(periodic.parse_period(kind, period))
    storage = current_app.extensions["storage"]
    csv_key, html_key = (report_key(kind, summary.period.key, suffix) for suffix in (".csv", ".html"))
    if storage.exists(csv_key) and storage.exists(html_key):
        return []
    csv_bytes, html_bytes = report_files(summary)
    return [key for key, data in ((csv_key, csv_bytes), (html_key, html_bytes)) if storage.put(key, data)]
