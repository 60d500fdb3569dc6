"""NUL characters in a URL or a form are refused with a clear 400 (PostgreSQL cannot store or compare them)."""

from __future__ import annotations

import pytest

from tests.helpers import csrf_token


@pytest.mark.parametrize(
    "path", ["/reports?category=%00", "/reports?status=a%00b", "/reports?%00=1", "/open-data?category=%00"]
)
def test_nul_in_the_query_string_is_a_400(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "请检查" in response.get_data(as_text=True)


def test_nul_in_the_path_is_a_400(client):
    assert client.get("/reports/%00").status_code in (400, 404)


def test_nul_in_a_form_is_a_400(client):
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"csrf_token": token, "phone": "1380000\x000001", "password": "x"},
    )
    assert response.status_code == 400
    assert "请检查" in response.get_data(as_text=True)
