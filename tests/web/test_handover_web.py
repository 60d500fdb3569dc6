"""Handing over store orders (核销) at ``/handover/``: service-point staff and supervisors, who may, the order found
by its pickup code, handing over and cancelling, the old address under /admin, and choosing the service points."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import ANONYMOUS, SERVICE_POINT, STORE_ROLES
from tests.helpers import HX, as_user, csrf_token, post, scanners, text
from webapp.db import db
from webapp.points import ledger
from webapp.points.models import FundAudit, FundCharge, OrderStatus, StoreItem, StoreOrder


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- Who may open what --------------------------------------------------------------------------------------------

HANDOVER = {ANONYMOUS: 302, "admin": 200, SERVICE_POINT: 200}
GETS = [
    ("/handover/", HANDOVER),
    ("/handover/?code={code}", HANDOVER),
    ("/handover/service-points", {ANONYMOUS: 302, "admin": 200}),
]
POSTS = [  # a valid CSRF token but no pickup code: the role check comes first, then the code is refused (422)
    ("/handover/{order}", {ANONYMOUS: 302, "admin": 422, SERVICE_POINT: 422}),
    ("/handover/{order}/cancel", {ANONYMOUS: 302, "admin": 422, SERVICE_POINT: 422}),
    ("/handover/service-points/{department}", {ANONYMOUS: 302, "admin": 303}),
]


@pytest.mark.parametrize("role", STORE_ROLES)
def test_access_per_role(app, store_world, role):
    client = as_user(app, store_world, role)
    token = csrf_token(client)
    values = {"order": store_world["order_id"], "code": store_world["code"], "department": store_world["ordinary_id"]}
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
    with app.app_context():
        assert db.session.get(StoreOrder, store_world["order_id"]).status is OrderStatus.WAITING


def test_the_old_admin_address_redirects(app, store_world):
    client = as_user(app, store_world, SERVICE_POINT)
    page = client.get(f"/admin/points/handover?code={store_world['code']}")
    assert page.status_code == 301 and page.headers["Location"] == f"/handover/?code={store_world['code']}"
    moved = post(client, f"/admin/points/handover/{store_world['order_id']}", {"code": store_world["code"]})
    assert moved.status_code == 308 and moved.headers["Location"] == f"/handover/{store_world['order_id']}"
    cancel = post(client, f"/admin/points/handover/{store_world['order_id']}/cancel", {"code": store_world["code"]})
    assert cancel.status_code == 308 and cancel.headers["Location"] == f"/handover/{store_world['order_id']}/cancel"
    with app.app_context():  # a redirect changes nothing
        assert db.session.get(StoreOrder, store_world["order_id"]).status is OrderStatus.WAITING


def test_service_point_staff_find_hand_over_in_the_menu(app, store_world):
    staff = as_user(app, store_world, SERVICE_POINT).get("/")
    assert 'href="/handover/"' in staff.get_data(as_text=True)
    other = as_user(app, store_world, "department").get("/")
    assert 'href="/handover/"' not in other.get_data(as_text=True)


# --- Handing over -------------------------------------------------------------------------------------------------


def test_handing_over_an_order_by_its_code(app, store_world):
    client = as_user(app, store_world, SERVICE_POINT)
    page = client.get("/handover/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'inputmode="numeric"' in body and "js/scan.js" in body and "<script>" not in body
    assert scanners(body) == [("", "Camera picture")]  # templates/_macros/qr_scanner.html
    assert "杏花岭区 胜利街 8 号" in body  # home deliveries with their address
    assert store_world["code"] not in body  # codes are not listed: the resident gives theirs
    assert "Points administration" not in body  # staff are not supervisors: no admin tabs

    found = client.get(f"/handover/?code={store_world['code'][:4]} {store_world['code'][4:]}")
    page = text(found)
    assert found.status_code == 200
    assert "Dish soap" in page and "王阿姨" in page and "138****2222" in page
    assert "13811112222" not in found.get_data(as_text=True)

    done = post(client, f"/handover/{store_world['order_id']}", {"code": store_world["code"]})
    assert done.status_code == 303 and done.headers["Location"] == "/handover/"
    with app.app_context():
        order = db.session.get(StoreOrder, store_world["order_id"])
        assert (
            order.status is OrderStatus.HANDED_OVER
            and order.handed_over_by_id == store_world["users"][SERVICE_POINT].id
        )
        assert db.session.scalar(sa.select(FundCharge.amount_fen).where(FundCharge.order_id == order.id)) == 700
    assert "Handed over: 2 × Dish soap to 王阿姨." in text(client.get("/handover/"))

    again = client.get(f"/handover/?code={store_world['code']}")
    assert "already handed over" in text(again) and "服务站 小李" in text(again)
    assert f"/handover/{store_world['order_id']}" not in again.get_data(as_text=True)  # no button
    twice = post(client, f"/handover/{store_world['order_id']}", {"code": store_world["code"]})
    assert twice.status_code == 422 and "already handed over" in text(twice)
    assert count(app, FundCharge) == 1


def test_the_panel_speaks_the_staffs_language(app, store_world):
    """In Chinese the item is named in Chinese only (no English name in brackets)."""
    with app.app_context():
        db.session.get(
            type(store_world["users"][SERVICE_POINT]), store_world["users"][SERVICE_POINT].id
        ).locale = "zh_Hans_CN"
        db.session.commit()
    client = as_user(app, store_world, SERVICE_POINT)
    page = text(client.get(f"/handover/?code={store_world['code']}"))
    assert "洗洁精" in page and "Dish soap" not in page
    assert "兑换所用积分" in page and "已发放积分" not in page  # what the resident paid, not what was given


def test_a_lookup_by_htmx_answers_with_the_order_only(app, store_world):
    client = as_user(app, store_world, "admin")
    response = client.get(f"/handover/?code={store_world['code']}", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Dish soap" in body
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("code", "message"), [("1234", "8 digits"), ("abcdefgh", "8 digits"), ("00000000", "No order")]
)
def test_a_wrong_code_says_so(app, store_world, code, message):
    if code == store_world["code"]:  # pragma: no cover - one chance in 10^8
        pytest.skip("the random pickup code happens to be the wrong one")
    client = as_user(app, store_world, SERVICE_POINT)
    response = client.get(f"/handover/?code={code}")
    assert response.status_code == 422 and message in text(response)
    fragment = client.get(f"/handover/?code={code}", headers=HX)
    assert fragment.status_code == 422 and message in text(fragment)


def test_handing_over_needs_the_orders_own_code(app, store_world):
    client = as_user(app, store_world, SERVICE_POINT)
    response = post(client, f"/handover/{store_world['order_id']}", {"code": store_world["delivery_code"]})
    assert response.status_code == 422 and "does not match" in text(response)
    with app.app_context():
        assert db.session.get(StoreOrder, store_world["order_id"]).status is OrderStatus.WAITING
    assert post(client, "/handover/999999", {"code": store_world["code"]}).status_code == 404


def test_cancelling_an_order_at_the_counter(app, store_world):
    client = as_user(app, store_world, SERVICE_POINT)
    response = post(client, f"/handover/{store_world['order_id']}/cancel", {"code": store_world["code"]})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(StoreOrder, store_world["order_id"]).status is OrderStatus.CANCELLED
        assert db.session.get(StoreItem, store_world["item_id"]).stock == 9
        assert ledger.balance_of(store_world["resident"]) == 80
    looked_up = client.get(f"/handover/?code={store_world['code']}")
    assert "cancelled" in text(looked_up) and "nothing to hand over" in text(looked_up)
    refused = post(client, f"/handover/{store_world['order_id']}", {"code": store_world["code"]})
    assert refused.status_code == 422 and "cancelled" in text(refused)
    again = post(client, f"/handover/{store_world['order_id']}/cancel", {"code": store_world["code"]})
    assert again.status_code == 422 and "not been handed over" in text(again)
    assert count(app, FundCharge) == 0


def test_a_home_delivery_is_handed_over_with_its_code(app, store_world):
    client = as_user(app, store_world, "admin")
    found = client.get(f"/handover/?code={store_world['delivery_code']}")
    assert "杏花岭区 胜利街 8 号" in text(found)
    assert (
        post(client, f"/handover/{store_world['delivery_id']}", {"code": store_world["delivery_code"]}).status_code
        == 303
    )


# --- Choosing the service points ----------------------------------------------------------------------------------


def test_a_supervisor_makes_a_department_a_service_point(app, store_world):
    admin = as_user(app, store_world, "admin")
    page = admin.get("/handover/service-points")
    assert page.status_code == 200 and "环卫中心" in text(page) and "社区服务站" in text(page)
    department = as_user(app, store_world, "department")
    assert department.get("/handover/").status_code == 403

    made = post(admin, f"/handover/service-points/{store_world['ordinary_id']}", {"service_point": "y"})
    assert made.status_code == 303
    assert "is now a service point" in text(admin.get("/handover/service-points"))
    assert department.get("/handover/").status_code == 200
    assert 'href="/handover/"' in department.get("/").get_data(as_text=True)

    stopped = post(admin, f"/handover/service-points/{store_world['ordinary_id']}", {})
    assert stopped.status_code == 303
    assert department.get("/handover/").status_code == 403
    with app.app_context():
        assert db.session.scalars(sa.select(FundAudit.action)).all().count("service_point_set") == 2
    assert post(admin, "/handover/service-points/999999", {"service_point": "y"}).status_code == 404
