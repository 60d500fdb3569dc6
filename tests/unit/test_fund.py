"""The special fund and its reconciliation, against a small dataset whose every figure is worked out by hand.

Then each kind of mismatch is made on purpose, behind the services' back (as a faulty import, a hand edit in the
database or a bug would), and the report must name it.

The dataset (the period starts 10 days ago; the points are worth 10 fen each):
  before the period:  Li earned 50 (40 days ago)                                  → 50 outstanding at the start
  in the period:      Li earned 100, Wang earned 100                               → issued 200
                      Li: 2 × soap (10 points, ¥2.50 each), handed over           → redeemed 20, fund ¥5.00
                      Wang: 1 × rice (30 points, ¥10.00), cancelled               → redeemed 30, refunded 30
                      Li: 1 × rice, waiting                                       → redeemed 30
                      Wang: a false report, 15 points taken back                  → reversed 15
                      Li: 5 points expired                                        → expired 5
  outstanding at the end: 50 + 200 − 15 − (80 − 30) − 5 = 180 points = ¥18.00 liability
  stock: soap bought 10 for ¥25.00, 2 out → 8 on the shelf; rice bought 3 for ¥30.00, 2 out, 1 back → 2
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.factories import make_user
from tests.unit.cases import make_department, make_staff
from webapp import csvfile
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.points import fund, ledger, store
from webapp.points.fund import FundError
from webapp.points.models import (
    AccountKind,
    BudgetLine,
    FundAudit,
    FundCharge,
    LedgerEntry,
    LedgerTransaction,
    StockMovement,
    StoreItem,
    StoreOrder,
    TransactionKind,
)


@dataclass
class Dataset:
    start: datetime
    li: User
    wang: User
    soap: StoreItem
    rice: StoreItem
    handed_over: StoreOrder
    cancelled: StoreOrder
    waiting: StoreOrder
    line: BudgetLine


def post(user: User, kind: TransactionKind, points: int, *, at: datetime | None = None) -> LedgerTransaction:
    """One transaction between the resident and the account the kind moves points with."""
    other = {
        TransactionKind.AWARD: AccountKind.FUND,
        TransactionKind.REVERSAL: AccountKind.FUND,
        TransactionKind.EXPIRY: AccountKind.EXPIRY,
    }[kind]
    transaction, _ = ledger.post(
        f"test:{kind}:{uuid.uuid4()}",
        kind,
        "test",
        [(ledger.system_account(other), -points), (ledger.account_for(user), points)],
        at=at,
    )
    return transaction


def new_item(admin: User, name: str, price: int, cost_fen: int, bought: int, line: BudgetLine) -> StoreItem:
    item = StoreItem(name_zh=name, points_price=price, cost_fen=cost_fen, stock=0)
    db.session.add(item)
    db.session.flush()
    store.purchase(item, admin, quantity=bought, cost_fen=cost_fen * bought, budget_line=line, note="发票 001")
    return item


@pytest.fixture
def data(ctx) -> Dataset:
    now = utcnow()
    admin = make_user(Role.ADMIN)
    department = make_department(name="社区服务站")
    department.service_point = True
    staff = make_staff(Role.DEPARTMENT, department)
    li, wang = make_user(name="李"), make_user(name="王")
    post(li, TransactionKind.AWARD, 50, at=now - timedelta(days=40))
    post(li, TransactionKind.AWARD, 100, at=now - timedelta(days=5))
    post(wang, TransactionKind.AWARD, 100, at=now - timedelta(days=5))
    line = fund.add_budget_line(admin, name="2026年积分兑换", source="财政专项", amount_fen=100_000, year=now.year)
    soap = new_item(admin, "洗洁精", 10, 250, 10, line)
    rice = new_item(admin, "大米", 30, 1000, 3, line)
    handed_over, _ = store.redeem(li, soap, quantity=2, request_key=str(uuid.uuid4()))
    store.hand_over(handed_over, staff)
    cancelled, _ = store.redeem(wang, rice, quantity=1, request_key=str(uuid.uuid4()))
    store.cancel(cancelled, wang)
    waiting, _ = store.redeem(li, rice, quantity=1, request_key=str(uuid.uuid4()))
    post(wang, TransactionKind.REVERSAL, -15)
    post(li, TransactionKind.EXPIRY, -5)
    return Dataset(now - timedelta(days=10), li, wang, soap, rice, handed_over, cancelled, waiting, line)


def reconcile(start: datetime, end: datetime | None = None) -> fund.Reconciliation:
    with force_locale("en"):
        return fund.reconcile(start, end)


def stock_row(report: fund.Reconciliation, item: StoreItem) -> tuple[int, ...]:
    (row,) = [s for s in report.items if s.item.id == item.id]
    return (row.opening, row.purchased, row.redeemed, row.cancelled, row.adjusted, row.closing, row.on_shelf)


# --- The hand-computed dataset --------------------------------------------------------------------------------


def test_the_reconciliation_of_the_period_matches_the_hand_computed_figures(data):
    report = reconcile(data.start)
    assert report.mismatches == []
    assert report.balanced
    points = (report.outstanding_start, report.issued, report.reversed, report.redeemed, report.refunded)
    assert points == (50, 200, 15, 80, 30)
    assert (report.expired, report.outstanding_end, report.expected_outstanding_end) == (5, 180, 180)
    assert (report.fen_per_point, report.liability_fen) == (10, 1800)
    assert (report.handed_over_cost_fen, report.charged_fen) == (500, 500)
    assert (report.purchases_fen, report.budget_fen) == (5500, 100_000)
    # opening, purchased, redeemed, cancelled, adjusted, closing, on the shelf
    assert stock_row(report, data.soap) == (0, 10, 2, 0, 0, 8, 8)
    assert stock_row(report, data.rice) == (0, 3, 2, 1, 0, 2, 2)
    assert ledger.balance_of(data.li) == 50 + 100 - 20 - 30 - 5
    assert ledger.balance_of(data.wang) == 100 - 30 + 30 - 15


def test_a_period_in_the_past_sees_only_what_happened_in_it(data):
    report = reconcile(data.start - timedelta(days=35), data.start)
    assert report.mismatches == []
    assert (report.outstanding_start, report.issued, report.redeemed, report.outstanding_end) == (0, 50, 0, 50)
    assert stock_row(report, data.soap) == (0, 0, 0, 0, 0, 0, None)  # no shelf count for a period in the past


def test_a_period_that_starts_after_the_activity_carries_everything_forward(data):
    last = max(
        db.session.scalar(sa.select(sa.func.max(LedgerEntry.created_at))),
        db.session.scalar(sa.select(sa.func.max(StockMovement.created_at))),
        db.session.scalar(sa.select(sa.func.max(StoreOrder.handed_over_at))),
        db.session.scalar(sa.select(sa.func.max(StoreOrder.cancelled_at))),
    )
    report = reconcile(last + timedelta(microseconds=1))
    assert report.mismatches == []
    assert report.outstanding_start == report.outstanding_end == 180 and report.issued == 0
    assert stock_row(report, data.rice)[0] == 2  # the opening stock is what was left


def test_the_period_must_start_before_it_ends(ctx):
    now = utcnow()
    with force_locale("en"), pytest.raises(FundError, match="start before it ends"):
        fund.reconcile(now, now - timedelta(days=1))


def test_the_csv_lists_every_figure_and_the_result(data):
    text = csvfile.text(fund.CSV_HEADER, fund.csv_rows(reconcile(data.start)))
    assert text.startswith("\ufeff")
    rows = {(section, name): value for section, name, value in csv.reader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows[("points", "issued")] == "200" and rows[("points", "outstanding_end")] == "180"
    assert rows[("money", "liability_yuan")] == "18.00"
    assert rows[("money", "handed_over_cost_yuan")] == rows[("money", "charged_to_fund_yuan")] == "5.00"
    assert rows[("money", "purchases_yuan")] == "55.00" and rows[("money", "budget_yuan")] == "1000.00"
    assert rows[("stock", "大米 closing")] == "2" and rows[("stock", "洗洁精 on_shelf")] == "8"
    assert rows[("result", "balanced")] == "yes"
    assert not any(section == "mismatch" for section, _name in rows)


def test_money_is_shown_in_yuan_to_the_fen():
    assert [fund.yuan(f) for f in (0, 5, 250, 100_000, -1)] == ["0.00", "0.05", "2.50", "1000.00", "-0.01"]


# --- Every kind of mismatch is found and listed ---------------------------------------------------------------


def mismatches(data: Dataset) -> list[str]:
    db.session.expire_all()
    return reconcile(data.start).mismatches


def test_a_transaction_that_does_not_balance(data):
    award = db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.kind == TransactionKind.AWARD))
    db.session.execute(
        sa.insert(LedgerEntry).values(
            transaction_id=award.id, account_id=ledger.account_for(data.wang).id, amount=7, created_at=utcnow()
        )
    )
    problems = mismatches(data)
    assert problems == [f"Transaction {award.id} ({award.business_key}) does not balance: its entries add up to 7."]


def test_points_that_no_kind_of_movement_explains(data):
    # A transaction of a kind the scheme does not know (an import gone wrong): residents hold points nobody issued.
    gift = post(data.wang, TransactionKind.AWARD, 40)
    db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.id == gift.id).values(kind="gift"))
    (problem,) = mismatches(data)
    assert problem.startswith("Points: 50 outstanding + 200 issued − 15 reversed − 50 redeemed − 5 expired = 180")
    assert problem.endswith("but residents hold 220.")


def test_a_negative_balance(data):
    # Both legs of the waiting order's redemption say 300 instead of 30: balanced, but Li is overdrawn.
    redemption = db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.order_id == data.waiting.id))
    for entry in redemption.entries:
        db.session.execute(
            sa.update(LedgerEntry).where(LedgerEntry.id == entry.id).values(amount=300 if entry.amount > 0 else -300)
        )
    assert mismatches(data) == [
        f"Resident {data.li.id} has a negative balance: -175.",
        f"Order #{data.waiting.id} cost 30 points but the ledger took 300.",
    ]


def test_an_order_that_took_the_wrong_number_of_points(data):
    db.session.execute(sa.update(StoreOrder).where(StoreOrder.id == data.handed_over.id).values(points=25))
    assert mismatches(data) == [f"Order #{data.handed_over.id} cost 25 points but the ledger took 20."]


def test_a_cancelled_order_whose_points_did_not_go_back(data):
    refund = db.session.scalar(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.order_id == data.cancelled.id, LedgerTransaction.kind == TransactionKind.REFUND
        )
    )
    db.session.execute(sa.delete(LedgerEntry).where(LedgerEntry.transaction_id == refund.id))
    db.session.execute(sa.delete(LedgerTransaction).where(LedgerTransaction.id == refund.id))
    assert mismatches(data) == [f"Order #{data.cancelled.id} was cancelled but 0 of its 30 points went back."]


def test_goods_handed_over_that_the_fund_was_charged_wrongly_for(data):
    db.session.execute(sa.update(FundCharge).values(amount_fen=450))
    assert mismatches(data) == [
        "Goods handed over cost ¥5.00 but the fund was charged ¥4.50.",
        f"Order #{data.handed_over.id} was handed over at a cost of ¥5.00 but the fund was charged ¥4.50 for it.",
    ]


def test_goods_handed_over_without_a_charge_to_the_fund(data):
    db.session.execute(sa.delete(FundCharge))
    problems = mismatches(data)
    assert "Goods handed over cost ¥5.00 but the fund was charged ¥0.00." in problems
    assert len(problems) == 2 and f"Order #{data.handed_over.id}" in problems[1]


def test_a_shelf_that_differs_from_the_movements(data):
    db.session.execute(sa.update(StoreItem).where(StoreItem.id == data.soap.id).values(stock=6))
    assert mismatches(data) == ["洗洁精: 6 on the shelf but the movements say 8."]


def test_stock_movements_that_do_not_add_up(data):
    # A movement of a kind the reconciliation does not know: the closing stock includes it, the sum of kinds not.
    db.session.execute(
        sa.insert(StockMovement).values(item_id=data.rice.id, kind="lost", quantity=-1, created_at=utcnow())
    )
    db.session.execute(sa.update(StoreItem).where(StoreItem.id == data.rice.id).values(stock=1))
    assert mismatches(data) == ["大米: the movements do not add up (2 expected, 1 recorded)."]


def test_mismatches_go_into_the_csv(data):
    db.session.execute(sa.update(StoreItem).where(StoreItem.id == data.soap.id).values(stock=6))
    db.session.expire_all()
    text = csvfile.text(fund.CSV_HEADER, fund.csv_rows(reconcile(data.start)))
    assert "mismatch,,洗洁精: 6 on the shelf but the movements say 8." in text
    assert text.rstrip().endswith("result,balanced,no")


# --- The fund's money and its audit ---------------------------------------------------------------------------


def test_budget_lines_are_audited(data):
    (row,) = [a for a in db.session.scalars(sa.select(FundAudit)) if a.action == "budget_line_added"]
    details = json.loads(row.details_json)
    assert details == {
        "line": data.line.id,
        "name": "2026年积分兑换",
        "source": "财政专项",
        "amount_fen": 100_000,
        "year": data.line.year,
    }
    purchases = [
        json.loads(a.details_json) for a in db.session.scalars(sa.select(FundAudit)) if a.action == "stock_purchased"
    ]
    assert [(p["item"], p["quantity"], p["cost_fen"], p["budget_line"]) for p in purchases] == [
        (data.soap.id, 10, 2500, data.line.id),
        (data.rice.id, 3, 3000, data.line.id),
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "a name and a source"),
        ({"source": "彩票"}, "a name and a source"),
        ({"amount_fen": 0}, "positive amount"),
        ({"amount_fen": -500}, "positive amount"),
        ({"year": 1999}, "positive amount and a year"),
    ],
)
def test_bad_budget_lines_are_refused_with_a_message(ctx, fields, message):
    values = {"name": "捐赠", "source": "社会捐赠", "amount_fen": 1000, "year": 2026, **fields}
    with force_locale("en"), pytest.raises(FundError, match=message):
        fund.add_budget_line(make_user(Role.ADMIN), **values)
    assert fund.budget_lines() == []


def test_the_reconciliation_csv_never_starts_a_formula(data):
    data.soap.name_zh = '=HYPERLINK("http://evil.example/","洗洁精")'
    db.session.flush()
    text = csvfile.text(fund.CSV_HEADER, fund.csv_rows(reconcile(data.start)))
    assert text.startswith("\ufeffsection,item,value\r\n")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    soap_rows = [row for row in rows if "HYPERLINK" in row[1]]
    assert soap_rows and all(row[1].startswith("'=") for row in soap_rows)
    assert ["result", "balanced", "yes"] in rows
