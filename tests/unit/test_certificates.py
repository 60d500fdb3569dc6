"""Participation certificates: frozen figures, unguessable codes, revocation, counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_report, make_user
from webapp import localtime
from webapp.accounts.models import Role
from webapp.activities import certificates, checkin, services
from webapp.activities.models import ActivityKind, Certificate
from webapp.db import db, utcnow
from webapp.points import awards
from webapp.reports.status import ReportStatus


@pytest.fixture(autouse=True)
def _english(ctx):  # type: ignore[no-untyped-def]
    """Messages are matched in English (the default language is Chinese)."""
    with force_locale("en"):
        yield


def this_year() -> localtime.Period:
    return localtime.current_period(localtime.PeriodKind.YEAR)


def test_figures_count_what_the_resident_did_and_stay_frozen():
    resident = make_user(name="王小明")
    accepted = make_report(resident)
    accepted.status = ReportStatus.ACCEPTED
    awards.award_report(accepted)
    make_report(resident)  # still awaiting review: not counted
    start = utcnow() - timedelta(minutes=10)
    admin = make_user(Role.ADMIN)
    activity = services.create_activity(
        admin,
        services.ActivityData(
            kind=ActivityKind.VOLUNTEER_DAY,
            title="志愿服务日",
            description="",
            address="兴华街道",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            capacity=5,
            min_stay_minutes=30,
        ),
        now=start - timedelta(days=1),
    )
    now = utcnow()
    checkin.resident_scan(resident, activity, checkin.token_for(activity.id, checkin.window_of(now)), at=now)
    checkin.organiser_check(admin, activity, resident.phone, action="out", now=now + timedelta(minutes=45))
    certificate = certificates.issue(resident, this_year(), name=" 王小明 ")
    figures = certificate.figures
    assert figures["reports_accepted"] == 1 and figures["activities_attended"] == 1
    assert figures["volunteer_minutes"] == 45
    assert figures["points_earned"] == 5 + 10
    assert figures["honour_places"] and figures["honour_places"][0]["rank"] == 1
    assert certificate.name == "王小明"
    # Later activity does not change a certificate already issued.
    more = make_report(resident)
    more.status = ReportStatus.ACCEPTED
    db.session.flush()
    assert certificates.verify(certificate.code).figures == figures
    assert "phone" not in certificate.figures_json and resident.phone not in certificate.figures_json


def test_codes_are_long_random_and_checked_strictly():
    resident = make_user()
    codes = {certificates.issue(resident, this_year(), name="").code for _ in range(20)}
    assert len(codes) == 20
    assert all(re.fullmatch(r"[23456789A-HJKMNP-Z]{16}", code) for code in codes)
    code = next(iter(codes))
    assert certificates.verify(certificates.pretty(code).lower()).code == code
    for bad in ("", "ABC", code[:-1], code + "2", code.replace(code[0], "0"), "\x00" * 16):
        assert certificates.verify(bad) is None


def test_revoke_and_counts():
    resident, other = make_user(), make_user()
    certificate = certificates.issue(resident, this_year(), name="")
    certificates.issue(resident, this_year(), name="")
    with pytest.raises(certificates.CertificateError):
        certificates.revoke(other, certificate)
    certificates.revoke(resident, certificate)
    with pytest.raises(certificates.CertificateError, match="already"):
        certificates.revoke(resident, certificate)
    certificates.verify(certificate.code)
    certificates.verify(certificate.code)
    db.session.flush()
    counts = certificates.counts()
    assert (counts.issued, counts.revoked, counts.verifications) == (2, 1, 2)
    assert not db.session.get(Certificate, certificate.id).valid


def test_bad_names_and_future_periods_are_refused():
    resident = make_user()
    with pytest.raises(certificates.CertificateError):
        certificates.issue(resident, this_year(), name="x" * 41)
    with pytest.raises(certificates.CertificateError):
        certificates.issue(resident, this_year(), name="a\x07b")
    with pytest.raises(certificates.CertificateError, match="not started"):
        certificates.issue(resident, this_year().next(), name="")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0
