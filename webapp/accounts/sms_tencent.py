"""Tencent Cloud SMS (短信 SendSms, API 2021-01-11) behind ``SmsSender``, through the maintained SDK
``tencentcloud-sdk-python-sms``.

Mainland SMS providers send only pre-approved templates under an approved signature (签名). Configure, from the
environment (README, SMS):

* ``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY``: an API key of a sub-account allowed to send SMS;
* ``SMS_TENCENT_APP_ID``: the SMS application (SmsSdkAppId); ``SMS_SIGN_NAME``: the approved signature;
* ``SMS_TEMPLATE_CODE``: a verification-code template with two variables, ``{1}`` the code and ``{2}`` the minutes
  it stays valid; ``SMS_TEMPLATE_NOTICE``: a notification template with one variable ``{1}``, the message;
* optional ``SMS_TENCENT_REGION`` (default ``ap-guangzhou``) and ``SMS_TENCENT_ENDPOINT`` (default
  ``https://sms.tencentcloudapi.com``; the tests point it at a local stand-in of the endpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from webapp.accounts.sms import SmsMessage, SmsSendError

REQUIRED = (
    "TENCENTCLOUD_SECRET_ID",
    "TENCENTCLOUD_SECRET_KEY",
    "SMS_TENCENT_APP_ID",
    "SMS_SIGN_NAME",
    "SMS_TEMPLATE_CODE",
    "SMS_TEMPLATE_NOTICE",
)
# The order of each template's variables ({1}, {2}, …).
TEMPLATE_PARAMS = {"code": ("code", "minutes"), "notice": ("content",)}


class TencentSmsSender:
    is_development = False
    sends_codes = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        missing = [name for name in REQUIRED if not config.get(name)]
        if missing:
            raise ValueError("SMS_BACKEND=tencent needs " + ", ".join(missing))
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        endpoint = urlsplit(config.get("SMS_TENCENT_ENDPOINT") or "https://sms.tencentcloudapi.com")
        http = HttpProfile(protocol=endpoint.scheme or "https", endpoint=endpoint.netloc or endpoint.path,
                           reqTimeout=int(config.get("SMS_TIMEOUT_SECONDS") or 10))  # fmt: skip
        self.client = sms_client.SmsClient(
            credential.Credential(config["TENCENTCLOUD_SECRET_ID"], config["TENCENTCLOUD_SECRET_KEY"]),
            config.get("SMS_TENCENT_REGION") or "ap-guangzhou",
            ClientProfile(httpProfile=http),
        )
        self.app_id = str(config["SMS_TENCENT_APP_ID"])
        self.sign_name = str(config["SMS_SIGN_NAME"])
        self.templates = {"code": str(config["SMS_TEMPLATE_CODE"]), "notice": str(config["SMS_TEMPLATE_NOTICE"])}

    def send(self, message: SmsMessage) -> None:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        if message.template not in self.templates:
            raise SmsSendError(f"no template for {message.template!r}")
        request = models.SendSmsRequest()
        request.PhoneNumberSet = ["+86" + message.phone]
        request.SmsSdkAppId = self.app_id
        request.SignName = self.sign_name
        request.TemplateId = self.templates[message.template]
        request.TemplateParamSet = [str(message.params.get(name, "")) for name in TEMPLATE_PARAMS[message.template]]
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as error:
            raise SmsSendError(f"{error.get_code()}: {error.get_message()}") from error
        statuses = response.SendStatusSet or []
        if not statuses or statuses[0].Code != "Ok":
            detail = f"{statuses[0].Code}: {statuses[0].Message}" if statuses else "no send status"
            raise SmsSendError(detail)
