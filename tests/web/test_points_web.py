"""The residents' side of points: my points, the store and orders, households, honour rolls, the participation
record and /api/v1/me/points, through the test client.

Text assertions use English (the users' saved language), so they hold whatever the Chinese catalogue says.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_report, make_user
from tests.helpers import HX, login, post, text
from webapp import localtime
from webapp.accounts.models import Role, User
from webapp.db import db, utcnow
from webapp.geo.models import Grid
from webapp.points import awards, honour, ledger, store
from webapp.points.models import (
    AccountKind,
    Household,
    HouseholdMember,
    LedgerEntry,
    LedgerTransaction,
    OrderStatus,
    StoreItem,
    StoreOrder,
    TransactionKind,
)

_keys = itertools.count(1)


# --- Helpers -------------------------------------------------------------------------------------------------


def resident(name: str = "", *, public: bool = False, role: Role = Role.CITIZEN, phone: str | None = None) -> User:
    """A user who reads the site in English (call inside an app context; commit afterwards)."""
    user = make_user(role, name=name, public=public, phone=phone)
    user.locale = "en"
    return user


def give(user: User, points: int, *, at: datetime | None = None, report_id: int | None = None, expires_on=None):  # type: ignore[no-untyped-def]
    """An award from the fund, as awards.py pays them."""
    transaction, _created = ledger.post(
        f"test:award:{next(_keys)}",
        TransactionKind.AWARD,
        "report_accepted",
        [(ledger.system_account(AccountKind.FUND), -points), (ledger.account_for(user), points)],
        memo="垃圾箱满溢",
        report_id=report_id,
        expires_on=expires_on or awards.expiry_for(at or utcnow()),
        at=at,
    )
    return transaction


def reverse(award: LedgerTransaction, user: User, points: int, *, at: datetime | None = None) -> None:
    """A reversal of an award (a false report), under the key awards.reverse_report uses."""
    ledger.post(
        f"reversal:{award.business_key}",
        TransactionKind.REVERSAL,
        "false_report",
        [(ledger.account_for(user), -points), (ledger.system_account(AccountKind.FUND), points)],
        memo="不实举报",
        report_id=award.report_id,
        at=at,
    )


def make_item(**overrides) -> StoreItem:  # type: ignore[no-untyped-def]
    values = {
        "name_zh": "洗洁精",
        "name_en": "Dish soap",
        "points_price": 20,
        "cost_fen": 200,
        "stock": 5,
        "per_person_limit": 0,
        "home_delivery": True,
    }
    values.update(overrides)
    item = StoreItem(**values)
    db.session.add(item)
    db.session.flush()
    return item


def balance(app, user_id: int) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return ledger.balance_of(db.session.get(User, user_id))


def stock(app, item_id: int) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.get(StoreItem, item_id).stock


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def request_key(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'name="request_key" value="([0-9a-f-]{36})"', response.get_data(as_text=True))
    assert match, "the redeem form carries a request key"
    return match.group(1)


def english(client) -> None:  # type: ignore[no-untyped-def]
    client.set_cookie("lang", "en")


@pytest.fixture
def world(app):  # type: ignore[no-untyped-def]
    """Two residents with points, a volunteer, a reviewer and a stocked store."""
    with app.app_context():
        alice = resident("Alice Wang", public=True, phone="13800001111")
        bob = resident("Bob Li", public=False, phone="13800002222")
        volunteer = resident("Vera", role=Role.VOLUNTEER)
        reviewer = resident("Rita", role=Role.REVIEWER)
        give(alice, 100)
        give(bob, 10)
        soap = make_item()
        bin_ = make_item(name_zh="垃圾桶", name_en="Rubbish bin", points_price=80, stock=1, per_person_limit=1)
        pickup_only = make_item(name_zh="扫帚", name_en="Broom", points_price=18, stock=3, home_delivery=False)
        sold_out = make_item(name_zh="暖手宝", name_en="Hand warmer", points_price=50, stock=0)
        hidden = make_item(name_zh="旧货", name_en="Withdrawn thing", points_price=5, active=False)
        db.session.commit()
        return {
            "alice": alice,
            "bob": bob,
            "volunteer": volunteer,
            "reviewer": reviewer,
            "soap": soap.id,
            "bin": bin_.id,
            "broom": pickup_only.id,
            "sold_out": sold_out.id,
            "hidden": hidden.id,
        }


def redeem(client, item_id: int, **fields):  # type: ignore[no-untyped-def]
    """Open the item page, then send its form (with the key the page made) with these fields."""
    page = client.get(f"/store/{item_id}")
    data = {"quantity": "1", "request_key": request_key(page), **fields}
    return post(client, f"/store/{item_id}/redeem", data)


def order_id_from(response) -> int:  # type: ignore[no-untyped-def]
    match = re.fullmatch(r".*/store/orders/(\d+)", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


# --- Access ----------------------------------------------------------------------------------------------------


def test_who_reaches_what(app, client, world):
    with app.app_context():
        order, _created = store.redeem(
            db.session.get(User, world["alice"].id),
            db.session.get(StoreItem, world["soap"]),
            quantity=1,
            request_key=str(uuid.uuid4()),
        )
        db.session.commit()
        order_id = order.id
    public = ["/store", f"/store/{world['soap']}", "/honour", "/honour?period=year"]
    private = ["/points", "/store/orders", "/household", "/me/participation.csv", "/honour/certificate"]
    for path in public:
        assert client.get(path).status_code == 200, path
    for path in [*private, f"/store/orders/{order_id}"]:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    api = client.get("/api/v1/me/points")
    assert api.status_code == 401 and api.get_json()["error"]["code"] == "unauthorized"

    login(client, world["bob"])
    for path in ["/points", "/store/orders", "/household", "/me/participation.csv"]:
        assert client.get(path).status_code == 200, path
    assert client.get(f"/store/orders/{order_id}").status_code == 404  # Alice's order
    assert client.get(f"/store/{world['hidden']}").status_code == 404  # withdrawn from the store
    assert client.get("/store/999999").status_code == 404
    assert client.get("/store/orders/99999999999999999999").status_code == 404


def test_bob_is_ranked_but_a_resident_without_points_gets_no_certificate(app, client, world):
    login(client, world["bob"])
    assert client.get("/honour/certificate").status_code == 200
    with app.app_context():
        nobody = resident("Nobody")
        db.session.commit()
    other = app.test_client()
    login(other, nobody)
    response = other.get("/honour/certificate")
    assert response.status_code == 404
    assert "certificates are for the top 50 residents" in text(response)


def test_staff_see_the_store_but_cannot_redeem(app, client, world):
    login(client, world["reviewer"])
    page = client.get(f"/store/{world['soap']}")
    assert page.status_code == 200 and "Staff accounts cannot redeem points." in text(page)
    response = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": str(uuid.uuid4())})
    assert response.status_code == 422
    assert "Only residents and volunteers can redeem points." in text(response)
    assert count(app, StoreOrder) == 0


# --- My points -------------------------------------------------------------------------------------------------


def test_my_points_page_and_fragment(app, client, world):
    with app.app_context():
        alice = db.session.get(User, world["alice"].id)
        soon = localtime.local_date(utcnow()) + timedelta(days=5)
        give(alice, 7, expires_on=soon)
        db.session.commit()
    login(client, world["alice"])
    full = client.get("/points")
    body = text(full)
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    assert "107" in body  # 100 + 7
    assert "Report accepted" in body and "+100" in body and "垃圾箱满溢" in body
    assert "7 of your points expire on" in body
    assert "/store" in full.get_data(as_text=True)
    assert full.headers["Cache-Control"] == "private, no-store"
    fragment = client.get("/points", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_history_labels_every_reason(app, client, world):
    with app.app_context():
        from webapp.points.views import REASON_LABELS

        assert set(REASON_LABELS) == {
            "report_accepted",
            "campaign_bonus",
            "later_reporter",
            "volunteer_result",
            "rating",
            "feedback_adopted",
            "activity_attended",
            "redemption",
            "order_cancelled",
            "false_report",
            "expired",
        }
        alice = db.session.get(User, world["alice"].id)
        award = give(alice, 5)
        reverse(award, alice, 5)
        db.session.commit()
    login(client, world["alice"])
    body = text(client.get("/points"))
    assert "False report: points taken back" in body and "−5" in body


def test_default_language_is_chinese(app, client, world):
    with app.app_context():
        zh = make_user(name="张")
        give(zh, 3)
        db.session.commit()
    login(client, zh)
    response = client.get("/points")
    assert response.status_code == 200 and 'lang="zh-Hans"' in response.get_data(as_text=True)


# --- The store -------------------------------------------------------------------------------------------------


def test_store_lists_what_is_on_offer_without_login(app, client, world):
    with app.app_context():
        db.session.get(StoreItem, world["soap"]).photo_key = "ab/cdef.jpg"
        db.session.commit()
    english(client)
    response = client.get("/store")
    body = text(response)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ("Dish soap", "Rubbish bin", "Broom", "Hand warmer"):
        assert name in body
    assert "Withdrawn thing" not in body
    assert "20 points" in body and "In stock: 5" in body
    assert "Sold out" in body
    assert "At most 1 per person" in body
    assert "Home delivery possible" in body
    assert "Log in to redeem" in body
    assert '/media/ab/cdef.jpg" width="80" height="80"' in html
    assert "<script" not in html.split("<main", 1)[1]  # the list needs no script
    fragment = client.get("/store", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]


def test_item_page_has_the_redeem_form(app, client, world):
    login(client, world["alice"])
    response = client.get(f"/store/{world['soap']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="quantity"' in html and 'min="1" max="10"' in html
    assert 'name="deliver"' in html and 'name="address"' in html
    assert '<label for="quantity">' in html and '<label for="deliver">' in html and '<label for="address">' in html
    assert 'name="csrf_token"' in html
    uuid.UUID(request_key(response))
    assert request_key(client.get(f"/store/{world['soap']}")) != request_key(response)  # a new key per form
    # An item that must be collected offers no delivery.
    broom = client.get(f"/store/{world['broom']}").get_data(as_text=True)
    assert 'name="deliver"' not in broom
    # Sold out: no form.
    sold_out = client.get(f"/store/{world['sold_out']}")
    assert "Sold out" in text(sold_out) and 'name="request_key"' not in sold_out.get_data(as_text=True)
    fragment = client.get(f"/store/{world['soap']}", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and 'name="quantity"' in fragment.get_data(as_text=True)


def test_redeem_happy_path(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["soap"], quantity="2")
    assert response.status_code == 303
    order_id = order_id_from(response)
    assert balance(app, world["alice"].id) == 60
    assert stock(app, world["soap"]) == 3
    page = client.get(f"/store/orders/{order_id}")
    body = text(page)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Done! 40 points were exchanged." in body
    with app.app_context():
        order = db.session.get(StoreOrder, order_id)
        code = order.pickup_code
        assert order.quantity == 2 and order.points == 40 and order.status is OrderStatus.WAITING
        assert order.delivery_address == ""
    assert f"{code[:4]} {code[4:]}" in body
    assert '<svg viewBox="' in html and 'class="qr"' in html  # the QR code, drawn on the server
    assert "Cancel this order" in body
    assert page.headers["Cache-Control"] == "private, no-store"
    fragment = client.get(f"/store/orders/{order_id}", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]
    orders = client.get("/store/orders")
    assert "Dish soap × 2" in text(orders) and code in text(orders) and "Waiting to be collected" in text(orders)
    assert "<html" not in client.get("/store/orders", headers=HX).get_data(as_text=True)
    assert client.get("/api/v1/me/points").get_json() == {"balance": 60}


def test_home_delivery(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["soap"], deliver="1", address="  长风西大街 8 号 3 单元 501  ")
    assert response.status_code == 303
    with app.app_context():
        order = db.session.get(StoreOrder, order_id_from(response))
        assert order.delivery_address == "长风西大街 8 号 3 单元 501"
    page = text(client.get(f"/store/orders/{order.id}"))
    assert "brought to your home" in page and "长风西大街 8 号 3 单元 501" in page


def test_an_address_without_the_box_ticked_is_ignored(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["soap"], address="somewhere")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(StoreOrder, order_id_from(response)).delivery_address == ""


def test_a_double_submitted_form_makes_one_order(app, client, world):
    login(client, world["alice"])
    key = request_key(client.get(f"/store/{world['soap']}"))
    first = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key})
    second = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, StoreOrder) == 1
    assert balance(app, world["alice"].id) == 80 and stock(app, world["soap"]) == 4
    assert "nothing was ordered twice" in text(client.get(second.headers["Location"]))


def test_the_same_form_sent_twice_at_once_answers_with_the_first_order(app, client, world, monkeypatch):
    """Two requests with one key that both pass the "already used?" check: the database's unique request_key
    refuses the second order; the resident is sent to the first one instead of seeing an error."""
    login(client, world["alice"])
    key = request_key(client.get(f"/store/{world['soap']}"))
    first = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key})

    def lost_the_race(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sa.exc.IntegrityError("INSERT INTO store_orders …", {}, Exception("unique request_key"))

    monkeypatch.setattr(store, "redeem", lost_the_race)
    second = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key})
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert "nothing was ordered twice" in text(client.get(second.headers["Location"]))
    assert count(app, StoreOrder) == 1 and balance(app, world["alice"].id) == 80


def test_another_resident_cannot_use_a_used_form_key(app, client, world):
    login(client, world["alice"])
    key = request_key(client.get(f"/store/{world['soap']}"))
    assert post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key}).status_code == 303
    other = app.test_client()
    login(other, world["bob"])
    response = post(other, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": key})
    assert response.status_code == 422 and "already used" in text(response)
    assert count(app, StoreOrder) == 1 and balance(app, world["bob"].id) == 10


@pytest.mark.parametrize("quantity", ["0", "abc", "11", "", "-1", "1.5", "１", "99999999999999999999"])
def test_bad_quantities_are_refused_and_nothing_is_written(app, client, world, quantity):
    login(client, world["alice"])
    response = redeem(client, world["soap"], quantity=quantity)
    assert response.status_code == 422
    assert "Please choose a quantity from 1 to 10." in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert count(app, StoreOrder) == 0
    assert balance(app, world["alice"].id) == 100 and stock(app, world["soap"]) == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"deliver": "1", "address": ""}, "Please give the address the goods should be brought to."),
        ({"deliver": "1", "address": "   "}, "Please give the address the goods should be brought to."),
        ({"deliver": "1", "address": "x" * 201}, "The address is too long: at most 200 characters."),
    ],
)
def test_delivery_needs_an_address(app, client, world, fields, message):
    login(client, world["alice"])
    response = redeem(client, world["soap"], **fields)
    assert response.status_code == 422 and message in text(response)
    html = response.get_data(as_text=True)
    assert 'id="deliver" name="deliver" value="1" class="deliver-toggle" checked' in html  # the choice is kept
    assert count(app, StoreOrder) == 0 and balance(app, world["alice"].id) == 100


def test_delivery_of_a_pickup_only_item_is_refused(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["broom"], deliver="1", address="长风西大街 8 号")
    assert response.status_code == 422 and "cannot be delivered" in text(response)
    assert count(app, StoreOrder) == 0


def test_not_enough_points(app, client, world):
    login(client, world["bob"])  # 10 points; soap costs 20
    response = redeem(client, world["soap"])
    assert response.status_code == 422
    assert "You do not have enough points for this." in text(response)
    assert count(app, StoreOrder) == 0 and balance(app, world["bob"].id) == 10 and stock(app, world["soap"]) == 5
    with app.app_context():  # nothing half-written: no redemption in the ledger
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.kind == TransactionKind.REDEMPTION)
            )
            == 0
        )


def test_out_of_stock(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["broom"], quantity="4")  # 3 on the shelf; 72 points are enough
    assert response.status_code in (409, 422)
    assert "run out" in text(response)
    assert count(app, StoreOrder) == 0 and balance(app, world["alice"].id) == 100 and stock(app, world["broom"]) == 3
    sold_out = post(client, f"/store/{world['sold_out']}/redeem", {"quantity": "1", "request_key": str(uuid.uuid4())})
    assert sold_out.status_code in (409, 422) and "run out" in text(sold_out)
    assert count(app, StoreOrder) == 0


def test_per_person_limit(app, client, world):
    with app.app_context():
        db.session.get(StoreItem, world["bin"]).stock = 5
        db.session.commit()
    login(client, world["alice"])
    assert redeem(client, world["bin"]).status_code == 303
    response = redeem(client, world["bin"])
    assert response.status_code == 422 and "At most 1 per person for this item." in text(response)
    assert count(app, StoreOrder) == 1


def test_a_form_without_a_valid_key_or_csrf_token_is_refused(app, client, world):
    login(client, world["alice"])
    bad_key = post(client, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": "not-a-uuid"})
    assert bad_key.status_code == 400 and "This form has expired" in text(bad_key)
    uuid.UUID(request_key(bad_key))  # a fresh form to try again
    no_csrf = client.post(f"/store/{world['soap']}/redeem", data={"quantity": "1", "request_key": str(uuid.uuid4())})
    assert no_csrf.status_code == 400
    anonymous = app.test_client()
    response = post(anonymous, f"/store/{world['soap']}/redeem", {"quantity": "1", "request_key": str(uuid.uuid4())})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert count(app, StoreOrder) == 0


def test_the_address_is_escaped(app, client, world):
    login(client, world["alice"])
    response = redeem(client, world["soap"], deliver="1", address="<script>alert(1)</script>")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


# --- Cancelling ------------------------------------------------------------------------------------------------


def test_cancel_returns_points_and_stock(app, client, world):
    login(client, world["alice"])
    order_id = order_id_from(redeem(client, world["soap"], quantity="3"))
    assert balance(app, world["alice"].id) == 40 and stock(app, world["soap"]) == 2
    response = post(client, f"/store/orders/{order_id}/cancel", {"confirm": "yes"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/store/orders/{order_id}")
    assert balance(app, world["alice"].id) == 100 and stock(app, world["soap"]) == 5
    page = client.get(f"/store/orders/{order_id}")
    body = text(page)
    assert "60 points are back in your account" in body and "Cancelled" in body
    assert "Cancel this order" not in body and "<svg" not in page.get_data(as_text=True)
    again = post(client, f"/store/orders/{order_id}/cancel", {"confirm": "yes"})
    assert again.status_code == 422 and "Only an order that has not been handed over can be cancelled." in text(again)
    assert balance(app, world["alice"].id) == 100
    history = text(client.get("/points"))
    assert "Order cancelled: points returned" in history and "Redeemed in the points store" in history


def test_cancelling_asks_to_confirm_and_a_delivery_waits_to_be_delivered(app, client, world):
    login(client, world["alice"])
    order_id = order_id_from(redeem(client, world["soap"], deliver="1", address="胜利街 8 号"))
    page = client.get(f"/store/orders/{order_id}").get_data(as_text=True)
    assert "Waiting to be delivered" in page and "Waiting to be collected" not in page
    assert 'name="confirm" value="yes" required' in page
    one_tap = post(client, f"/store/orders/{order_id}/cancel")
    assert one_tap.status_code == 422 and "tick the box" in text(one_tap)
    with app.app_context():
        assert db.session.get(StoreOrder, order_id).status is OrderStatus.WAITING
    assert "Waiting to be delivered" in text(client.get("/store/orders"))


def test_nobody_else_sees_or_cancels_my_order(app, client, world):
    login(client, world["alice"])
    order_id = order_id_from(redeem(client, world["soap"]))
    with app.app_context():
        code = db.session.get(StoreOrder, order_id).pickup_code
    for other_user in (world["bob"], world["reviewer"]):
        other = app.test_client()
        login(other, other_user)
        assert other.get(f"/store/orders/{order_id}").status_code == 404
        assert post(other, f"/store/orders/{order_id}/cancel", {"confirm": "yes"}).status_code == 404
        assert code not in other.get("/store/orders").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(StoreOrder, order_id).status is OrderStatus.WAITING
    assert balance(app, world["alice"].id) == 80


# --- Households ------------------------------------------------------------------------------------------------


def household_code(app, user_id: int) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(
            sa.select(Household.invite_code)
            .join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(HouseholdMember.user_id == user_id)
        )


def test_create_join_and_leave_a_household(app, client, world):
    login(client, world["alice"])
    page = client.get("/household")
    assert page.status_code == 200 and "Start a household" in text(page) and "Join" in text(page)
    assert "<html" not in client.get("/household", headers=HX).get_data(as_text=True)
    response = post(client, "/household/create", {"name": "  The  Zhao household "})
    assert response.status_code == 303 and response.headers["Location"].endswith("/household")
    code = household_code(app, world["alice"].id)
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}", code)
    body = text(client.get("/household"))
    assert "The Zhao household" in body and f"{code[:4]} {code[4:]}" in body and "Alice Wang" in body

    outsider = app.test_client()
    login(outsider, world["volunteer"])
    other_page = outsider.get("/household").get_data(as_text=True)
    assert "The Zhao household" not in other_page and code not in other_page and "Alice Wang" not in other_page

    bob = app.test_client()
    login(bob, world["bob"])
    joined = post(bob, "/household/join", {"code": f" {code[:4].lower()}-{code[4:].lower()} "})
    assert joined.status_code == 303
    page = text(bob.get("/household"))
    assert "The Zhao household" in page and "Alice Wang" in page and "Bob Li" in page
    assert "110" in page  # the household total: 100 + 10
    assert "13800001111" not in page and "13800002222" not in page

    assert post(client, "/household/leave").status_code == 303
    assert household_code(app, world["alice"].id) is None
    assert "Bob Li" in text(bob.get("/household")) and "Alice Wang" not in text(bob.get("/household"))
    with app.app_context():
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    assert post(bob, "/household/leave").status_code == 303  # the last member: the household goes
    assert count(app, Household) == 0 and count(app, HouseholdMember) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == entries
    assert balance(app, world["alice"].id) == 100 and balance(app, world["bob"].id) == 10


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "Please enter the invite code."),
        ("abc", "An invite code has 8 letters and digits"),
        ("OOOO0000", "An invite code has 8 letters and digits"),
        ("ABCDEFGH2", "An invite code has 8 letters and digits"),
        ("ABCDEFGH", "No household has this invite code."),
    ],
)
def test_bad_invite_codes(app, client, world, code, message):
    login(client, world["bob"])
    response = post(client, "/household/join", {"code": code})
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert count(app, HouseholdMember) == 0


def test_a_person_is_in_one_household_at_most(app, client, world):
    login(client, world["alice"])
    post(client, "/household/create", {"name": "王家"})
    code = household_code(app, world["alice"].id)
    again = post(client, "/household/create", {"name": "另一个家"})
    assert again.status_code == 409 and "You are already in a household." in text(again)
    same = post(client, "/household/join", {"code": code})
    assert same.status_code == 409 and "You are already in this household." in text(same)

    bob = app.test_client()
    login(bob, world["bob"])
    post(bob, "/household/create", {"name": "李家"})
    other = post(bob, "/household/join", {"code": code})
    assert other.status_code == 409 and "Leave it first" in text(other)
    assert count(app, Household) == 2 and count(app, HouseholdMember) == 2


def test_household_form_errors(app, client, world):
    login(client, world["alice"])
    empty = post(client, "/household/create", {"name": "   "})
    assert empty.status_code == 422 and "Please give your household a name." in text(empty)
    long = post(client, "/household/create", {"name": "家" * 41})
    assert long.status_code == 422 and "at most 40 characters" in text(long)
    leave = post(client, "/household/leave")
    assert leave.status_code == 409 and "You are not in a household." in text(leave)
    public = post(client, "/household/public", {"show_publicly": "1"})
    assert public.status_code == 409
    assert count(app, Household) == 0
    assert client.post("/household/create", data={"name": "王家"}).status_code == 400  # no CSRF token
    assert count(app, Household) == 0


def test_staff_cannot_make_households(app, client, world):
    login(client, world["reviewer"])
    response = post(client, "/household/create", {"name": "审核组"})
    assert response.status_code == 403 and count(app, Household) == 0


def test_household_name_is_escaped(app, client, world):
    login(client, world["alice"])
    post(client, "/household/create", {"name": "<b>王家</b>"})
    html = client.get("/household").get_data(as_text=True)
    assert "<b>王家</b>" not in html and "&lt;b&gt;王家&lt;/b&gt;" in html


def test_anonymous_visitors_cannot_change_households(app, client, world):
    for path in ("/household/create", "/household/join", "/household/leave", "/household/public"):
        response = post(client, path, {"name": "x", "code": "ABCDEFGH"})
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert count(app, Household) == 0


# --- Honour rolls ----------------------------------------------------------------------------------------------


def test_honour_roll_names_only_those_who_opted_in_and_never_phones(app, client, world):
    english(client)
    response = client.get("/honour")
    body = text(response)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Alice Wang" in body  # chose "show my name publicly"
    assert "Bob Li" not in body and "A resident" in body
    for phone in ("13800001111", "13800002222", "1380000", "****"):
        assert phone not in html
    # Alice (100) is first, Bob (10) second.
    people = body.split("Residents", 1)[1]
    assert people.index("Alice Wang") < people.index("A resident")
    assert "100" in people and "10" in people


def test_honour_roll_fragment_and_tabs(app, client, world):
    english(client)
    full = client.get("/honour?period=quarter")
    html = full.get_data(as_text=True)
    assert full.status_code == 200 and "<html" in html
    assert 'hx-target="#honour"' in html and 'hx-push-url="true"' in html
    assert re.search(r'aria-current="page">Quarter<', html)
    fragment = client.get("/honour?period=year", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"] and "Alice Wang" in fragment.get_data(as_text=True)
    assert re.search(r'aria-current="page">Year<', fragment.get_data(as_text=True))


@pytest.mark.parametrize(
    "query",
    [
        "period=week",
        "period=month&year=abc",
        "period=month&month=13",
        "period=quarter&quarter=5",
        "year=1999",
        "period=month&month=0",
        "year=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96",
    ],
)
def test_bad_periods_are_400(app, client, query):
    english(client)
    response = client.get(f"/honour?{query}")
    assert response.status_code == 400
    assert "Please choose a month, a quarter or a year." in text(response)


def test_honour_periods_use_local_time_and_count_earned_points_only(app, client):
    """Awards count in the month they were made in Shanghai time; reversals cancel them; spending does not."""
    with app.app_context():
        carol = resident("Carol", public=True)
        # 2026-10-31 23:30 in Shanghai is 15:30 UTC: October, not November.
        late_october = datetime(2026, 10, 31, 23, 30, tzinfo=localtime.zone())
        early_november = datetime(2026, 11, 1, 0, 30, tzinfo=localtime.zone())
        give(carol, 30, at=late_october)
        give(carol, 5, at=early_november)
        dave = resident("Dave", public=True)
        false_award = give(dave, 50, at=early_november)
        give(dave, 8, at=early_november)
        reverse(false_award, dave, 50, at=datetime(2026, 12, 3, tzinfo=localtime.zone()))  # found false in December
        db.session.commit()
        october = localtime.Period(localtime.PeriodKind.MONTH, 2026, 10)
        november = localtime.Period(localtime.PeriodKind.MONTH, 2026, 11)
        december = localtime.Period(localtime.PeriodKind.MONTH, 2026, 12)
        q4 = localtime.Period(localtime.PeriodKind.QUARTER, 2026, 4)
        assert [(r.name, r.points) for r in honour.top_people(october)] == [("Carol", 30)]
        assert [(r.name, r.points) for r in honour.top_people(november)] == [("Dave", 8), ("Carol", 5)]
        assert honour.top_people(december) == []
        assert [(r.name, r.points, r.rank) for r in honour.top_people(q4)] == [("Carol", 35, 1), ("Dave", 8, 2)]
    english(client)
    body = text(client.get("/honour?period=month&year=2026&month=11"))
    assert "November 2026" in body and "Dave" in body and "Carol" in body
    assert "Carol" in text(client.get("/honour?period=quarter&year=2026&quarter=4"))
    assert "Nobody has earned points in this period yet." in text(client.get("/honour?period=year&year=2020"))


def test_ties_share_a_rank(app, client):
    with app.app_context():
        at = datetime(2026, 5, 10, 12, tzinfo=localtime.zone())
        for name, points in (("A", 10), ("B", 10), ("C", 4)):
            give(resident(name, public=True), points, at=at)
        db.session.commit()
        rows = honour.top_people(localtime.Period(localtime.PeriodKind.MONTH, 2026, 5))
        assert [(r.rank, r.points) for r in rows] == [(1, 10), (1, 10), (3, 4)]


def test_household_roll_shows_names_only_when_chosen(app, client, world):
    login(client, world["alice"])
    post(client, "/household/create", {"name": "王家"})
    english(client)
    anonymous = app.test_client()
    english(anonymous)
    body = text(anonymous.get("/honour"))
    households_part = body.split("Households", 1)[1]
    assert "王家" not in households_part and "A household" in households_part and "100" in households_part
    assert post(client, "/household/public", {"show_publicly": "1"}).status_code == 303
    assert "王家" in text(anonymous.get("/honour")).split("Households", 1)[1]
    assert post(client, "/household/public", {}).status_code == 303
    assert "王家" not in text(anonymous.get("/honour")).split("Households", 1)[1]


def test_community_roll_from_the_reports_grids(app, client, storage):
    with app.app_context():
        for code, community in (("140109001001001", "千峰社区"), ("140109001002001", "长风社区")):
            db.session.add(
                Grid(
                    code=code,
                    name="网格",
                    district_code="140109",
                    district_name="万柏林区",
                    street_code=code[:9],
                    street_name="千峰街道",
                    community_code=code[:12],
                    community_name=community,
                    geometry="{}",
                    min_lat=0,
                    max_lat=0,
                    min_lon=0,
                    max_lon=0,
                )
            )
        db.session.flush()
        user = resident("Eve")
        first = make_report(user, storage=storage)
        second = make_report(user, storage=storage, lat=37.8611)
        first.grid_code, second.grid_code = "140109001001001", "140109001002001"
        give(user, 5, report_id=first.id)
        give(user, 10, report_id=second.id)
        give(user, 7)  # no report: no community
        db.session.commit()
    english(client)
    body = text(client.get("/honour")).split("Communities", 1)[1]
    assert body.index("长风社区") < body.index("千峰社区")
    assert "10" in body and "5" in body


# --- Certificate ----------------------------------------------------------------------------------------------


def test_certificate_for_a_ranked_resident(app, client, world):
    login(client, world["bob"])
    page = text(client.get("/honour"))
    assert "You are number 2 with 10 points." in page and "Print your certificate" in page
    response = client.get("/honour/certificate")
    body = text(response)
    assert response.status_code == 200
    assert "Certificate of honour" in body and "Bob Li" in body and "ranked number 2" in body and "10 points" in body
    assert "13800002222" not in response.get_data(as_text=True)
    now = localtime.local_date(utcnow())
    year = client.get(f"/honour/certificate?period=year&year={now.year}")
    assert year.status_code == 200 and f"in {now.year}, with" in text(year)
    last_year = client.get(f"/honour/certificate?period=year&year={now.year - 1}")
    assert last_year.status_code == 404
    assert client.get("/honour/certificate?period=decade").status_code == 400


def test_certificate_only_within_the_top_50(app, client):
    with app.app_context():
        at = datetime(2026, 3, 15, 12, tzinfo=localtime.zone())
        users = [resident(f"R{i}") for i in range(51)]
        for i, user in enumerate(users):
            give(user, 100 - i, at=at)
        db.session.commit()
        fiftieth, fifty_first = users[49], users[50]
    query = "period=month&year=2026&month=3"
    login(client, fiftieth)
    assert client.get(f"/honour/certificate?{query}").status_code == 200
    other = app.test_client()
    login(other, fifty_first)
    response = other.get(f"/honour/certificate?{query}")
    assert response.status_code == 404 and "top 50" in text(response)
    assert "You are number 51" in text(other.get(f"/honour?{query}"))


# --- Participation record and API -----------------------------------------------------------------------------


def test_participation_csv(app, client, world, storage):
    with app.app_context():
        alice = db.session.get(User, world["alice"].id)
        report = make_report(alice, storage=storage)
        give(alice, 5, report_id=report.id)
        db.session.commit()
        report_id = report.id
    login(client, world["alice"])
    redeem(client, world["soap"])
    response = client.get("/me/participation.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and re.search(
        r'filename="participation-\d{4}-\d{2}-\d{2}\.csv"', disposition
    )
    assert response.headers["Cache-Control"] == "private, no-store"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["Record", "Number", "Date", "What", "Status or detail", "Points"]
    reports = [r for r in rows[1:] if r[0] == "Report"]
    points = [r for r in rows[1:] if r[0] == "Points"]
    assert [r[1] for r in reports] == [str(report_id)]
    assert reports[0][3].startswith("06042") and reports[0][4] == "Awaiting review"
    date.fromisoformat(reports[0][2])
    assert sorted(int(r[5]) for r in points) == [-20, 5, 100]
    assert {r[3] for r in points} == {"Report accepted", "Redeemed in the points store"}
    assert any(f"report #{report_id}" in r[4] for r in points)
    assert "13800001111" not in raw.decode("utf-8-sig")


def test_participation_csv_keeps_formulas_as_text(app, client, world):
    with app.app_context():
        alice = db.session.get(User, world["alice"].id)
        ledger.post(
            "test:formula",
            TransactionKind.AWARD,
            "feedback_adopted",
            [(ledger.system_account(AccountKind.FUND), -1), (ledger.account_for(alice), 1)],
            memo='=HYPERLINK("http://evil")',
        )
        db.session.commit()
    login(client, world["alice"])
    rows = list(csv.reader(io.StringIO(client.get("/me/participation.csv").get_data().decode("utf-8-sig"))))
    assert any(r[4].startswith("'=HYPERLINK") for r in rows)


def test_api_me_points(app, client, world):
    assert client.get("/api/v1/me/points").status_code == 401
    login(client, world["alice"])
    response = client.get("/api/v1/me/points")
    assert response.status_code == 200 and response.get_json() == {"balance": 100}
    assert response.headers["Cache-Control"] == "private, no-store"
    with app.app_context():
        newcomer = resident("New")
        db.session.commit()
    other = app.test_client()
    login(other, newcomer)
    assert other.get("/api/v1/me/points").get_json() == {"balance": 0}
