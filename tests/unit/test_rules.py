"""The points rules: versions that start at a moment and are never edited, bounds on every setting with a clear
message, and awards that record the version they were paid under (also when a rule changes mid-month)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_user
from tests.unit.cases import RUBBISH, make_case
from webapp import localtime
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.points import awards, ledger, rules
from webapp.points.models import FundAudit, LedgerTransaction, PointsRules, TransactionKind
from webapp.points.rules import DEFAULT_SETTINGS, RulesError
from webapp.reports.status import ReportStatus

LOCAL = localtime.zone()


@pytest.fixture
def admin(ctx):  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


def settings(**changes: object) -> dict[str, object]:
    return {**DEFAULT_SETTINGS, **changes}


def backdate(row: PointsRules, when: datetime) -> None:
    """Versions cannot be published for the past; a test moves one back to build history."""
    db.session.execute(sa.update(PointsRules).where(PointsRules.version == row.version).values(effective_from=when))
    db.session.expire(row)


def test_without_a_published_version_the_defaults_apply_as_version_0(ctx):
    current = rules.effective()
    assert current.version == 0
    assert current["report_points"] == 5 and current["monthly_points_cap"] == 300 and current["fen_per_point"] == 10


def test_versions_are_numbered_and_each_applies_from_its_start(ctx, admin):
    now = utcnow()
    first = rules.publish(settings(report_points=6), effective_from=now, admin=admin, note="第一版")
    second = rules.publish(settings(report_points=8), effective_from=now + timedelta(days=10), admin=admin)
    assert (first.version, second.version) == (1, 2)
    assert rules.effective(now - timedelta(seconds=1)).version == 0
    assert rules.effective(now + timedelta(days=1))["report_points"] == 6
    assert rules.effective(now + timedelta(days=10)).version == 2
    assert rules.effective(now + timedelta(days=10))["report_points"] == 8
    assert [row.version for row in rules.versions()] == [2, 1]


def test_publishing_is_audited(ctx, admin):
    rules.publish(settings(daily_report_cap=3), effective_from=utcnow(), admin=admin)
    row = db.session.scalar(sa.select(FundAudit))
    assert row.action == "rules_published" and row.actor_id == admin.id
    details = json.loads(row.details_json)
    assert details["version"] == 1 and details["settings"]["daily_report_cap"] == 3


def test_rules_cannot_start_in_the_past(ctx, admin):
    with force_locale("en"), pytest.raises(RulesError) as caught:
        rules.publish(settings(), effective_from=utcnow() - timedelta(hours=1), admin=admin)
    assert caught.value.field == "effective_from"
    assert "cannot start in the past" in str(caught.value.message)
    assert rules.versions() == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("report_points", -1),  # negative
        ("report_points", 2.5),  # fractional
        ("report_points", "5"),  # text
        ("report_points", True),  # a tick box is not a number
        ("report_points", 101),  # above the bound
        ("emergency_multiplier", 0),
        ("fen_per_point", 0),
        ("monthly_points_cap", 10_001),
    ],
)
def test_every_setting_must_be_a_whole_number_within_its_bounds(ctx, admin, key, value):
    with force_locale("en"), pytest.raises(RulesError) as caught:
        rules.publish(settings(**{key: value}), effective_from=utcnow(), admin=admin)
    low, high = rules.LIMITS[key]
    assert caught.value.field == key
    assert str(caught.value.message) == f"“{key}” must be a whole number from {low} to {high}."
    assert rules.versions() == []


@pytest.mark.parametrize(
    "overrides",
    [{"1002": 5}, {"01002": -1}, {"01002": 2.5}, {"01002": 201}, {"abcde": 3}, ["01002", 5], {"01002": True}],
)
def test_category_points_map_five_digit_codes_to_whole_points(ctx, admin, overrides):
    with force_locale("en"), pytest.raises(RulesError) as caught:
        rules.publish(settings(category_points=overrides), effective_from=utcnow(), admin=admin)
    assert caught.value.field == "category_points"
    assert "5-digit category codes to 0–200 points" in str(caught.value.message)


def test_the_base_of_a_report_follows_the_category_and_safety(ctx):
    current = rules.Rules(3, settings(report_points=4, safety_report_points=9, category_points={"06042": 12}))
    assert current.report_base("06042", safety_critical=False) == 12  # an override wins
    assert current.report_base("06010", safety_critical=False) == 4
    assert current.report_base("01002", safety_critical=True) == 9


def test_a_rule_missing_from_an_old_version_falls_back_to_the_default(ctx):
    assert rules.Rules(1, {"report_points": 7})["rating_points"] == DEFAULT_SETTINGS["rating_points"]


@pytest.mark.parametrize(
    ("moment", "mid_month"),
    [
        (datetime(2026, 6, 1, 0, 0, tzinfo=LOCAL), False),  # midnight on the 1st, Beijing time
        (datetime(2026, 5, 31, 16, 0, tzinfo=UTC), False),  # the same moment in UTC
        (datetime(2026, 6, 1, 0, 0, tzinfo=UTC), True),  # 08:00 in Beijing: the month has started
        (datetime(2026, 6, 15, 9, 30, tzinfo=LOCAL), True),
    ],
)
def test_a_change_mid_month_is_recognised_in_local_time(moment, mid_month):
    assert rules.starts_mid_month(moment) is mid_month


def test_each_award_records_the_version_in_force_when_a_rule_changes_mid_month(ctx, admin):
    """Version 1 pays 5 a report and caps the month at 12; version 2 (from the 15th) pays 8 and caps it at 20.
    Awards before the change keep version 1; after it, the cap of version 2 counts what version 1 already paid."""
    now = utcnow()
    first = rules.publish(settings(report_points=5, monthly_points_cap=12), effective_from=now, admin=admin)
    second = rules.publish(settings(report_points=8, monthly_points_cap=20), effective_from=now, admin=admin)
    backdate(first, datetime(2026, 1, 1, tzinfo=LOCAL))
    backdate(second, datetime(2026, 3, 15, tzinfo=LOCAL))
    reporter = make_user()

    def opened_at(day: int) -> list[tuple[int | None, int]]:
        report = make_case(reporter, status=ReportStatus.ACCEPTED, category_code=RUBBISH)
        paid = awards.award_report(report, at=datetime(2026, 3, day, 10, tzinfo=LOCAL))
        return [(t.rule_version, sum(e.amount for e in t.entries if e.amount > 0)) for t in paid]

    assert opened_at(3) == [(1, 5)]
    assert opened_at(10) == [(1, 5)]
    assert opened_at(16) == [(2, 8)]  # 10 + 8 = 18 ≤ 20
    assert opened_at(20) == [(2, 2)]  # clipped: the cap of 20 counts the 10 paid under version 1
    assert opened_at(21) == []
    recorded = db.session.scalars(
        sa.select(LedgerTransaction.rule_version)
        .where(LedgerTransaction.kind == TransactionKind.AWARD)
        .order_by(LedgerTransaction.created_at)
    ).all()
    assert recorded == [1, 1, 2, 2]
    assert ledger.balance_of(reporter) == 20


def test_publishing_a_version_never_changes_what_was_paid(ctx, admin):
    reporter = make_user()
    report = make_case(reporter, status=ReportStatus.ACCEPTED, category_code=RUBBISH)
    (paid,) = awards.award_report(report)
    assert paid.rule_version == 0
    rules.publish(settings(report_points=50), effective_from=utcnow(), admin=admin)
    db.session.expire_all()
    again = db.session.get(LedgerTransaction, paid.id)
    assert again.rule_version == 0 and ledger.balance_of(reporter) == DEFAULT_SETTINGS["report_points"]
    assert awards.award_report(report) == []  # replaying the event pays nothing under the new rules either
