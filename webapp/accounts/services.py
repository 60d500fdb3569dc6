"""Account state changes: registration, log-in checks, SMS codes, profile, passwords.

Services flush and never commit; the caller owns the transaction.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.accounts import sessions
from webapp.accounts.models import PhoneVerification, Role, SmsPurpose, User
from webapp.accounts.sms import code_message, notice_message, queue_sms
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.extensions import lazy_gettext as _l

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
PASSWORD_MIN = 8
PASSWORD_MAX = 128
DISPLAY_NAME_MAX = 40
# A hash to compare against when the phone is unknown, so a wrong phone costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class InvalidPhone(DomainError):
    code = "invalid_phone"
    default_message = _l("Please enter a mainland China mobile number: 11 digits starting with 1.")


class PhoneTaken(DomainError):
    status = 409
    code = "phone_taken"
    default_message = _l("This mobile number is already registered. Please log in instead.")


class WeakPassword(DomainError):
    code = "weak_password"
    default_message = _l("The password must have at least 8 characters and must not be your phone number.")


class InvalidCode(DomainError):
    code = "invalid_code"
    default_message = _l("The verification code is wrong or has expired. Please request a new one.")


class WrongPassword(DomainError):
    status = 400
    code = "wrong_password"
    default_message = _l("The current password is not correct.")


def normalise_phone(raw: str) -> str:
    """Accept '138 0013 8000', '+86 138-0013-8000' and the like; return 11 digits or raise InvalidPhone."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE_RE.match(digits):
        raise InvalidPhone(field="phone")
    return digits


def check_password_strength(password: str, phone: str) -> None:
    if not (PASSWORD_MIN <= len(password) <= PASSWORD_MAX) or password == phone:
        raise WeakPassword(field="password")


def find_by_phone(phone: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.phone == phone))


def create_user(
    phone: str,
    password: str,
    *,
    role: Role = Role.CITIZEN,
    display_name: str = "",
    verified_at: datetime | None = None,
) -> User:
    phone = normalise_phone(phone)
    check_password_strength(password, phone)
    if find_by_phone(phone) is not None:
        raise PhoneTaken(field="phone")
    user = User(
        phone=phone,
        role=role,
        display_name=display_name.strip()[:DISPLAY_NAME_MAX],
        phone_verified_at=verified_at,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(phone: str, password: str) -> User | None:
    """The active user with this phone and password, or None. Takes the same time whether the phone exists."""
    try:
        phone = normalise_phone(phone)
    except InvalidPhone:
        check_password_hash(_DUMMY_HASH, password)
        return None
    user = find_by_phone(phone)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def send_code(phone: str, purpose: SmsPurpose, *, ttl_seconds: int = 600, now: datetime | None = None) -> str:
    """Create a 6-digit code for ``phone``, queue its SMS (sent after commit), and return it (the development
    backend shows it on the page)."""
    phone = normalise_phone(phone)
    now = now or utcnow()
    code = f"{secrets.randbelow(1_000_000):06d}"
    # A new code replaces older unused ones, so only the latest message works.
    db.session.execute(
        sa.update(PhoneVerification)
        .where(
            PhoneVerification.phone == phone,
            PhoneVerification.purpose == purpose,
            PhoneVerification.consumed_at.is_(None),
        )
        .values(consumed_at=now)
    )
    db.session.add(
        PhoneVerification(
            phone=phone,
            purpose=purpose,
            code_hash=generate_password_hash(code, method="pbkdf2:sha256:50000"),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    db.session.flush()
    queue_sms(code_message(phone, code, ttl_seconds // 60))
    return code


ALREADY_REGISTERED_SMS = (
    "该手机号已注册全民网格账号，请直接登录；如忘记密码，请在登录页选择“忘记密码”。如非本人操作请忽略。"
)


def request_code(phone: str, purpose: SmsPurpose, *, ttl_seconds: int = 600) -> str | None:
    """Answer a request for a code the same way whether or not ``phone`` has an account (the page never tells):
    registering a known number texts that it is already registered; resetting an unknown one sends nothing.
    Returns the code when one was sent (the development backend shows it)."""
    phone = normalise_phone(phone)
    registered = find_by_phone(phone) is not None
    if purpose is SmsPurpose.REGISTER and registered:
        queue_sms(notice_message(phone, ALREADY_REGISTERED_SMS))
        return None
    if purpose is SmsPurpose.RESET_PASSWORD and not registered:
        return None
    return send_code(phone, purpose, ttl_seconds=ttl_seconds)


def consume_code(
    phone: str, purpose: SmsPurpose, code: str, *, max_attempts: int = 5, now: datetime | None = None
) -> None:
    """Accept the latest unexpired code for ``phone`` once, or raise InvalidCode."""
    now = now or utcnow()
    verification = db.session.scalar(
        sa.select(PhoneVerification)
        .where(
            PhoneVerification.phone == phone,
            PhoneVerification.purpose == purpose,
            PhoneVerification.consumed_at.is_(None),
        )
        .order_by(PhoneVerification.id.desc())
        .limit(1)
        .with_for_update()
    )
    if verification is None or verification.expires_at <= now or verification.attempts >= max_attempts:
        raise InvalidCode(field="code")
    if not check_password_hash(verification.code_hash, (code or "").strip()):
        verification.attempts += 1
        db.session.flush()
        raise InvalidCode(field="code")
    verification.consumed_at = now
    db.session.flush()


def register(phone: str, code: str, password: str, display_name: str = "", *, max_attempts: int = 5) -> User:
    phone = normalise_phone(phone)
    check_password_strength(password, phone)
    # The code first: a registered number never got one, so it fails like any wrong code and tells nothing.
    consume_code(phone, SmsPurpose.REGISTER, code, max_attempts=max_attempts)
    return create_user(phone, password, display_name=display_name, verified_at=utcnow())


def reset_password(phone: str, code: str, new_password: str, *, max_attempts: int = 5) -> User:
    phone = normalise_phone(phone)
    check_password_strength(new_password, phone)
    user = find_by_phone(phone)
    # Check the code even for unknown phones, so the answer does not reveal who is registered.
    consume_code(phone, SmsPurpose.RESET_PASSWORD, code, max_attempts=max_attempts)
    if user is None:
        raise InvalidCode(field="code")
    user.set_password(new_password)
    sessions.end_all(user, action="password_reset")  # whoever knew the old password is logged out
    db.session.flush()
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not user.check_password(current_password):
        raise WrongPassword(field="current_password")
    check_password_strength(new_password, user.phone)
    user.set_password(new_password)
    sessions.end_all(user, action="password_changed", actor=user)
    db.session.flush()


def update_profile(
    user: User,
    *,
    display_name: str,
    show_name_publicly: bool,
    large_text: bool,
    locale: str | None,
    notify_by_sms: bool = False,
    notify_only_important: bool = False,
) -> None:
    user.display_name = display_name.strip()[:DISPLAY_NAME_MAX]
    user.show_name_publicly = show_name_publicly
    user.large_text = large_text
    user.notify_by_sms = notify_by_sms
    user.notify_only_important = notify_only_important
    user.locale = locale
    db.session.flush()


def set_preference(user: User, *, locale: str | None = None, large_text: bool | None = None) -> None:
    """Remember a single display preference (language or large text) chosen from any page."""
    if locale is not None:
        user.locale = locale
    if large_text is not None:
        user.large_text = large_text
    db.session.flush()
