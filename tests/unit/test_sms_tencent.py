"""The Tencent Cloud SMS backend against a local stand-in of its endpoint (SendSms, API 2021-01-11): the stand-in
checks the TC3-HMAC-SHA256 signature with the secret key, as the real endpoint does, and answers like it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webapp.accounts.sms import SmsSendError, code_message, make_sender, notice_message

SECRET_ID, SECRET_KEY = "AKIDexample", "secret-key-example"
SETTINGS = {
    "TENCENTCLOUD_SECRET_ID": SECRET_ID,
    "TENCENTCLOUD_SECRET_KEY": SECRET_KEY,
    "SMS_TENCENT_APP_ID": "1400000001",
    "SMS_SIGN_NAME": "全民网格",
    "SMS_TEMPLATE_CODE": "100001",
    "SMS_TEMPLATE_NOTICE": "100002",
}


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(method: str, path: str, headers: Any, body: bytes) -> str:
    """TC3-HMAC-SHA256 as Tencent Cloud documents it (signed headers: content-type;host)."""
    timestamp = int(headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [method, path, "", f"content-type:{headers['Content-Type']}\nhost:{headers['Host']}\n", "content-type;host",
         hashlib.sha256(body).hexdigest()]
    )  # fmt: skip
    scope = f"{date}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _sign(_sign(_sign(("TC3" + SECRET_KEY).encode(), date), "sms"), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class StandIn(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    answer_code = "Ok"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        auth = self.headers["Authorization"]
        signature = auth.rsplit("Signature=", 1)[1]
        if (
            not auth.startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
            or self.headers["X-TC-Action"] != "SendSms"
            or self.headers["X-TC-Version"] != "2021-01-11"
            or signature != expected_signature("POST", self.path, self.headers, body)
        ):
            reply: dict[str, Any] = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "bad signature"}}
        else:
            params = json.loads(body)
            StandIn.received.append({"params": params, "region": self.headers.get("X-TC-Region")})
            reply = {
                "SendStatusSet": [
                    {"SerialNo": "2028:1", "PhoneNumber": number, "Fee": 1, "SessionContext": "",
                     "Code": StandIn.answer_code, "Message": "send success" if StandIn.answer_code == "Ok" else "no",
                     "IsoCode": "CN"}
                    for number in params["PhoneNumberSet"]
                ]
            }  # fmt: skip
        data = json.dumps({"Response": {**reply, "RequestId": "req-1"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    StandIn.received = []
    StandIn.answer_code = "Ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def sender(endpoint: str, **changes: str):  # type: ignore[no-untyped-def]
    return make_sender("tencent", {**SETTINGS, "SMS_TENCENT_ENDPOINT": endpoint, **changes})


def test_a_code_goes_out_with_its_template_and_signature(endpoint):
    sender(endpoint).send(code_message("13800138000", "123456", 10))
    [call] = StandIn.received
    assert call["params"] == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400000001",
        "SignName": "全民网格",
        "TemplateId": "100001",
        "TemplateParamSet": ["123456", "10"],
    }
    assert call["region"] == "ap-guangzhou"


def test_a_notice_uses_the_notice_template(endpoint):
    sender(endpoint, SMS_TENCENT_REGION="ap-beijing").send(notice_message("13800138001", "您的上报 #7：已派遣。"))
    [call] = StandIn.received
    assert call["params"]["TemplateId"] == "100002" and call["params"]["TemplateParamSet"] == ["您的上报 #7：已派遣。"]
    assert call["region"] == "ap-beijing"


def test_a_refused_message_raises(endpoint):
    StandIn.answer_code = "LimitExceeded.PhoneNumberDailyLimit"
    with pytest.raises(SmsSendError, match="LimitExceeded.PhoneNumberDailyLimit"):
        sender(endpoint).send(code_message("13800138000", "123456", 10))


def test_a_wrong_key_is_refused_by_the_endpoint(endpoint):
    with pytest.raises(SmsSendError, match="AuthFailure.SignatureFailure"):
        sender(endpoint, TENCENTCLOUD_SECRET_KEY="not-the-key").send(code_message("13800138000", "1", 10))
    assert StandIn.received == []


def test_missing_settings_are_named():
    with pytest.raises(ValueError) as error:
        make_sender("tencent", {"TENCENTCLOUD_SECRET_ID": "x"})
    for name in ("TENCENTCLOUD_SECRET_KEY", "SMS_TENCENT_APP_ID", "SMS_SIGN_NAME", "SMS_TEMPLATE_CODE"):
        assert name in str(error.value)


def test_registration_through_the_app_sends_after_commit(app, endpoint, monkeypatch):
    from tests.helpers import HX, post

    monkeypatch.setitem(app.extensions, "sms", sender(endpoint))
    client = app.test_client()
    response = post(client, "/auth/code", {"phone": "13800138000", "purpose": "register"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    [call] = StandIn.received
    code = call["params"]["TemplateParamSet"][0]
    assert len(code) == 6 and code not in body  # a real sender: the code is never on the page
