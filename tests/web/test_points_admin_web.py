"""The points administration through the test client: rules, campaigns, store items and stock, the fund and its
reconciliation, handing over at a service point, and taking back the points of a false report."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import ANONYMOUS, STORE_ROLES, jpeg_bytes, make_report, make_user
from tests.helpers import HX, as_user, csrf_token, post, text
from webapp import localtime
from webapp.accounts.models import Role
from webapp.db import db, utcnow
from webapp.points import awards, ledger
from webapp.points.models import (
    BudgetLine,
    Campaign,
    FundAudit,
    LedgerTransaction,
    OrderStatus,
    PointsRules,
    StockMovement,
    StoreItem,
    StoreOrder,
    TransactionKind,
)


def today():  # type: ignore[no-untyped-def]
    return localtime.local_date(utcnow())


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def audits(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return list(db.session.scalars(sa.select(FundAudit.action).order_by(FundAudit.id)))


def uploaded_files(app) -> list[Path]:  # type: ignore[no-untyped-def]
    return [p for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file()]


# --- Who may open what --------------------------------------------------------------------------------------------

ADMIN_ONLY = {ANONYMOUS: 302, "admin": 200}

GETS = [
    ("/admin/points/", ADMIN_ONLY),
    ("/admin/points/rules", ADMIN_ONLY),
    ("/admin/points/campaigns", ADMIN_ONLY),
    ("/admin/points/items", ADMIN_ONLY),
    ("/admin/points/items/new", ADMIN_ONLY),
    ("/admin/points/items/{item}", ADMIN_ONLY),
    ("/admin/points/fund", ADMIN_ONLY),
    ("/admin/points/fund/reconciliation.csv", ADMIN_ONLY),
    ("/admin/points/reports/{report}/reverse", ADMIN_ONLY),
]
# POSTed with a valid CSRF token but an empty form: the role check comes first; the roles let in are told what is
# missing (422) and nothing is written.
POSTS = [
    ("/admin/points/rules", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/campaigns", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/items/new", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/items/{item}", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/items/{item}/purchase", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/items/{item}/adjust", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/fund/budget-lines", ADMIN_ONLY | {"admin": 422}),
    ("/admin/points/reports/{report}/reverse", ADMIN_ONLY | {"admin": 422}),
]


@pytest.mark.parametrize("role", STORE_ROLES)
def test_access_per_role(app, store_world, role):
    client = as_user(app, store_world, role)
    token = csrf_token(client)
    values = {
        "item": store_world["item_id"],
        "report": store_world["report_id"],
        "order": store_world["order_id"],
        "code": store_world["code"],
    }
    wrong = []
    for method, routes in (("GET", GETS), ("POST", POSTS)):
        for path, expected in routes:
            url = path.format(**values)
            response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
            want = expected.get(role, 403)
            if response.status_code != want:
                wrong.append(f"{method} {url}: {response.status_code}, expected {want}")
            if want == 302:
                assert "/login" in response.headers["Location"]
    assert not wrong, "\n".join(wrong)
    # Nothing was written by any of those requests.
    with app.app_context():
        order = db.session.get(StoreOrder, store_world["order_id"])
        assert order.status is OrderStatus.WAITING
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 7
    assert audits(app) == ["budget_line_added", "item_created", "stock_purchased"]


def test_a_post_without_csrf_token_is_refused(app, store_world):
    client = as_user(app, store_world, "admin")
    response = client.post("/admin/points/fund/budget-lines", data={"line-name": "x"})
    assert response.status_code == 400
    assert count(app, BudgetLine) == 1


# --- Rules --------------------------------------------------------------------------------------------------------


ACTIVITY_KINDS = ("garbage_sorting", "legal_awareness", "volunteer_day", "traffic_duty", "launch_ceremony", "other")


def rules_data(**overrides):  # type: ignore[no-untyped-def]
    start = (utcnow() + timedelta(hours=2)).astimezone(localtime.zone())
    data = {
        "report_points": "6",
        "safety_report_points": "12",
        "emergency_multiplier": "5",
        "later_reporter_points": "1",
        "volunteer_result_points": "8",
        "rating_points": "1",
        "feedback_adopted_points": "5",
        "daily_report_cap": "10",
        "monthly_points_cap": "300",
        "fen_per_point": "10",
        **{f"activity_{kind}_points": "5" for kind in ACTIVITY_KINDS},
        "expiry_enabled": "y",
        "category_points": "01002 15\n06042 7\n",
        "effective_from": start.strftime("%Y-%m-%dT%H:%M"),
        "note": "更高的奖励",
    }
    data.update(overrides)
    return data


def test_rules_page_shows_the_rules_in_force_and_how_changes_apply(app, store_world):
    client = as_user(app, store_world, "admin")
    page = text(client.get("/admin/points/rules"))
    assert "The default rules" in page and "Points for a valid report" in page and "Beijing time" in page
    assert "never before" in page and "points already given keep the rules they were given under" in page
    assert "A rule changed mid-month: the monthly cap counts the points already given this month" in page
    form = client.get("/admin/points/rules").get_data(as_text=True)
    assert 'type="datetime-local"' in form and 'name="report_points"' in form and 'value="5"' in form


def test_publishing_rules_from_a_future_start(app, store_world):
    client = as_user(app, store_world, "admin")
    response = post(client, "/admin/points/rules", rules_data())
    assert response.status_code == 303, text(response)[:400]
    with app.app_context():
        row = db.session.scalar(sa.select(PointsRules))
        assert row.version == 1 and row.note == "更高的奖励"
        assert row.settings["report_points"] == 6 and row.settings["category_points"] == {"01002": 15, "06042": 7}
        assert row.effective_from > utcnow()
    assert audits(app)[-1] == "rules_published"
    page = client.get("/admin/points/rules")
    assert "更高的奖励" in text(page)
    assert "status-pending_review" in page.get_data(as_text=True)  # scheduled, not yet in force


def test_a_rule_changed_mid_month_says_what_the_monthly_cap_counts(app, store_world):
    client = as_user(app, store_world, "admin")
    today = localtime.local_date(utcnow())
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    mid = post(client, "/admin/points/rules", rules_data(effective_from=f"{next_month.isoformat()}T09:30"))
    assert mid.status_code == 303
    page = text(client.get(mid.headers["Location"]))
    assert "It starts in the middle of a month" in page and "cap of 300 points counts what was earned before" in page
    start = post(client, "/admin/points/rules", rules_data(effective_from=f"{next_month.isoformat()}T00:00"))
    assert start.status_code == 303
    page = text(client.get(start.headers["Location"]))
    assert "Version 2 of the rules is published" in page and "middle of a month" not in page


def test_rules_without_a_start_apply_now(app, store_world):
    client = as_user(app, store_world, "admin")
    assert post(client, "/admin/points/rules", rules_data(effective_from="")).status_code == 303
    with app.app_context():
        from webapp.points import rules

        assert rules.effective().version == 1 and rules.effective()["report_points"] == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"effective_from": "2020-01-01T08:00"}, "past"),
        ({"report_points": "101"}, "whole number from 0 to 100."),
        ({"report_points": "five"}, "whole number, without decimals"),
        ({"fen_per_point": "0"}, "whole number from 1 to 1000."),
        ({"category_points": "01002 lots"}, "Line 1"),
        ({"category_points": "00000 5"}, "00000"),
        ({"category_points": "01002 5\n01002 6"}, "twice"),
        ({"category_points": "01002 500"}, "Line 1: at most 200 points for a category"),
        ({"category_points": "\n01002 " + "9" * 4990}, "Line 2: at most 200 points for a category"),
        ({"effective_from": "0001-01-01T00:00"}, "between the years 2000 and 2100"),
        ({"effective_from": "tomorrow"}, "Not a valid datetime"),
        ({"note": "x" * 301}, "300"),
    ],
)
def test_bad_rules_are_refused_with_a_message_and_nothing_written(app, store_world, overrides, message):
    client = as_user(app, store_world, "admin")
    response = post(client, "/admin/points/rules", rules_data(**overrides))
    assert response.status_code == 422
    body = text(response)
    assert message in body
    assert 'class="error"' in response.get_data(as_text=True) or 'role="alert"' in response.get_data(as_text=True)
    assert count(app, PointsRules) == 0
    assert "rules_published" not in audits(app)


# --- Campaigns ----------------------------------------------------------------------------------------------------


def campaign_data(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "name": "垃圾满溢专项整治",
        "description": "两周",
        "categories": "06042 06010",
        "places": "140109",
        "starts_on": today().isoformat(),
        "ends_on": (today() + timedelta(days=14)).isoformat(),
        "multiplier": "2",
        "budget_points": "1000",
    }
    data.update(overrides)
    return data


def test_creating_a_campaign(app, store_world):
    client = as_user(app, store_world, "admin")
    response = post(client, "/admin/points/campaigns", campaign_data())
    assert response.status_code == 303
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign.categories == ["06042", "06010"] and campaign.places == ["140109"]
        assert campaign.multiplier == 2 and campaign.budget_points == 1000
    assert audits(app)[-1] == "campaign_created"
    page = text(client.get("/admin/points/campaigns"))
    assert "垃圾满溢专项整治" in page and "140109" in page and "0 / 1000" in page and "×2" in page


def test_the_campaign_list_shows_what_it_spent(app, store_world):
    with app.app_context():
        campaign = Campaign(
            name="井盖专项",
            category_codes="06042",
            starts_on=today() - timedelta(days=3),
            ends_on=today() + timedelta(days=3),
            multiplier=3,
            budget_points=50,
        )
        ended = Campaign(
            name="去年的专项",
            category_codes="06042",
            starts_on=today() - timedelta(days=30),
            ends_on=today() - timedelta(days=20),
        )
        db.session.add_all([campaign, ended])
        db.session.flush()
        report = make_report(make_user(Role.CITIZEN), category_code="06042")
        awards.award_report(report)  # 5 points + 10 bonus
        db.session.commit()
    page = text(as_user(app, store_world, "admin").get("/admin/points/campaigns"))
    assert "井盖专项 Active" in page and "10 / 50" in page and "×3" in page and "everywhere" in page
    assert "去年的专项 Ended" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"categories": ""}, "category"),
        ({"categories": "6042"}, "5 digits"),
        ({"categories": "00000"}, "00000"),
        ({"categories": "06042 abcde"}, "abcde"),
        ({"places": "14-01"}, "14-01"),
        ({"ends_on": (today() - timedelta(days=1)).isoformat()}, "end on or after"),
        (
            {
                "starts_on": (today() - timedelta(days=10)).isoformat(),
                "ends_on": (today() - timedelta(days=2)).isoformat(),
            },
            "already be over",
        ),
        ({"starts_on": (today() - timedelta(days=1)).isoformat()}, "past"),
        ({"starts_on": "2026-02-30"}, "Not a valid date"),
        ({"multiplier": "11"}, "whole number from 1 to 10."),
        ({"multiplier": "0"}, "whole number from 1 to 10."),
        ({"budget_points": "-5"}, "whole number from 0 to 10000000."),
        ({"name": ""}, "name"),
    ],
)
def test_bad_campaigns_are_refused(app, store_world, overrides, message):
    client = as_user(app, store_world, "admin")
    response = post(client, "/admin/points/campaigns", campaign_data(**overrides))
    assert response.status_code == 422
    assert message in text(response)
    assert count(app, Campaign) == 0
    assert "campaign_created" not in audits(app)


# --- Store items and stock ----------------------------------------------------------------------------------------


def item_data(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "name_zh": "扫帚",
        "name_en": "Broom",
        "description": "竹扫帚",
        "points_price": "18",
        "cost": "3.50",
        "per_person_limit": "2",
        "available_from": "",
        "available_until": "",
        "home_delivery": "y",
        "active": "y",
    }
    data.update(overrides)
    return data


def test_the_items_list_shows_the_stock(app, store_world):
    page = text(as_user(app, store_world, "admin").get("/admin/points/items"))
    assert "洗洁精" in page and " 7 " in page and "¥3.50" in page


def test_creating_an_item_with_a_photo(app, store_world):
    client = as_user(app, store_world, "admin")
    data = item_data(photo=(io.BytesIO(jpeg_bytes()), "broom.jpg"))
    response = post(client, "/admin/points/items/new", data, content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        item = db.session.scalar(sa.select(StoreItem).where(StoreItem.name_zh == "扫帚"))
        assert item.cost_fen == 350 and item.points_price == 18 and item.per_person_limit == 2 and item.stock == 0
        assert item.home_delivery and item.active and item.photo_key
        key = item.photo_key
        item_id = item.id
    assert app.extensions["storage"].exists(key)
    assert audits(app)[-1] == "item_created"
    page = client.get(f"/admin/points/items/{item_id}")
    assert page.status_code == 200 and key in page.get_data(as_text=True)
    photo = client.get(f"/media/{key}")
    assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cost": "3.505"}, "2 decimals"),
        ({"cost": "-1"}, "not negative"),
        ({"cost": "three"}, "yuan"),
        ({"cost": ""}, "yuan"),
        ({"points_price": "0"}, "whole number from 1 to 1000000."),
        ({"name_zh": ""}, "Chinese name"),
        ({"per_person_limit": "-1"}, "whole number from 0 to 1000."),
        ({"available_from": "2026-06-10", "available_until": "2026-06-01"}, "on or after"),
        ({"available_from": "1850-01-01"}, "between the years 2000 and 2100"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_written(app, store_world, overrides, message):
    client = as_user(app, store_world, "admin")
    before = count(app, StoreItem)
    response = post(client, "/admin/points/items/new", item_data(**overrides))
    assert response.status_code == 422
    assert message in text(response)
    assert count(app, StoreItem) == before
    assert "item_created" not in audits(app)[3:]


def test_a_file_that_is_not_a_photo_is_refused_and_no_file_is_left(app, store_world):
    client = as_user(app, store_world, "admin")
    before = uploaded_files(app)
    data = item_data(photo=(io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"), "x.jpg"))
    response = post(client, "/admin/points/items/new", data, content_type="multipart/form-data")
    assert response.status_code == 415
    assert "JPEG" in text(response)
    assert count(app, StoreItem) == 1
    assert uploaded_files(app) == before


def test_editing_an_item_is_audited_with_what_changed(app, store_world):
    client = as_user(app, store_world, "admin")
    url = f"/admin/points/items/{store_world['item_id']}"
    form = client.get(url).get_data(as_text=True)
    assert 'value="3.50"' in form and 'value="洗洁精"' in form
    response = post(client, url, item_data(name_zh="洗洁精", points_price="25", cost="4", home_delivery=""))
    assert response.status_code == 303
    with app.app_context():
        item = db.session.get(StoreItem, store_world["item_id"])
        assert item.points_price == 25 and item.cost_fen == 400 and not item.home_delivery and item.stock == 7
        row = db.session.scalar(sa.select(FundAudit).order_by(FundAudit.id.desc()))
        assert row.action == "item_updated"
        assert '"points_price": [20, 25]' in row.details_json and '"cost_fen": [350, 400]' in row.details_json
        # The waiting orders keep the price they were placed at.
        assert db.session.get(StoreOrder, store_world["order_id"]).points == 40


def test_a_bad_edit_changes_nothing(app, store_world):
    client = as_user(app, store_world, "admin")
    response = post(client, f"/admin/points/items/{store_world['item_id']}", item_data(name_zh="洗洁精", cost="4.001"))
    assert response.status_code == 422 and "2 decimals" in text(response)
    with app.app_context():
        assert db.session.get(StoreItem, store_world["item_id"]).cost_fen == 350
    assert audits(app)[-1] == "stock_purchased"


def test_an_unknown_item_is_404(app, store_world):
    client = as_user(app, store_world, "admin")
    assert client.get("/admin/points/items/999999").status_code == 404


def test_recording_a_purchase(app, store_world):
    client = as_user(app, store_world, "admin")
    token = csrf_token(client)
    response = client.post(
        f"/admin/points/items/{store_world['item_id']}/purchase",
        data={
            "purchase-csrf_token": token,
            "purchase-quantity": "20",
            "purchase-cost": "70.00",
            "purchase-budget_line": str(store_world["line_id"]),
            "purchase-note": "发票 123",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 27
        movement = db.session.scalar(sa.select(StockMovement).order_by(StockMovement.id.desc()))
        assert (
            movement.quantity == 20 and movement.cost_fen == 7000 and movement.budget_line_id == store_world["line_id"]
        )
        assert movement.note == "发票 123"
    assert audits(app)[-1] == "stock_purchased"
    page = text(client.get(f"/admin/points/items/{store_world['item_id']}"))
    assert "+20" in page and "¥70.00" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purchase-cost": "1.234"}, "2 decimals"),
        ({"purchase-cost": "-3"}, "not negative"),
        ({"purchase-quantity": "0"}, "whole number from 1 to 100000."),
        ({"purchase-quantity": "lots"}, "whole number"),
        ({"purchase-budget_line": "999999"}, "Not a valid choice"),
    ],
)
def test_a_bad_purchase_changes_nothing(app, store_world, overrides, message):
    client = as_user(app, store_world, "admin")
    data = {
        "purchase-csrf_token": csrf_token(client),
        "purchase-quantity": "5",
        "purchase-cost": "10",
        "purchase-budget_line": "",
        **overrides,
    }
    response = client.post(f"/admin/points/items/{store_world['item_id']}/purchase", data=data)
    assert response.status_code == 422
    assert message in text(response)
    with app.app_context():
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 7
    assert count(app, StockMovement) == 3  # the first purchase and the two orders
    assert audits(app).count("stock_purchased") == 1


def test_correcting_the_stock(app, store_world):
    client = as_user(app, store_world, "admin")
    url = f"/admin/points/items/{store_world['item_id']}/adjust"
    token = csrf_token(client)
    response = client.post(url, data={"adjust-csrf_token": token, "adjust-quantity": "-2", "adjust-note": "摔碎了"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 5
    assert audits(app)[-1] == "stock_adjusted"

    too_many = client.post(url, data={"adjust-csrf_token": token, "adjust-quantity": "-6", "adjust-note": "丢了"})
    assert too_many.status_code == 422 and "below zero" in text(too_many)
    no_reason = client.post(url, data={"adjust-csrf_token": token, "adjust-quantity": "1", "adjust-note": " "})
    assert no_reason.status_code == 422 and "reason" in text(no_reason)
    zero = client.post(url, data={"adjust-csrf_token": token, "adjust-quantity": "0", "adjust-note": "盘点"})
    assert zero.status_code == 422
    with app.app_context():
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 5
    assert audits(app).count("stock_adjusted") == 1


# --- The fund -----------------------------------------------------------------------------------------------------


def test_the_fund_page_balances_and_shows_the_identities(app, store_world):
    client = as_user(app, store_world, "admin")
    response = client.get("/admin/points/fund")
    assert response.status_code == 200
    page = text(response)
    assert "2026 专项" in page and "¥10000.00" in page
    assert "Balanced" in page and "alert-ok" in response.get_data(as_text=True)
    # 100 points issued, 60 redeemed: 40 outstanding, worth ¥4.00 at 10 fen a point.
    assert "+ issued 100" in page and "− redeemed in the store 60" in page and "held by residents at the end 40" in page
    assert "¥4.00" in page
    assert "洗洁精 0 10 3 0 0 7 7" in page  # opening, bought, ordered, cancelled, corrected, closing, on the shelf
    # The audit log: newest first, with who did it.
    assert page.index("Goods bought") < page.index("Store item created") < page.index("Budget line added")
    assert "admin user (139" in page


def test_a_mismatch_is_shown_in_red(app, store_world):
    with app.app_context():  # goods vanish from the shelf without a movement
        db.session.execute(sa.update(StoreItem).where(StoreItem.id == store_world["item_id"]).values(stock=5))
        db.session.commit()
    response = as_user(app, store_world, "admin").get("/admin/points/fund")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "alert-error" in body and "pa-mismatch" in body
    assert "洗洁精: 5 on the shelf but the movements say 7." in text(response)
    assert "Balanced" not in text(response)


def test_the_reconciliation_for_a_period_as_a_fragment(app, store_world):
    client = as_user(app, store_world, "admin")
    start = today().replace(day=1).isoformat()
    response = client.get(f"/admin/points/fund?start={start}&end={today().isoformat()}", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "HX-Request" in response.headers["Vary"]
    assert "reconciliation.csv" in body


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-13-01", "year-month-day"),
        ("start=yesterday", "year-month-day"),
        ("start=2026-05-10&end=2026-05-01", "on or before"),
        ("start=2099-01-01&end=2099-02-01", "future"),
        ("start=1900-01-01", "year-month-day"),
    ],
)
def test_bad_periods_are_refused(app, store_world, query, message):
    client = as_user(app, store_world, "admin")
    page = client.get(f"/admin/points/fund?{query}")
    assert page.status_code == 422 and message in text(page)
    csv = client.get(f"/admin/points/fund/reconciliation.csv?{query}")
    assert csv.status_code == 422 and message in text(csv)
    fragment = client.get(f"/admin/points/fund?{query}", headers=HX)
    assert fragment.status_code == 422 and message in text(fragment) and "<html" not in fragment.get_data(as_text=True)


def test_the_reconciliation_as_csv(app, store_world):
    client = as_user(app, store_world, "admin")
    start, end = today().replace(day=1).isoformat(), today().isoformat()
    response = client.get(f"/admin/points/fund/reconciliation.csv?start={start}&end={end}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == f'attachment; filename="reconciliation-{start}-{end}.csv"'
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff") and "result,balanced,yes" in body and "points,issued,100" in body
    assert "洗洁精 closing,7" in body


def test_adding_a_budget_line(app, store_world):
    client = as_user(app, store_world, "admin")
    token = csrf_token(client)
    data = {"line-csrf_token": token, "line-name": "社会捐赠 2026", "line-source": "社会捐赠", "line-amount": "1234.56"}
    response = client.post("/admin/points/fund/budget-lines", data={**data, "line-year": str(today().year)})
    assert response.status_code == 303
    with app.app_context():
        line = db.session.scalar(sa.select(BudgetLine).order_by(BudgetLine.id.desc()))
        assert line.amount_fen == 123456 and line.source == "社会捐赠"
    assert audits(app)[-1] == "budget_line_added"
    assert "社会捐赠 2026" in text(client.get("/admin/points/fund"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"line-amount": "12.345"}, "2 decimals"),
        ({"line-amount": "0"}, "positive"),
        ({"line-amount": "-100"}, "not negative"),
        ({"line-source": "彩票"}, "Not a valid choice"),
        ({"line-name": ""}, "name"),
        ({"line-year": "1999"}, "whole number from 2000 to 2100."),
        ({"line-amount": "30000000"}, "at most ¥21474836.47"),  # more than the 32-bit money columns hold
    ],
)
def test_a_bad_budget_line_is_refused(app, store_world, overrides, message):
    client = as_user(app, store_world, "admin")
    data = {
        "line-csrf_token": csrf_token(client),
        "line-name": "捐赠",
        "line-source": "社会捐赠",
        "line-amount": "100",
        "line-year": str(today().year),
        **overrides,
    }
    response = client.post("/admin/points/fund/budget-lines", data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert count(app, BudgetLine) == 1
    assert audits(app).count("budget_line_added") == 1


# --- Taking back the points of a false report ---------------------------------------------------------------------


@pytest.fixture
def paid_report(app, store_world):  # type: ignore[no-untyped-def]
    with app.app_context():
        reporter = make_user(Role.CITIZEN, name="假报告人")
        report = make_report(reporter, category_code="06042")
        awards.award_report(report)
        db.session.commit()
        return {"report_id": report.id, "reporter": reporter}


def test_only_admins_see_the_reversal_on_the_case_page(app, store_world, paid_report):
    url = f"/review/{paid_report['report_id']}"
    admin_page = as_user(app, store_world, "admin").get(url).get_data(as_text=True)
    assert f"/admin/points/reports/{paid_report['report_id']}/reverse" in admin_page
    reviewer_page = as_user(app, store_world, "reviewer").get(url).get_data(as_text=True)
    assert "/admin/points/reports/" not in reviewer_page


def test_taking_back_the_points_of_a_false_report(app, store_world, paid_report):
    client = as_user(app, store_world, "admin")
    report_id = paid_report["report_id"]
    assert "+5" in text(client.get(f"/admin/points/reports/{report_id}/reverse"))
    response = post(client, f"/admin/points/reports/{report_id}/reverse", {"reason": "照片是网上找的"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/review/{report_id}")
    with app.app_context():
        assert ledger.balance_of(paid_report["reporter"]) == 0
        reversal = db.session.scalar(
            sa.select(LedgerTransaction).where(LedgerTransaction.kind == TransactionKind.REVERSAL)
        )
        assert reversal.memo == "照片是网上找的" and reversal.created_by_id == store_world["users"]["admin"].id
        row = db.session.scalar(sa.select(FundAudit).order_by(FundAudit.id.desc()))
        assert row.action == "points_reversed" and "照片是网上找的" in row.details_json
    assert f"5 points of report #{report_id} taken back." in text(client.get(f"/review/{report_id}"))

    transactions = count(app, LedgerTransaction)
    again = post(client, f"/admin/points/reports/{report_id}/reverse", {"reason": "再次"})
    assert again.status_code == 303
    assert "Nothing was taken back" in text(client.get(f"/review/{report_id}"))
    assert count(app, LedgerTransaction) == transactions
    assert audits(app).count("points_reversed") == 1


def test_a_reversal_needs_a_reason_and_points_to_take_back(app, store_world, paid_report):
    client = as_user(app, store_world, "admin")
    no_reason = post(client, f"/admin/points/reports/{paid_report['report_id']}/reverse", {"reason": "  "})
    assert no_reason.status_code == 422 and "reason" in text(no_reason)
    nothing = post(client, f"/admin/points/reports/{store_world['report_id']}/reverse", {"reason": "假的"})
    assert nothing.status_code == 422 and "has not earned any points" in text(nothing)
    assert post(client, "/admin/points/reports/999999/reverse", {"reason": "假的"}).status_code == 404
    with app.app_context():
        assert ledger.balance_of(paid_report["reporter"]) == 5
    assert "points_reversed" not in audits(app)


def test_the_rules_form_names_the_configured_time_zone(app, store_world):
    """The start of a rules version is read in the TIMEZONE setting's zone, and the label says which."""
    client = as_user(app, store_world, "admin")  # the pages in English
    assert "In force from (Beijing time)" in text(client.get("/admin/points/rules"))
    before = app.config["BABEL_DEFAULT_TIMEZONE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Berlin"
    try:
        page = text(client.get("/admin/points/rules"))
    finally:
        app.config["BABEL_DEFAULT_TIMEZONE"] = before
    assert "In force from (Central European Time)" in page and "Beijing" not in page
