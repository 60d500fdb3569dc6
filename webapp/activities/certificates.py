"""Participation certificates (参与证明, 政策激励) that schools and committees can check.

A resident issues a certificate for a month, quarter or year with the name they choose (or none). Its figures are
computed once and frozen; ``/verify/<code>`` shows exactly those figures, the issue date and whether it is still
valid, from the server, so a changed printout is caught. The code is 16 characters from a 31-letter alphabet
(about 79 bits): it cannot be guessed, and the verify page is rate-limited. Nothing else about the resident is on
it: no phone number, no report addresses.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import localtime
from webapp.accounts.models import User
from webapp.activities.models import Certificate, Checkin
from webapp.activities.services import ActivityError, has_control_characters
from webapp.db import db, utcnow
from webapp.points import honour
from webapp.points.models import Account, AccountKind, LedgerEntry, LedgerTransaction, TransactionKind
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
NAME_MAX = 40
_CODE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
NOT_ACCEPTED = (ReportStatus.PENDING_REVIEW, ReportStatus.REJECTED)


class CertificateError(ActivityError):
    code = "certificate_refused"


def pretty(code: str) -> str:
    """XXXX-XXXX-XXXX-XXXX, for reading out and typing."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(code: str | None) -> str | None:
    value = re.sub(r"[\s-]", "", code or "").upper()
    return value if _CODE.fullmatch(value) else None


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(sa.select(Certificate.id).where(Certificate.code == code)) is None:
            return code


@dataclass(frozen=True)
class Figures:
    reports_accepted: int
    volunteer_fixes: int
    activities_attended: int
    volunteer_minutes: int
    points_earned: int
    honour_places: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports_accepted": self.reports_accepted,
            "volunteer_fixes": self.volunteer_fixes,
            "activities_attended": self.activities_attended,
            "volunteer_minutes": self.volunteer_minutes,
            "points_earned": self.points_earned,
            "honour_places": self.honour_places,
        }


def figures(user: User, period: localtime.Period) -> Figures:
    start, end = period.start, period.end
    reports_accepted = db.session.scalar(
        sa.select(sa.func.count()).where(
            Report.reporter_id == user.id,
            Report.created_at >= start,
            Report.created_at < end,
            Report.status.not_in(NOT_ACCEPTED),
        )
    )
    fixes = db.session.scalar(
        sa.select(sa.func.count()).where(
            Report.handler_id == user.id,
            Report.status == ReportStatus.CLOSED,
            Report.closed_at >= start,
            Report.closed_at < end,
        )
    )
    attended, minutes = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Checkin.minutes), 0)).where(
            Checkin.user_id == user.id, Checkin.checked_in_at >= start, Checkin.checked_in_at < end
        )
    ).one()
    points = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(
            Account.kind == AccountKind.RESIDENT,
            Account.user_id == user.id,
            LedgerTransaction.kind == TransactionKind.AWARD,
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
        )
    )
    places = []
    months = [period] if period.kind is localtime.PeriodKind.MONTH else _months_of(period)
    for month in months:
        if not month.has_started():
            continue
        row = honour.certificate_rank(user, month)
        if row is not None:
            places.append({"period": f"{month.year}-{month.number:02d}", "rank": row.rank})
    return Figures(
        int(reports_accepted or 0), int(fixes or 0), int(attended or 0), int(minutes or 0), int(points or 0), places
    )


def _months_of(period: localtime.Period) -> list[localtime.Period]:
    month = localtime.Period(localtime.PeriodKind.MONTH, period.first_day.year, period.first_day.month)
    months = []
    while month.start < period.end:
        months.append(month)
        month = month.next()
    return months


def issue(user: User, period: localtime.Period, *, name: str, now: datetime | None = None) -> Certificate:
    now = now or utcnow()
    name = name.strip()
    if has_control_characters(name) or "\n" in name or "\t" in name:
        raise CertificateError(_("Please remove the control characters from the name."), field="name")
    if len(name) > NAME_MAX:
        raise CertificateError(_("The name is too long: at most %(n)d characters.", n=NAME_MAX), field="name")
    if not period.has_started(now):
        raise CertificateError(_("This period has not started yet."), field="period")
    certificate = Certificate(
        code=_new_code(),
        user_id=user.id,
        name=name,
        period_start=period.start,
        period_end=period.end,
        figures_json=json.dumps(figures(user, period).as_dict(), sort_keys=True),
        issued_at=now,
    )
    db.session.add(certificate)
    db.session.flush()
    return certificate


def mine(user: User) -> list[Certificate]:
    return list(
        db.session.scalars(
            sa.select(Certificate)
            .where(Certificate.user_id == user.id)
            .order_by(Certificate.issued_at.desc())
            .limit(100)
        )
    )


def owned(user: User, certificate_id: int) -> Certificate | None:
    certificate = db.session.get(Certificate, certificate_id)
    return certificate if certificate is not None and certificate.user_id == user.id else None


def revoke(user: User, certificate: Certificate, *, now: datetime | None = None) -> Certificate:
    if certificate.user_id != user.id:
        raise CertificateError(_("This is not your certificate."))
    if certificate.revoked_at is not None:
        raise CertificateError(_("This certificate was already revoked."))
    certificate.revoked_at = now or utcnow()
    db.session.flush()
    return certificate


def verify(code: str | None) -> Certificate | None:
    """The certificate with this code, counting the check; None for an unknown or malformed code."""
    value = normalise(code)
    if value is None:
        return None
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.code == value))
    if certificate is None:
        return None
    db.session.execute(
        sa.update(Certificate).where(Certificate.id == certificate.id).values(verify_count=Certificate.verify_count + 1)
    )
    return certificate


@dataclass(frozen=True)
class Counts:
    issued: int
    revoked: int
    verifications: int


def counts() -> Counts:
    issued, revoked, verified = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(Certificate.revoked_at),
            sa.func.coalesce(sa.func.sum(Certificate.verify_count), 0),
        )
    ).one()
    return Counts(int(issued or 0), int(revoked or 0), int(verified or 0))
