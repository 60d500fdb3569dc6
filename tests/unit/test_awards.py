"""What earns points, and how much (reference: city-governance.md §6).

A valid report earns its category's base (safety-critical more), five times for an emergency, plus a campaign's
bonus within its window, categories, places and budget; only the first reporter earns it, a later reporter a token
once per case; rejected reports earn nothing. Volunteers earn for an accepted fix, residents for rating and for
adopted feedback, each once. Daily and monthly caps (in Asia/Shanghai days and months) hold, under the rule version
in force at the time, which every award records. Reversals never take a balance below zero; points expire FIFO at
the end of the year after they were earned, refunds never.
"""

from __future__ import annotations

import uuid
from collections import deque
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import gettext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import jpeg_bytes, make_user, new_report_data
from tests.unit.cases import GAS_LEAK, LITTER, RUBBISH, STREET_LIGHT, make_case, make_department, make_grid, make_staff
from webapp import localtime
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.feedback import ratings as feedback
from webapp.handling import services as handling
from webapp.points import awards, ledger, rules, store
from webapp.points.awards import ReversalError
from webapp.points.models import (
    Account,
    AccountKind,
    Campaign,
    LedgerEntry,
    LedgerTransaction,
    StoreItem,
    TransactionKind,
)
from webapp.points.rules import RulesError
from webapp.reports.models import Report, Severity
from webapp.reports.status import ReportStatus
from webapp.review import services as review

S = ReportStatus
LOCAL = localtime.zone()
MANHOLE = "01002"  # 污水井盖: safety-critical


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL)


def future_month(months_ahead: int = 2) -> date:
    """The first day of a month far enough ahead that rules may still be published for it."""
    today = localtime.local_date(utcnow())
    index = today.year * 12 + today.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def paid_to(user: User) -> list[LedgerTransaction]:
    """The award transactions that paid this person, oldest first."""
    return list(
        db.session.scalars(
            sa.select(LedgerTransaction)
            .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(Account.user_id == user.id, LedgerTransaction.kind == TransactionKind.AWARD)
            .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
        )
    )


def resident_amount(transaction: LedgerTransaction) -> int:
    return sum(e.amount for e in transaction.entries if e.account.kind is AccountKind.RESIDENT)


def amounts(user: User) -> list[tuple[str, int]]:
    return [(t.reason, resident_amount(t)) for t in paid_to(user)]


def opened(
    reporter: User | None,
    at: datetime,
    *,
    category_code: str = RUBBISH,
    severity: Severity = Severity.GENERAL,
    **fields: object,
) -> Report:
    """A case opened at ``at`` and its award (what the workflow does on the accept event)."""
    report = make_case(reporter, status=S.ACCEPTED, category_code=category_code, severity=severity, **fields)
    awards.award_report(report, at=at)
    return report


def give(user: User, points: int, *, at: datetime | None = None) -> None:
    at = at or utcnow()
    fund = ledger.system_account(AccountKind.FUND)
    ledger.post(
        f"test:grant:{uuid.uuid4()}",
        TransactionKind.AWARD,
        "test_grant",
        [(fund, -points), (ledger.account_for(user), points)],
        expires_on=awards.expiry_for(at),
        at=at,
    )


def make_item(admin: User, *, price: int, stock: int = 100) -> StoreItem:
    item = StoreItem(name_zh="牙刷", points_price=price, cost_fen=100, stock=0)
    db.session.add(item)
    db.session.flush()
    store.purchase(item, admin, quantity=stock, cost_fen=100 * stock, budget_line=None)
    return item


def wipe() -> None:
    """Empty every table but the reference data (between hypothesis examples, which share one test's database)."""
    db.session.flush()
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in {"category_groups", "categories"}:
            db.session.execute(table.delete())
    db.session.expunge_all()


def assert_ledger_sound() -> None:
    assert ledger.unbalanced_transactions() == []
    negative = db.session.execute(
        sa.select(Account.id, sa.func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(Account.kind == AccountKind.RESIDENT)
        .group_by(Account.id)
        .having(sa.func.sum(LedgerEntry.amount) < 0)
    ).all()
    assert negative == []


@pytest.fixture
def reviewer(ctx) -> User:
    return make_staff(Role.REVIEWER)


@pytest.fixture
def admin(ctx) -> User:
    return make_user(Role.ADMIN)


@pytest.fixture
def department(ctx):  # type: ignore[no-untyped-def]
    return make_department()


def accept(report: Report, reviewer: User, department, severity: Severity = Severity.GENERAL) -> None:  # type: ignore[no-untyped-def]
    review.accept(report, reviewer, category_code=report.category_code, severity=severity, department=department)


# --- Base points ------------------------------------------------------------------------------------------------


def test_opening_a_case_pays_its_reporter_the_base_for_the_category(reviewer, department):
    reporter = make_user()
    report = make_case(reporter)
    accept(report, reviewer, department)
    [award] = paid_to(reporter)
    assert (award.kind, award.reason, award.business_key, award.report_id) == (
        TransactionKind.AWARD,
        "report_accepted",
        f"award:report:{report.id}:reporter",
        report.id,
    )
    assert award.rule_version == 0 and award.memo == report.category.name_zh  # no rules published: the defaults
    assert sorted((e.account.kind, e.amount) for e in award.entries) == [
        (AccountKind.FUND, -5),
        (AccountKind.RESIDENT, 5),
    ]
    resident_entry = next(e for e in award.entries if e.amount > 0)
    assert resident_entry.expires_on == date(localtime.local_date(award.created_at).year + 1, 12, 31)
    assert ledger.balance_of(reporter) == 5


def test_safety_critical_categories_earn_more(reviewer, department):
    reporter = make_user()
    for code in (MANHOLE, GAS_LEAK):
        report = make_case(reporter, category_code=code)
        assert report.category.safety_critical
        accept(report, reviewer, department)
    assert [amount for _reason, amount in amounts(reporter)] == [10, 10]


def test_per_category_overrides(reviewer, department, admin):
    rules.publish({"category_points": {RUBBISH: 7, MANHOLE: 15}}, effective_from=utcnow(), admin=admin)
    reporter = make_user()
    for code in (RUBBISH, MANHOLE, STREET_LIGHT, GAS_LEAK):
        accept(make_case(reporter, category_code=code), reviewer, department)
    assert [amount for _reason, amount in amounts(reporter)] == [7, 15, 5, 10]
    assert {t.rule_version for t in paid_to(reporter)} == {1}


@pytest.mark.parametrize(
    ("severity", "code", "expected"),
    [
        (Severity.GENERAL, RUBBISH, 5),
        (Severity.MAJOR, RUBBISH, 5),
        (Severity.URGENT, RUBBISH, 25),
        (Severity.CRITICAL, RUBBISH, 25),
        (Severity.CRITICAL, MANHOLE, 50),
    ],
)
def test_a_confirmed_emergency_earns_five_times_the_base(reviewer, department, severity, code, expected):
    reporter = make_user()
    accept(make_case(reporter, category_code=code), reviewer, department, severity)
    assert amounts(reporter) == [("report_accepted", expected)]


def test_the_emergency_multiplier_is_a_rule(reviewer, department, admin):
    rules.publish({"emergency_multiplier": 3}, effective_from=utcnow(), admin=admin)
    reporter = make_user()
    accept(make_case(reporter), reviewer, department, Severity.URGENT)
    assert amounts(reporter) == [("report_accepted", 15)]


# --- Who earns: first reporter, later reporters, rejected reports, staff ---------------------------------------


def test_only_the_first_reporter_earns_and_a_later_reporter_gets_a_token_once(reviewer, department):
    first, second, third = make_user(), make_user(), make_user()
    original = make_case(first)
    accept(original, reviewer, department)

    duplicate = make_case(second)
    review.reject(duplicate, reviewer, reason="duplicate", duplicate_of=original.id)
    assert amounts(second) == [("later_reporter", 1)]
    [token] = paid_to(second)
    assert token.report_id == original.id and token.business_key == f"award:later:{original.id}:{second.id}"

    again = make_case(second)  # the same person reporting the same case again
    review.reject(again, reviewer, reason="duplicate", duplicate_of=original.id)
    own = make_case(first)  # the first reporter reporting their own case again
    review.reject(own, reviewer, reason="duplicate", duplicate_of=original.id)
    chained = make_case(third)  # a duplicate of a duplicate counts for the original
    review.reject(chained, reviewer, reason="duplicate", duplicate_of=duplicate.id)

    assert amounts(first) == [("report_accepted", 5)]
    assert amounts(second) == [("later_reporter", 1)]
    assert amounts(third) == [("later_reporter", 1)] and paid_to(third)[0].report_id == original.id
    assert duplicate.status is S.REJECTED and again.status is S.REJECTED


def test_a_duplicate_of_a_case_not_yet_opened_earns_nothing(reviewer, department):
    pending = make_case(make_user())
    later = make_user()
    review.reject(make_case(later), reviewer, reason="duplicate", duplicate_of=pending.id)
    assert paid_to(later) == []


def test_the_later_reporter_token_is_a_rule(reviewer, department, admin):
    rules.publish({"later_reporter_points": 0}, effective_from=utcnow(), admin=admin)
    original = make_case(make_user())
    accept(original, reviewer, department)
    later = make_user()
    review.reject(make_case(later), reviewer, reason="duplicate", duplicate_of=original.id)
    assert paid_to(later) == []


@pytest.mark.parametrize("reason", sorted(set(review.REJECT_REASONS) - {"duplicate"}))
def test_a_rejected_report_earns_nothing(reviewer, reason):
    reporter = make_user()
    report = make_case(reporter)
    review.reject(report, reviewer, reason=reason, note="核实")
    assert report.status is S.REJECTED
    assert paid_to(reporter) == [] and ledger.balance_of(reporter) == 0
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id))) == 0


def test_staff_and_suspended_accounts_earn_nothing(reviewer, department):
    staff_reporter = make_staff(Role.DEPARTMENT, department)
    accept(make_case(staff_reporter), reviewer, department)
    suspended = make_user()
    report = make_case(suspended)
    suspended.active = False
    accept(report, reviewer, department)
    anonymous = make_case(None)
    accept(anonymous, reviewer, department)
    assert paid_to(staff_reporter) == [] and paid_to(suspended) == []
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id))) == 0


# --- Volunteers, ratings, feedback --------------------------------------------------------------------------------


def test_a_volunteers_fix_accepted_at_the_check_earns_once(reviewer, storage):
    reporter, volunteer = make_user(), make_user(Role.VOLUNTEER)
    report = make_case(reporter, category_code=LITTER)
    review.accept(
        report, reviewer, category_code=LITTER, severity=Severity.GENERAL, department=None, for_volunteers=True
    )
    handling.claim(report, volunteer)
    handling.post_result(report, volunteer, note="已清理", photos=[jpeg_bytes()], storage=storage)
    assert paid_to(volunteer) == []  # nothing until a reviewer has checked it
    review.close(report, reviewer)
    assert amounts(volunteer) == [("volunteer_result", 8)] and amounts(reporter) == [("report_accepted", 5)]
    assert paid_to(volunteer)[0].business_key == f"award:volunteer:{report.id}"

    # The reporter is not satisfied: reopened, checked and closed again. Nobody is paid twice; rating pays once.
    feedback.rate(report, reporter, stars=1, comment="还有垃圾", reopen=True)
    review.close(report, reviewer)
    assert amounts(volunteer) == [("volunteer_result", 8)]
    assert amounts(reporter) == [("report_accepted", 5), ("rating", 1)]


def test_a_volunteer_who_reports_and_fixes_at_once_earns_the_volunteer_award_only(reviewer, storage):
    volunteer = make_user(Role.VOLUNTEER)
    report, _ = handling.report_and_fix(
        volunteer,
        new_report_data(category_code=LITTER),
        after_photos=[jpeg_bytes(pattern=2)],
        note="顺手清理",
        storage=storage,
    )
    assert paid_to(volunteer) == []
    review.close(report, reviewer)
    assert amounts(volunteer) == [("volunteer_result", 8)]


def test_a_department_closing_its_case_earns_nobody_a_volunteer_award(reviewer, department):
    reporter = make_user()
    report = make_case(reporter, status=S.AWAITING_CHECK, department_id=department.id)
    review.close(report, reviewer)
    assert db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id))) == 0


def test_rating_a_closed_case_earns_once(department):
    reporter = make_user()
    report = make_case(reporter, status=S.CLOSED, department_id=department.id)
    feedback.rate(report, reporter, stars=5)
    assert amounts(reporter) == [("rating", 1)]
    assert awards.award_rating(report, reporter) is None
    assert paid_to(reporter)[0].business_key == f"award:rating:{report.id}:{reporter.id}"
    assert ledger.balance_of(reporter) == 1


def test_adopted_feedback_is_paid_once_per_feedback(ctx):
    user = make_user()
    first = awards.award_feedback(42, user)
    assert first is not None and first.reason == "feedback_adopted" and first.business_key == "award:feedback:42"
    assert awards.award_feedback(42, user) is None
    assert awards.award_feedback(42, make_user()) is None  # the feedback is paid once, whoever asks
    assert awards.award_feedback(43, user) is not None
    assert amounts(user) == [("feedback_adopted", 5), ("feedback_adopted", 5)]


# --- Caps -----------------------------------------------------------------------------------------------------------


def test_the_eleventh_valid_report_of_a_local_day_earns_nothing(ctx):
    reporter = make_user()
    day = [local(2026, 6, 1, 8 + hour) for hour in range(10)]
    reports = [opened(reporter, at) for at in day]
    eleventh = opened(reporter, local(2026, 6, 1, 23, 50))
    assert [amount for _r, amount in amounts(reporter)] == [5] * 10
    assert eleventh.status is S.ACCEPTED and ledger.find(f"award:report:{eleventh.id}:reporter") is None
    # Other awards do not use up the day's reports (and are still paid).
    awards.award_feedback(1, reporter, at=local(2026, 6, 1, 23, 55))
    # Ten minutes after local midnight it is a new day (in UTC it is still 1 June).
    next_day = opened(reporter, local(2026, 6, 2, 0, 10))
    assert ledger.find(f"award:report:{next_day.id}:reporter") is not None
    assert ledger.balance_of(reporter) == 60 and len(reports) == 10


def test_the_daily_cap_is_a_rule(ctx, admin):
    month = future_month()
    rules.publish(
        {"daily_report_cap": 2}, effective_from=datetime(month.year, month.month, 1, tzinfo=LOCAL), admin=admin
    )
    reporter = make_user()
    for hour in (9, 10, 11):
        opened(reporter, local(month.year, month.month, 3, hour))
    assert [amount for _r, amount in amounts(reporter)] == [5, 5]


def test_the_monthly_cap_clips_the_award_and_counts_in_local_months(ctx, admin):
    month = future_month()
    start = datetime(month.year, month.month, 1, tzinfo=LOCAL)
    version = rules.publish({"report_points": 70, "monthly_points_cap": 300}, effective_from=start, admin=admin)
    reporter = make_user()
    y, m = month.year, month.month
    # 00:30 on the 1st, local time, is still the previous month in UTC: it counts for this month.
    for day in range(1, 7):
        opened(reporter, local(y, m, day, 0, 30))
    awards.award_feedback(9, reporter, at=local(y, m, 7))
    assert [amount for _r, amount in amounts(reporter)] == [70, 70, 70, 70, 20]
    assert all(t.rule_version == version.version for t in paid_to(reporter))
    last_day = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    opened(reporter, local(last_day.year, last_day.month, last_day.day, 23, 30))  # still this month: capped
    next_month = opened(reporter, local(*_next_month(y, m), 1, 0, 30))  # UTC: still the last day of this month
    assert ledger.find(f"award:report:{next_month.id}:reporter") is not None
    assert ledger.balance_of(reporter) == 370


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def test_a_rule_version_applies_from_its_start_and_the_monthly_cap_counts_what_came_before(ctx, admin):
    month = future_month()
    y, m = month.year, month.month
    first = rules.publish(
        {"report_points": 50, "monthly_points_cap": 300}, effective_from=datetime(y, m, 1, tzinfo=LOCAL), admin=admin
    )
    second = rules.publish(
        {"report_points": 100, "monthly_points_cap": 200}, effective_from=datetime(y, m, 15, tzinfo=LOCAL), admin=admin
    )
    assert (first.version, second.version) == (1, 2)
    assert rules.effective(datetime(y, m, 14, 23, 59, tzinfo=LOCAL)).version == 1
    assert rules.effective(datetime(y, m, 15, tzinfo=LOCAL)).version == 2
    reporter = make_user()
    opened(reporter, local(y, m, 3))
    opened(reporter, local(y, m, 14, 23, 59))  # the last minute of the first version
    opened(reporter, local(y, m, 16))  # 100 under the second version: 200 this month, its cap
    opened(reporter, local(y, m, 17))  # nothing: the first version's awards count toward the second's cap
    opened(reporter, local(y, m, 10))  # dated before the change: the first version, and its cap (300)
    assert [(t.rule_version, resident_amount(t)) for t in paid_to(reporter)] == [(1, 50), (1, 50), (1, 50), (2, 100)]
    # Before the first version, the defaults (version 0) applied.
    earlier = make_user()
    opened(earlier, local(2026, 1, 5))
    assert [(t.rule_version, resident_amount(t)) for t in paid_to(earlier)] == [(0, 5)]


def test_rules_cannot_be_published_for_the_past_or_out_of_bounds(ctx, admin):
    with pytest.raises(RulesError):
        rules.publish({}, effective_from=utcnow() - timedelta(hours=1), admin=admin)
    for bad in (
        {"report_points": -1},
        {"report_points": True},
        {"daily_report_cap": 1.5},
        {"category_points": {"6": 1}},
    ):
        with pytest.raises(RulesError):
            rules.publish(bad, effective_from=utcnow(), admin=admin)
    assert rules.versions() == []
    assert rules.validate({})["report_points"] == rules.DEFAULT_SETTINGS["report_points"]


# --- Campaigns (专项整治) ------------------------------------------------------------------------------------------


def make_campaign(**fields: object) -> Campaign:
    values: dict[str, object] = {
        "name": "五月垃圾专项",
        "category_codes": f"{RUBBISH} {MANHOLE}",
        "starts_on": date(2026, 5, 1),
        "ends_on": date(2026, 5, 31),
        "multiplier": 2,
        "budget_points": 1000,
    }
    values.update(fields)
    campaign = Campaign(**values)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def test_a_campaign_multiplies_within_its_window_counted_in_local_days(ctx):
    campaign = make_campaign()
    reporter = make_user()
    inside = [local(2026, 5, 1, 0, 30), local(2026, 5, 15), local(2026, 5, 31, 23, 30)]  # the first: UTC 30 April
    outside = [local(2026, 4, 30, 23, 30), local(2026, 6, 1, 0, 30)]  # the second: UTC 31 May
    for at in inside + outside:
        opened(reporter, at)
    bonuses = [t for t in paid_to(reporter) if t.reason == "campaign_bonus"]
    assert [resident_amount(t) for t in bonuses] == [5, 5, 5]
    assert all(t.campaign_id == campaign.id and t.memo == campaign.name for t in bonuses)
    assert awards.campaign_spent(campaign) == 15
    assert ledger.balance_of(reporter) == 5 * 5 + 15


def test_a_campaign_covers_its_categories_only_and_multiplies_the_whole_base(ctx):
    make_campaign(multiplier=3)
    reporter = make_user()
    opened(reporter, local(2026, 5, 10), category_code=STREET_LIGHT)
    opened(reporter, local(2026, 5, 10, 13), category_code=MANHOLE)
    opened(reporter, local(2026, 5, 10, 14), severity=Severity.URGENT)
    assert amounts(reporter) == [
        ("report_accepted", 5),
        ("report_accepted", 10),
        ("campaign_bonus", 20),
        ("report_accepted", 25),
        ("campaign_bonus", 50),
    ]


def test_a_campaign_covers_its_places_only(ctx):
    inside = make_grid("140109001001001")
    elsewhere = make_grid("140109002001001", lat=37.87)
    make_campaign(place_prefixes="140109001 140110")
    reporter = make_user()
    opened(reporter, local(2026, 5, 10, 9), grid_code=inside.code)
    opened(reporter, local(2026, 5, 10, 10), grid_code=elsewhere.code)
    opened(reporter, local(2026, 5, 10, 11))  # no grid: cannot be inside the campaign's places
    assert [reason for reason, _ in amounts(reporter)].count("campaign_bonus") == 1
    bonus = next(t for t in paid_to(reporter) if t.reason == "campaign_bonus")
    assert bonus.report_id == db.session.scalar(sa.select(Report.id).where(Report.grid_code == inside.code))


def test_a_campaigns_bonus_stops_at_its_budget(ctx):
    campaign = make_campaign(budget_points=7)
    first, second = make_user(), make_user()
    opened(first, local(2026, 5, 2))
    opened(second, local(2026, 5, 3))
    opened(first, local(2026, 5, 4))
    assert amounts(first) == [("report_accepted", 5), ("campaign_bonus", 5), ("report_accepted", 5)]
    assert amounts(second) == [("report_accepted", 5), ("campaign_bonus", 2)]  # clipped to what was left
    assert awards.campaign_spent(campaign) == 7


def test_a_campaign_without_budget_or_multiplier_gives_no_bonus_and_the_first_one_wins(ctx):
    make_campaign(budget_points=0)
    make_campaign(multiplier=1, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 30))
    reporter = make_user()
    opened(reporter, local(2026, 5, 5))
    opened(reporter, local(2026, 6, 5))
    assert [reason for reason, _ in amounts(reporter)] == ["report_accepted", "report_accepted"]
    first = make_campaign(starts_on=date(2026, 7, 1), ends_on=date(2026, 7, 31), multiplier=2)
    make_campaign(starts_on=date(2026, 7, 1), ends_on=date(2026, 7, 31), multiplier=5)
    report = make_case(reporter, status=S.ACCEPTED)
    assert awards.active_campaign(report, local(2026, 7, 5)) is first
    assert awards.active_campaign(report, local(2026, 8, 1)) is None


def test_a_campaign_bonus_counts_toward_the_monthly_cap(ctx, admin):
    month = future_month()
    y, m = month.year, month.month
    rules.publish(
        {"report_points": 40, "monthly_points_cap": 100}, effective_from=datetime(y, m, 1, tzinfo=LOCAL), admin=admin
    )
    make_campaign(starts_on=month, ends_on=month + timedelta(days=20))
    reporter = make_user()
    opened(reporter, local(y, m, 2))
    opened(reporter, local(y, m, 3))
    assert amounts(reporter) == [("report_accepted", 40), ("campaign_bonus", 40), ("report_accepted", 20)]


# --- Replays ------------------------------------------------------------------------------------------------------


def test_replaying_any_award_pays_nothing_more(reviewer, department, storage):
    reporter, volunteer = make_user(), make_user(Role.VOLUNTEER)
    make_campaign(starts_on=date(2020, 1, 1), ends_on=date(2100, 1, 1))
    report = make_case(reporter, category_code=RUBBISH)
    accept(report, reviewer, department)
    later = make_user()
    duplicate = make_case(later)
    review.reject(duplicate, reviewer, reason="duplicate", duplicate_of=report.id)
    fixed = make_case(make_user(), status=S.AWAITING_CHECK, category_code=LITTER, handler_id=volunteer.id)
    review.close(fixed, reviewer)
    feedback_giver = make_user()
    awards.award_feedback(5, feedback_giver)
    awards.award_rating(report, reporter)

    def snapshot() -> tuple[int, int, list[tuple[int, int]]]:
        return (
            db.session.scalar(sa.select(sa.func.count(LedgerTransaction.id))),
            db.session.scalar(sa.select(sa.func.count(LedgerEntry.id))),
            db.session.execute(
                sa.select(LedgerEntry.account_id, sa.func.sum(LedgerEntry.amount))
                .group_by(LedgerEntry.account_id)
                .order_by(LedgerEntry.account_id)
            ).all(),
        )

    before = snapshot()
    assert before[0] == 6  # report, campaign bonus, later reporter, volunteer, feedback, rating
    assert awards.award_report(report) == []
    assert awards.award_later_reporter(duplicate) is None
    assert awards.award_volunteer(fixed) is None
    assert awards.award_feedback(5, feedback_giver) is None
    assert awards.award_rating(report, reporter) is None
    for event in report.events:
        awards.on_case_event(report, event)
    for event in duplicate.events:
        awards.on_case_event(duplicate, event)
    assert snapshot() == before


# --- Reversal -----------------------------------------------------------------------------------------------------


def test_a_false_report_gives_its_points_back_with_the_reason(ctx, admin):
    make_campaign()
    reporter = make_user()
    report = opened(reporter, local(2026, 5, 6))
    assert ledger.balance_of(reporter) == 10
    done = awards.reverse_report(report, admin, "  照片是网上下载的  ")
    assert [(t.kind, t.reason, t.memo, t.created_by_id, t.report_id) for t in done] == [
        (TransactionKind.REVERSAL, "false_report", "照片是网上下载的", admin.id, report.id)
    ] * 2
    assert sorted(t.business_key for t in done) == sorted(f"reversal:{t.business_key}" for t in paid_to(reporter))
    assert [t.rule_version for t in done] == [0, 0]
    assert ledger.balance_of(reporter) == 0
    assert awards.reverse_report(report, admin, "再次") == []  # nothing more to take back
    assert ledger.balance_of(reporter) == 0
    assert_ledger_sound()


def test_a_reversal_takes_at_most_what_is_left_and_says_so(ctx, admin):
    reporter = make_user()
    report = opened(reporter, local(2026, 5, 6), severity=Severity.URGENT)  # 25 points
    give(reporter, 10)
    store.redeem(reporter, make_item(admin, price=32), quantity=1, request_key=str(uuid.uuid4()))
    assert ledger.balance_of(reporter) == 3
    [reversal] = awards.reverse_report(report, admin, "虚假上报")
    assert resident_amount(reversal) == -3
    assert reversal.memo == gettext("%(reason)s (%(spent)d points were already spent)", reason="虚假上报", spent=22)
    assert ledger.balance_of(reporter) == 0
    assert_ledger_sound()


def test_nothing_is_reversed_from_an_empty_balance(ctx, admin):
    reporter = make_user()
    report = opened(reporter, local(2026, 5, 6))
    store.redeem(reporter, make_item(admin, price=5), quantity=1, request_key=str(uuid.uuid4()))
    assert awards.reverse_report(report, admin, "虚假上报") == []
    assert ledger.balance_of(reporter) == 0
    assert_ledger_sound()


def test_a_reversal_needs_a_reason_and_an_award(ctx, admin):
    report = opened(make_user(), local(2026, 5, 6))
    with pytest.raises(ReversalError) as no_reason:
        awards.reverse_report(report, admin, "   ")
    assert no_reason.value.field == "reason"
    with pytest.raises(ReversalError):
        awards.reverse_report(make_case(make_user()), admin, "虚假")


# --- Expiry ---------------------------------------------------------------------------------------------------------


def test_points_earned_in_a_year_expire_after_the_end_of_the_next(ctx):
    resident = make_user()
    give(resident, 30, at=local(2025, 1, 1, 0, 30))  # 2025 in Beijing (still 2024 in UTC)
    give(resident, 20, at=local(2025, 12, 31, 23, 30))
    give(resident, 7, at=local(2026, 1, 1, 0, 30))  # 2026 in Beijing, 2025 in UTC
    assert awards.expiry_for(local(2025, 1, 1, 0, 30)) == date(2026, 12, 31)
    assert awards.expire(date(2026, 12, 31)) == 0
    assert awards.expire(date(2027, 1, 1)) == 50
    assert ledger.balance_of(resident) == 7
    assert awards.expire(date(2027, 1, 1)) == 0  # the same day again: nothing more
    assert awards.expire(date(2027, 6, 1)) == 0  # a later day: nothing more either
    assert ledger.balance_of(resident) == 7
    assert awards.expire(date(2028, 1, 1)) == 7
    assert ledger.balance_of(resident) == 0
    expiries = db.session.scalars(
        sa.select(LedgerTransaction).where(LedgerTransaction.kind == TransactionKind.EXPIRY)
    ).all()
    assert sorted(t.business_key.rsplit(":", 1)[1] for t in expiries) == ["2027-01-01", "2028-01-01"]
    assert ledger.balance(ledger.system_account(AccountKind.EXPIRY)) == 57
    assert_ledger_sound()


def test_spending_uses_the_oldest_points_first(ctx, admin):
    resident = make_user()
    give(resident, 30, at=local(2025, 3, 1))
    give(resident, 20, at=local(2026, 2, 1))
    store.redeem(resident, make_item(admin, price=25), quantity=1, request_key=str(uuid.uuid4()))
    assert awards.expire(date(2027, 1, 1)) == 5  # 25 of the 30 from 2025 were spent
    assert ledger.balance_of(resident) == 20
    assert awards.expire(date(2028, 1, 1)) == 20
    assert_ledger_sound()


def test_refunded_points_do_not_expire(ctx, admin):
    resident = make_user()
    give(resident, 30, at=local(2025, 3, 1))
    item = make_item(admin, price=10)
    order, _ = store.redeem(resident, item, quantity=1, request_key=str(uuid.uuid4()))
    store.cancel(order, resident)
    assert ledger.balance_of(resident) == 30
    # The order spent the oldest 10 points (from 2025); the 10 refunded are new points without an end date.
    assert awards.expire(date(2027, 1, 1)) == 20
    assert ledger.balance_of(resident) == 10
    assert awards.expire(date(2040, 1, 1)) == 0
    assert ledger.balance_of(resident) == 10
    assert awards.expiring_soon(resident, today=date(2039, 12, 15)) is None
    assert_ledger_sound()


def test_a_reversal_uses_the_oldest_points_first_too(ctx, admin):
    resident = make_user()
    give(resident, 10, at=local(2025, 3, 1))
    report = opened(resident, local(2026, 3, 1))
    awards.reverse_report(report, admin, "虚假")
    assert ledger.balance_of(resident) == 10
    assert awards.expire(date(2027, 1, 1)) == 5
    assert ledger.balance_of(resident) == 5


def test_expiry_can_be_turned_off_by_the_rules(ctx, admin):
    month = future_month()
    rules.publish(
        {"expiry_enabled": False}, effective_from=datetime(month.year, month.month, 1, tzinfo=LOCAL), admin=admin
    )
    resident = make_user()
    award = awards.award_feedback(1, resident, at=local(month.year, month.month, 2))
    assert award is not None and all(e.expires_on is None for e in award.entries)
    assert awards.expire(date(month.year + 5, 1, 1)) == 0 and ledger.balance_of(resident) == 5


def test_residents_are_warned_thirty_days_before_their_points_expire(ctx):
    resident = make_user()
    give(resident, 30, at=local(2025, 3, 1))
    give(resident, 20, at=local(2026, 2, 1))
    assert awards.expiring_soon(resident, today=date(2026, 11, 30)) is None
    assert awards.expiring_soon(resident, today=date(2026, 12, 1)) == (30, date(2026, 12, 31))
    assert awards.expiring_soon(resident, today=date(2026, 12, 31)) == (30, date(2026, 12, 31))
    assert awards.expiring_soon(make_user(), today=date(2026, 12, 1)) is None
    assert awards.warn_expiring(date(2026, 12, 1)) == 1
    assert awards.warn_expiring(date(2026, 12, 2)) == 0  # once a year
    awards.expire(date(2027, 1, 1))
    assert awards.expiring_soon(resident, today=date(2027, 1, 1)) is None
    assert awards.expiring_soon(resident, today=date(2027, 12, 1)) == (20, date(2027, 12, 31))


# A model of FIFO expiry to check the ledger against: earned points form a queue; spending (and reversals) take
# from its head, whatever the points are; expiry takes what is left of the points whose end date has passed;
# refunds join the queue without an end date.

EARNING_DAYS = [local(2024, 2, 1), local(2024, 9, 1), local(2025, 1, 5), local(2025, 7, 1), local(2026, 3, 1)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["earn", "spend", "refund"]), st.integers(min_value=1, max_value=40)),
        min_size=1,
        max_size=12,
    ),
    expiry_days=st.lists(
        st.sampled_from([date(2025, 1, 1), date(2026, 1, 1), date(2026, 6, 1), date(2027, 1, 1), date(2028, 1, 1)]),
        min_size=1,
        max_size=4,
    ).map(sorted),
)
def test_expiry_follows_a_first_in_first_out_model(ctx, steps, expiry_days):
    wipe()
    account_user = make_user()
    fund, store_account = ledger.system_account(AccountKind.FUND), ledger.system_account(AccountKind.STORE)
    account = ledger.account_for(account_user)
    queue: deque[list] = deque()  # [points left, expires_on or None]
    spent_total = refunded_total = 0
    clock = datetime(2024, 1, 1, tzinfo=UTC)
    for index, (kind, amount) in enumerate(steps):
        clock = max(clock + timedelta(days=7), EARNING_DAYS[index * len(EARNING_DAYS) // len(steps)])
        balance = sum(left for left, _ in queue)
        if kind == "spend":
            amount = min(amount, balance)
        elif kind == "refund":
            amount = min(amount, spent_total - refunded_total)
        if amount == 0:
            continue
        key = f"model:{uuid.uuid4()}"
        if kind == "earn":
            expires = awards.expiry_for(clock)
            ledger.post(
                key, TransactionKind.AWARD, "model", [(fund, -amount), (account, amount)], expires_on=expires, at=clock
            )
            queue.append([amount, expires])
        elif kind == "spend":
            ledger.post(
                key, TransactionKind.REDEMPTION, "model", [(account, -amount), (store_account, amount)], at=clock
            )
            spent_total += amount
            _take(queue, amount)
        else:
            ledger.post(key, TransactionKind.REFUND, "model", [(store_account, -amount), (account, amount)], at=clock)
            refunded_total += amount
            queue.append([amount, None])
    for day in expiry_days:
        due = sum(left for left, ends in queue if ends is not None and ends < day)
        assert awards.expire(day) == due
        _take(queue, due, only_expiring_before=day)
        assert ledger.balance_of(account_user) == sum(left for left, _ in queue)
    assert_ledger_sound()


def _take(queue: deque[list], amount: int, *, only_expiring_before: date | None = None) -> None:
    for credit in queue:
        if amount == 0:
            break
        if only_expiring_before is not None and (credit[1] is None or credit[1] >= only_expiring_before):
            continue
        taken = min(credit[0], amount)
        credit[0] -= taken
        amount -= taken
    assert amount == 0


def test_a_report_over_the_daily_cap_is_told_why_it_earned_nothing(ctx, admin):
    from webapp.notifications import services as notifications
    from webapp.notifications.models import Notification

    month = future_month()
    rules.publish(
        {"daily_report_cap": 1}, effective_from=datetime(month.year, month.month, 1, tzinfo=LOCAL), admin=admin
    )
    reporter = make_user()
    first = opened(reporter, local(month.year, month.month, 3, 9))
    assert awards.daily_cap_reached(reporter, at=local(month.year, month.month, 3, 10)) == 1
    assert awards.daily_cap_reached(reporter, at=local(month.year, month.month, 4, 10)) is None
    second = opened(reporter, local(month.year, month.month, 3, 11))
    told = db.session.scalars(
        sa.select(Notification).where(Notification.user_id == reporter.id, Notification.kind == "daily_cap")
    ).all()
    assert [n.report_id for n in told] == [second.id] and first.id != second.id
    assert "1" in notifications.text(told[0])


def test_the_points_page_overview_agrees_with_each_figure(ctx, admin):
    """``overview`` reads balance, expiring points and the daily cap in one statement: the same figures as
    ``balance_of``, ``expiring_soon`` and ``daily_cap_reached``, before and after each changes."""
    month = future_month()
    rules.publish(
        {"daily_report_cap": 1}, effective_from=datetime(month.year, month.month, 1, tzinfo=LOCAL), admin=admin
    )
    resident = make_user()
    assert awards.overview(resident) == awards.Overview(0, None, None)  # no account yet: none is made
    assert db.session.scalar(sa.select(Account).where(Account.user_id == resident.id)) is None
    give(resident, 30, at=local(month.year - 1, 3, 1))
    moments = [local(month.year, month.month, 3, 8), local(month.year, 12, 2, 8)]
    opened(resident, local(month.year, month.month, 3, 9))
    for at in [*moments, local(month.year, month.month, 4, 8)]:
        today = localtime.local_date(at)
        expected = awards.Overview(
            ledger.balance_of(resident),
            awards.expiring_soon(resident, today=today),
            awards.daily_cap_reached(resident, at=at),
        )
        assert awards.overview(resident, at=at) == expected
    assert awards.overview(resident, at=moments[0]).daily_cap == 1
    assert awards.overview(resident, at=moments[1]).expiring == (30, date(month.year, 12, 31))
    assert awards.overview(make_user(), at=moments[1]) == awards.Overview(0, None, None)  # nobody else's figures


def test_the_points_page_in_one_statement_is_the_overview_with_the_history(ctx, admin):
    """``points_page`` joins the newest history rows to the overview: the same figures as ``overview`` and the same
    rows, in the same order, as ``ledger.history``, for a resident with none, one and more rows than it shows
    (its statements are counted in tests/web/test_query_budgets.py)."""
    month = future_month()
    rules.publish(
        {"daily_report_cap": 1}, effective_from=datetime(month.year, month.month, 1, tzinfo=LOCAL), admin=admin
    )
    resident, other = make_user(), make_user()
    at = local(month.year, 12, 2, 8)
    assert awards.points_page(resident, history_limit=3, at=at) == (awards.Overview(0, None, None), [])
    give(other, 5, at=local(month.year - 1, 3, 1))
    for number in range(5):
        give(resident, 10 + number, at=local(month.year - 1, 3, 1 + number))
        if number == 0:
            opened(resident, local(month.year, month.month, 3, 9))  # awards points: the daily cap is reached
        for limit in (1, 3, 10):
            overview, history = awards.points_page(resident, history_limit=limit, at=at)
            assert overview == awards.overview(resident, at=at)
            assert history == ledger.history(resident, limit=limit)
    assert overview.expiring is not None and overview.daily_cap is None  # the cap is of another day
    assert len(history) == 6 and [movement.amount for movement in history][-5:] == [14, 13, 12, 11, 10][-5:]
