"""Sending text messages. A real provider (Aliyun SMS, Tencent Cloud SMS, …) implements ``SmsSender``.

The ``log`` backend writes the message to the application log and remembers the last messages in memory. It is
for development and tests only: it sends nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LoggingSmsSender:
    """Development backend: logs the message instead of sending it."""

    is_development = True

    def __init__(self, keep: int = 50) -> None:
        self.sent: deque[SmsMessage] = deque(maxlen=keep)

    def send(self, phone: str, text: str) -> None:
        self.sent.append(SmsMessage(phone, text))
        log.warning("SMS (development backend, not sent) to %s: %s", phone, text)


def make_sender(backend: str) -> SmsSender:
    if backend == "log":
        return LoggingSmsSender()
    raise ValueError(f"unknown SMS_BACKEND {backend!r}; available: 'log' (development)")
