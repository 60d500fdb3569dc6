"""Sending text messages: one way in (``queue_sms``), one way out (``deliver``), one interface (``SmsSender``).

* ``queue_sms(message)`` is how every part of the app sends a text: the message goes out only after the current
  database transaction commits (``webapp.db.after_commit``), and is dropped if it rolls back.
* ``deliver(message)`` hands it to the app's ``SmsSender``; a failure is logged and counted for the monitoring
  page (and raised for the job that retries it).
* A message carries its full text (for logs and the development backend) and a *template* with parameters, because
  mainland SMS providers only send texts from pre-approved templates: ``code`` (``{"code", "minutes"}``) and
  ``notice`` (``{"content"}``).

Backends (``SMS_BACKEND``): ``tencent`` sends through Tencent Cloud SMS (``webapp.accounts.sms_tencent``); ``none``
is for deployments whose residents are registered at a service desk (no codes are offered, nothing is sent);
``log`` writes the message to the application log and remembers the last ones in memory (development and tests
only: it sends nothing). Another provider is one more class with ``send(message)`` registered in ``make_sender``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import current_app, has_app_context

from webapp.db import after_commit

log = logging.getLogger(__name__)

SIGNATURE = "【全民网格】"


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str
    template: str = "notice"
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=True)

    def as_dict(self) -> dict[str, Any]:
        return {"phone": self.phone, "text": self.text, "template": self.template, "params": dict(self.params)}


def code_message(phone: str, code: str, minutes: int) -> SmsMessage:
    text = f"{SIGNATURE}验证码 {code}，{minutes} 分钟内有效。如非本人操作请忽略。"
    return SmsMessage(phone, text, "code", {"code": code, "minutes": str(minutes)})


def notice_message(phone: str, content: str) -> SmsMessage:
    return SmsMessage(phone, SIGNATURE + content, "notice", {"content": content})


class SmsSender(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Send now, or raise (``SmsSendError`` for a refusal by the provider)."""
        ...


class SmsSendError(Exception):
    """The provider refused or could not take the message."""


class LoggingSmsSender:
    """Development backend: logs the message instead of sending it."""

    is_development = True
    sends_codes = True

    def __init__(self, keep: int = 50) -> None:
        self.sent: deque[SmsMessage] = deque(maxlen=keep)

    def send(self, message: SmsMessage) -> None:
        self.sent.append(message)
        log.warning("SMS (development backend, not sent) to %s: %s", message.phone, message.text)


class NoSmsSender:
    """``SMS_BACKEND=none``: this deployment sends no text messages; residents register at a service desk."""

    is_development = False
    sends_codes = False

    def __init__(self) -> None:
        self.sent: deque[SmsMessage] = deque(maxlen=0)

    def send(self, message: SmsMessage) -> None:
        log.info("SMS_BACKEND=none: no text message sent to %s****", message.phone[:3])


def make_sender(backend: str, config: Any = None) -> SmsSender:
    """The sender for ``SMS_BACKEND``; a provider's missing settings are named (the app then refuses to start)."""
    if backend == "log":
        return LoggingSmsSender()
    if backend == "none":
        return NoSmsSender()
    if backend == "tencent":
        from webapp.accounts.sms_tencent import TencentSmsSender

        return TencentSmsSender(config or {})
    raise ValueError(f"unknown SMS_BACKEND {backend!r}; available: 'tencent', 'none', 'log' (development)")


def sends_codes() -> bool:
    """Whether this deployment can send verification codes (registration and password reset by SMS)."""
    return bool(getattr(current_app.extensions["sms"], "sends_codes", True))


def queue_sms(message: SmsMessage) -> None:
    """Send ``message`` once the current transaction commits (never for a change that is rolled back): queued then
    as a background job (``webapp.jobs.tasks.send_sms``), retried with backoff when the provider fails."""
    from webapp.jobs.tasks import new_message_id, send_sms

    after_commit(send_sms, message.as_dict(), new_message_id())


def deliver(message: SmsMessage, *, retry_note: str = "", raise_errors: bool = False) -> bool:
    """Send now through the app's SmsSender. A failure is logged and recorded for the monitoring page (with
    ``retry_note``: which try it was); it is raised only with ``raise_errors`` (the job that retries it)."""
    if not has_app_context() or "sms" not in current_app.extensions:
        return False
    try:
        current_app.extensions["sms"].send(message)
    except Exception as error:  # whatever caused the text is committed and visible in the app
        log.warning("could not send an SMS to %s**** %s", message.phone[:3], retry_note, exc_info=not raise_errors)
        from webapp.monitoring import recorder

        recorder.record_sms_failure(message.phone, error, note=retry_note)
        if raise_errors:
            raise
        return False
    return True
