from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.accounts import services
from webapp.accounts.models import PhoneVerification, Role, SmsPurpose
from webapp.accounts.sms import make_sender
from webapp.db import db, utcnow


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
    ],
)
def test_normalise_phone_accepts_common_spellings(raw, expected):
    assert services.normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "1380013800", "138001380001", "12800138000", "23800138000", "abcdefghijk", None])
def test_normalise_phone_refuses_non_mainland_numbers(raw):
    with pytest.raises(services.InvalidPhone):
        services.normalise_phone(raw)


def test_create_user_hashes_the_password(ctx):
    user = services.create_user("13800138000", "long-enough-1", role=Role.REVIEWER, display_name=" 张 ")
    assert user.password_hash.startswith("scrypt:") and "long-enough-1" not in user.password_hash
    assert user.check_password("long-enough-1") and not user.check_password("other")
    assert user.display_name == "张" and user.role is Role.REVIEWER


def test_create_user_refuses_duplicates_and_weak_passwords(ctx):
    services.create_user("13800138000", "long-enough-1")
    with pytest.raises(services.PhoneTaken):
        services.create_user("138 0013 8000", "long-enough-1")
    with pytest.raises(services.WeakPassword):
        services.create_user("13800138001", "short")
    with pytest.raises(services.WeakPassword):
        services.create_user("13800138002", "13800138002")


def test_authenticate(ctx):
    user = services.create_user("13800138000", "long-enough-1")
    assert services.authenticate("13800138000", "long-enough-1") is user
    assert user.last_login_at is not None
    assert services.authenticate("13800138000", "wrong") is None
    assert services.authenticate("13900000000", "long-enough-1") is None
    assert services.authenticate("nonsense", "long-enough-1") is None
    user.active = False
    assert services.authenticate("13800138000", "long-enough-1") is None


def test_codes_are_sent_after_commit_stored_hashed_and_used_once(app, ctx):
    sender = app.extensions["sms"]
    code = services.send_code("13800138000", SmsPurpose.REGISTER)
    assert len(code) == 6 and code.isdigit()
    assert not sender.sent  # nothing leaves before the code is stored for good
    db.session.commit()
    assert sender.sent[-1].phone == "13800138000" and code in sender.sent[-1].text
    assert sender.sent[-1].template == "code" and sender.sent[-1].params["code"] == code
    stored = db.session.scalar(db.select(PhoneVerification))
    assert code not in stored.code_hash
    services.consume_code("13800138000", SmsPurpose.REGISTER, code)
    with pytest.raises(services.InvalidCode):
        services.consume_code("13800138000", SmsPurpose.REGISTER, code)


def test_a_code_whose_transaction_rolls_back_is_never_sent(app, ctx):
    services.send_code("13800138000", SmsPurpose.REGISTER)
    db.session.rollback()
    db.session.commit()
    assert not app.extensions["sms"].sent


def test_a_new_code_replaces_the_old_one(ctx):
    first = services.send_code("13800138000", SmsPurpose.REGISTER)
    second = services.send_code("13800138000", SmsPurpose.REGISTER)
    if first != second:
        with pytest.raises(services.InvalidCode):
            services.consume_code("13800138000", SmsPurpose.REGISTER, first)
    services.consume_code("13800138000", SmsPurpose.REGISTER, second)


def test_codes_expire_and_allow_limited_attempts(ctx):
    past = utcnow() - timedelta(minutes=11)
    code = services.send_code("13800138000", SmsPurpose.REGISTER, now=past)
    with pytest.raises(services.InvalidCode):
        services.consume_code("13800138000", SmsPurpose.REGISTER, code)
    code = services.send_code("13800138000", SmsPurpose.REGISTER)
    for _ in range(3):
        with pytest.raises(services.InvalidCode):
            services.consume_code("13800138000", SmsPurpose.REGISTER, "bad", max_attempts=3)
    with pytest.raises(services.InvalidCode):
        services.consume_code("13800138000", SmsPurpose.REGISTER, code, max_attempts=3)


def test_codes_are_per_purpose(ctx):
    code = services.send_code("13800138000", SmsPurpose.REGISTER)
    with pytest.raises(services.InvalidCode):
        services.consume_code("13800138000", SmsPurpose.RESET_PASSWORD, code)


def test_register_and_reset_password(ctx):
    code = services.send_code("13800138000", SmsPurpose.REGISTER)
    user = services.register("13800138000", code, "long-enough-1", "小王")
    assert user.phone_verified_at is not None and user.display_name == "小王"
    code = services.send_code("13800138000", SmsPurpose.RESET_PASSWORD)
    services.reset_password("13800138000", code, "new-password-2")
    assert user.check_password("new-password-2")


def test_reset_password_for_an_unknown_number_fails_like_a_wrong_code(ctx):
    with pytest.raises(services.InvalidCode):
        services.reset_password("13800138000", "123456", "new-password-2")


def test_change_password_and_profile(ctx):
    user = services.create_user("13800138000", "long-enough-1")
    with pytest.raises(services.WrongPassword):
        services.change_password(user, "wrong", "another-pass-1")
    services.change_password(user, "long-enough-1", "another-pass-1")
    assert user.check_password("another-pass-1")
    services.update_profile(user, display_name="x" * 100, show_name_publicly=True, large_text=True, locale="en")
    assert len(user.display_name) == 40 and user.public_name == user.display_name
    services.set_preference(user, large_text=False)
    assert user.large_text is False and user.locale == "en"


def test_public_name_only_when_chosen(ctx):
    user = services.create_user("13800138000", "long-enough-1", display_name="王阿姨")
    assert user.public_name is None
    user.show_name_publicly = True
    assert user.public_name == "王阿姨"
    assert user.masked_phone == "138****8000"


def test_unknown_sms_backend_is_refused():
    with pytest.raises(ValueError, match="SMS_BACKEND"):
        make_sender("carrier-pigeon")
