"""Feedback on the platform (意见反馈): submitting it (also without an account), triage by admins, the reply.

Separate from ``webapp.feedback.ratings`` (ratings of closed cases). A submission carries the ``client_id`` the
form was rendered with, so a double tap or a retried request finds the first item instead of making a second.
People without an account get a reference number and a private status link (a random token).

Triage is a small transition table (``ACTIONS``): new → in progress → adopted / declined / replied; declined and
replied feedback can be taken up again, adopted feedback is final (its points stay paid). Every step is an
append-only ``PlatformFeedbackEvent``. Adopted feedback from a resident's account earns points once, through
``webapp.points.awards.award_feedback`` (its business key is the feedback id, so a replay pays nothing more).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from webapp.accounts.models import Role, User
from webapp.accounts.services import InvalidPhone, normalise_phone
from webapp.accounts.sms import notice_message, queue_sms
from webapp.db import db, utcnow
from webapp.errors import DomainError, Forbidden, InvalidFields
from webapp.extensions import lazy_gettext as _l
from webapp.feedback.models import (
    FeedbackKind,
    FeedbackStatus,
    PlatformFeedback,
    PlatformFeedbackEvent,
    ReplyChannel,
)
from webapp.notifications import services as notifications
from webapp.pagination import Page
from webapp.photos import pipeline, references, rejections
from webapp.points import awards
from webapp.storage import Storage, content_key, put_in_transaction

log = logging.getLogger(__name__)

TEXT_MAX = 2000
REPLY_MAX = 2000
SCREENSHOT_EDGE = 1600  # screenshots are read, not looked at from afar: keep more pixels than a report photo
THUMB_EDGE = 160
# Not ".jpg": the public /media/<key> route serves only .jpg keys, and a screenshot of the app may show private
# data, so screenshots are served only through the feedback routes, to the sender and to admins.
SCREENSHOT_SUFFIX = ".feedback.jpeg"

KIND_LABELS = {
    FeedbackKind.SUGGESTION: _l("Suggestion"),
    FeedbackKind.APP_PROBLEM: _l("Problem with the app"),
    FeedbackKind.RULES: _l("Participation rules"),
    FeedbackKind.OTHER: _l("Other"),
}
STATUS_LABELS = {
    FeedbackStatus.NEW: _l("New"),
    FeedbackStatus.IN_PROGRESS: _l("In progress"),
    FeedbackStatus.ADOPTED: _l("Adopted"),
    FeedbackStatus.DECLINED: _l("Declined"),
    FeedbackStatus.REPLIED: _l("Replied"),
}
CHANNEL_LABELS = {
    ReplyChannel.APP: _l("In the app"),
    ReplyChannel.SMS: _l("By SMS"),
    ReplyChannel.NONE: _l("No reply needed"),
}


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[FeedbackStatus]
    target: FeedbackStatus
    label: object
    needs_message: bool = False


S = FeedbackStatus
# The one transition table of platform feedback.
ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("start", frozenset({S.NEW}), S.IN_PROGRESS, _l("Start working on it")),
        Action("adopt", frozenset({S.IN_PROGRESS}), S.ADOPTED, _l("Adopt")),
        Action("decline", frozenset({S.NEW, S.IN_PROGRESS}), S.DECLINED, _l("Decline")),
        Action("reply", frozenset({S.IN_PROGRESS}), S.REPLIED, _l("Reply"), needs_message=True),
        Action("reopen", frozenset({S.DECLINED, S.REPLIED}), S.IN_PROGRESS, _l("Take up again")),
    )
}


class FeedbackInvalid(InvalidFields):
    """A feedback form with wrong fields."""


class ScreenshotRejected(DomainError):
    def __init__(self, message: str, *, status: int, code: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message, field="screenshot")


class FeedbackConflict(DomainError):
    code = "idempotency_conflict"
    default_message = _l("This form was already sent with different content. Please open the form again.")


class FeedbackTransitionError(DomainError):
    status = 409
    code = "invalid_transition"


@dataclass
class NewFeedback:
    kind: str
    text: str
    reply_via: str
    client_id: str = ""
    phone: str = ""
    screenshot: bytes | None = None


def kind_label(kind: FeedbackKind) -> str:
    return str(KIND_LABELS[kind])


def status_label(status: FeedbackStatus) -> str:
    return str(STATUS_LABELS[status])


# --- Submitting ---------------------------------------------------------------------------------------------


def _fingerprint(user: User | None, data: NewFeedback) -> tuple[int | None, str, str]:
    return (user.id if user else None, data.kind, data.text.strip())


def _replay(user: User | None, data: NewFeedback) -> PlatformFeedback | None:
    existing = db.session.scalar(sa.select(PlatformFeedback).where(PlatformFeedback.client_id == data.client_id))
    if existing is None:
        return None
    if (existing.user_id, existing.kind.value, existing.text) != _fingerprint(user, data):
        raise FeedbackConflict(field="client_id")
    return existing


def _check(user: User | None, data: NewFeedback) -> tuple[FeedbackKind, ReplyChannel, str | None]:
    errors: dict[str, str] = {}
    try:
        kind = FeedbackKind(data.kind)
    except ValueError:
        errors["kind"] = _("Please choose what your feedback is about.")
    text = data.text.strip()
    if not text:
        errors["text"] = _("Please write your feedback.")
    elif len(text) > TEXT_MAX:
        errors["text"] = _("The feedback is too long: at most %(n)d characters.", n=TEXT_MAX)
    phone: str | None = None
    try:
        channel = ReplyChannel(data.reply_via)
    except ValueError:
        errors["reply_via"] = _("Please choose how we should reply.")
    else:
        if channel is ReplyChannel.APP and user is None:
            errors["reply_via"] = _("A reply in the app needs an account. Log in, or choose a reply by SMS.")
        elif channel is ReplyChannel.SMS:
            try:
                phone = normalise_phone(data.phone or (user.phone if user else ""))
            except InvalidPhone:
                errors["phone"] = _("Please enter a mobile number of 11 digits for the SMS reply.")
    if errors:
        raise FeedbackInvalid(errors)
    return kind, channel, phone


def _screenshot(data: bytes, *, max_bytes: int, max_pixels: int) -> pipeline.ProcessedPhoto:
    try:
        return pipeline.process_photo(
            data,
            max_bytes=max_bytes,
            max_pixels=max_pixels,
            display_edge=SCREENSHOT_EDGE,
            thumb_edge=THUMB_EDGE,
        )
    except pipeline.PhotoRejected as rejected:
        message, status, code = rejections.answer(rejected, rejections.Upload.SCREENSHOT, max_bytes=max_bytes)
        raise ScreenshotRejected(message, status=status, code=code) from rejected


def _valid_client_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return str(uuid.uuid4())  # no usable id (an old form): this submission cannot be recognised as a replay


def submit(
    user: User | None,
    data: NewFeedback,
    *,
    storage: Storage,
    max_bytes: int = 12 * 1024 * 1024,
    max_pixels: int = 50_000_000,
) -> tuple[PlatformFeedback, bool]:
    """Store new feedback, or return the stored one for a replay of the same form. Returns ``(item, created)``.

    Nothing is written (no row, no file) unless every field and the screenshot are acceptable.
    """
    data.client_id = _valid_client_id(data.client_id)
    existing = _replay(user, data)
    if existing is not None:
        return existing, False
    kind, channel, phone = _check(user, data)
    processed = _screenshot(data.screenshot, max_bytes=max_bytes, max_pixels=max_pixels) if data.screenshot else None

    now = utcnow()
    feedback = PlatformFeedback(
        client_id=data.client_id,
        token=secrets.token_urlsafe(32),
        kind=kind,
        text=data.text.strip(),
        reply_via=channel,
        phone=phone,
        user=user,
        status=FeedbackStatus.NEW,
        reply="",
        created_at=now,
        updated_at=now,
    )
    files: list[tuple[str, bytes]] = []
    if processed is not None:
        feedback.screenshot_key = content_key(processed.display, SCREENSHOT_SUFFIX)
        feedback.screenshot_thumb_key = content_key(processed.thumbnail, SCREENSHOT_SUFFIX)
        files = [(feedback.screenshot_key, processed.display), (feedback.screenshot_thumb_key, processed.thumbnail)]
    feedback.events.append(
        PlatformFeedbackEvent(actor=user, action="submit", from_status=None, to_status=FeedbackStatus.NEW.value, at=now)
    )
    db.session.add(feedback)
    try:
        # Two requests with the same form at once: the second one's insert fails and it ends as a replay.
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError:
        db.session.expunge(feedback)
        existing = _replay(user, data)
        if existing is None:
            raise
        return existing, False
    for key, content in files:
        put_in_transaction(db.session, storage, key, content, references.is_referenced)
    return feedback, True


# --- Reading ---------------------------------------------------------------------------------------------------


def get(feedback_id: int) -> PlatformFeedback | None:
    return db.session.get(PlatformFeedback, feedback_id)


def by_token(token: str) -> PlatformFeedback | None:
    if not token or len(token) > 64:
        return None
    found = db.session.scalar(sa.select(PlatformFeedback).where(PlatformFeedback.token == token))
    # Compare again in constant time, so response timing says nothing about how much of a token matched.
    if found is None or not secrets.compare_digest(found.token.encode(), token.encode()):
        return None
    return found


def can_view(user: User | None, feedback: PlatformFeedback) -> bool:
    """The sender (logged in) and admins; people without an account use the private link instead."""
    if user is None:
        return False
    return user.role is Role.ADMIN or (feedback.user_id is not None and feedback.user_id == user.id)


def mine(user: User, limit: int = 100) -> list[PlatformFeedback]:
    return list(
        db.session.scalars(
            sa.select(PlatformFeedback)
            .where(PlatformFeedback.user_id == user.id)
            .order_by(PlatformFeedback.created_at.desc(), PlatformFeedback.id.desc())
            .limit(limit)
        )
    )


def triage_list(
    *, status: FeedbackStatus | None = None, kind: FeedbackKind | None = None, page: int = 1, per_page: int = 20
) -> Page[PlatformFeedback]:
    conditions = []
    if status is not None:
        conditions.append(PlatformFeedback.status == status)
    if kind is not None:
        conditions.append(PlatformFeedback.kind == kind)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(PlatformFeedback).where(*conditions)) or 0
    items = db.session.scalars(
        sa.select(PlatformFeedback)
        .where(*conditions)
        .order_by(PlatformFeedback.created_at.desc(), PlatformFeedback.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return Page(list(items), page, per_page, total)


def status_counts() -> dict[FeedbackStatus, int]:
    rows = db.session.execute(
        sa.select(PlatformFeedback.status, sa.func.count()).group_by(PlatformFeedback.status)
    ).all()
    counts = dict.fromkeys(FeedbackStatus, 0)
    counts.update({status: count for status, count in rows})
    return counts


def allowed_actions(feedback: PlatformFeedback) -> list[Action]:
    return [action for action in ACTIONS.values() if feedback.status in action.sources]


def points_awarded(feedback: PlatformFeedback) -> int:
    """Points this feedback earned its sender (0 if none)."""
    from webapp.points import ledger

    transaction = ledger.find(f"award:feedback:{feedback.id}")
    if transaction is None:
        return 0
    return sum(entry.amount for entry in transaction.entries if entry.amount > 0)


# --- Triage ------------------------------------------------------------------------------------------------------


def perform(feedback: PlatformFeedback, action_name: str, actor: User, message: str = "") -> PlatformFeedbackEvent:
    """Move the feedback on by one action of the table; ``message`` (if any) is the reply the resident sees."""
    if actor.role is not Role.ADMIN:
        raise Forbidden()
    action = ACTIONS.get(action_name)
    if action is None:
        raise FeedbackTransitionError(_("Unknown action."), field="action")
    # Two admins on the same item: the second waits here (PostgreSQL) and then sees the first one's status.
    db.session.refresh(feedback, with_for_update=True)
    if feedback.status not in action.sources:
        raise FeedbackTransitionError(
            _(
                "This feedback is %(status)s now; “%(action)s” is not possible. Please reload the page.",
                status=status_label(feedback.status),
                action=str(action.label),
            )
        )
    message = message.strip()
    if len(message) > REPLY_MAX:
        raise FeedbackInvalid({"message": _("The reply is too long: at most %(n)d characters.", n=REPLY_MAX)})
    if action.needs_message and not message:
        raise FeedbackInvalid({"message": _("Please write the reply.")})
    now = utcnow()
    event = PlatformFeedbackEvent(
        actor=actor,
        action=action.name,
        from_status=feedback.status.value,
        to_status=action.target.value,
        note=message,
        at=now,
    )
    feedback.events.append(event)
    feedback.status = action.target
    feedback.updated_at = now
    if message:
        feedback.reply = message
        feedback.replied_at = now
    db.session.flush()
    if action.name == "adopt" and feedback.user is not None and not feedback.user.role.is_staff:
        awards.award_feedback(feedback.id, feedback.user, at=now)
    if message or action.name == "adopt":
        _tell_sender(feedback, action, message)
    return event


def _tell_sender(feedback: PlatformFeedback, action: Action, message: str) -> None:
    """The reply reaches the resident the way they chose: a notification in the app, or an SMS."""
    kind = "feedback_adopted" if action.name == "adopt" else "feedback_reply"
    if feedback.reply_via is ReplyChannel.APP and feedback.user is not None:
        # Notifications of a resident who asked for SMS in their profile go out by SMS too (notify does that).
        notifications.notify([feedback.user], kind, ref=feedback.reference, feedback=feedback.id)
    elif feedback.reply_via is ReplyChannel.SMS and feedback.phone:
        with force_locale("zh_Hans_CN"):
            text = str(notifications.MESSAGES[kind]) % {"ref": feedback.reference}
        if message:  # an SMS is short: the whole reply is on the status page
            text += " " + (message if len(message) <= 200 else message[:199] + "…")
        # Sent after commit; a failure is recorded for the monitoring page and the reply stays on the status page.
        queue_sms(notice_message(feedback.phone, text))
