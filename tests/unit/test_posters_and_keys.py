"""Poster and API-key services without HTTP: what a scan counts, what the form gets, key listing and revoking."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from webapp.accounts.models import Role
from webapp.api import models as keys
from webapp.db import db
from webapp.reports.models import PosterKind
from webapp.reports.posters import services as posters

PHONE = (
    "Mozilla/5.0 (Linux; Android 13; V2217A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "purpose", "automated"),
    [
        (PHONE, None, False),
        (PHONE + " MicroMessenger/8.0.47 WeChat/arm64", None, False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", None, False),
        (PHONE, "prefetch", True),
        (PHONE, "prefetch;prerender", True),
        ("", None, True),
        (None, None, True),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None, True),
        ("Mozilla/5.0 (compatible; YandexBot/3.0)", None, True),
        ("Sogou web spider/4.0", None, True),
        ("Slackbot-LinkExpanding 1.0", None, True),
        ("WhatsApp/2.23.20.0", None, True),
        ("Wget/1.21", None, True),
        ("TelegramBot (like TwitterBot)", None, True),
        ("Discordbot/2.0; +https://discordapp.com", None, True),
        (PHONE + " Telegram-Android/10.14.5", None, False),  # Telegram's in-app browser is a person
    ],
)
def test_is_automated(agent, purpose, automated):
    assert posters.is_automated(agent, purpose) is automated


def test_report_form_args(ctx):
    placed = posters.create_poster(
        None, posters.NewPoster(PosterKind.STREETLIGHT, "LD-0123", asset_id="LD-0123", lat=37.86, lon=112.518)
    )
    assert posters.report_form_args(placed) == {
        "poster": placed.code,
        "lat": "37.860000",
        "lon": "112.518000",
        "asset": "LD-0123",
        "category": "01037",  # street light
    }
    unplaced = posters.create_poster(None, posters.NewPoster(PosterKind.PLACE, "兴华街菜市场 东口"))
    assert posters.report_form_args(unplaced) == {"poster": unplaced.code, "address": "兴华街菜市场 东口"}


def test_a_second_poster_for_an_asset_needs_a_purpose(ctx):
    posters.create_poster(None, posters.NewPoster(PosterKind.STREETLIGHT, "LD-0200", asset_id="LD-0200"))
    with pytest.raises(posters.PosterInvalid) as refused:
        posters.create_poster(None, posters.NewPoster(PosterKind.STREETLIGHT, "LD-0200 b", asset_id="LD-0200"))
    assert "asset_id" in refused.value.errors
    again = posters.create_poster(
        None, posters.NewPoster(PosterKind.STREETLIGHT, "LD-0200 b", asset_id="LD-0200", again=True)
    )
    assert again.id is not None


def test_record_scan_and_counts(ctx):
    poster = posters.create_poster(None, posters.NewPoster(PosterKind.PLACE, "公交站"))
    posters.record_scan(poster)
    posters.record_scan(poster)
    (row,) = posters.posters_with_counts()
    assert (row.poster.id, row.scans, row.reports) == (poster.id, 2, 0)


def test_keys_are_listed_active_first_and_revoked_once(ctx):
    admin = make_user(Role.ADMIN)
    old, _ = keys.create_api_key("Old", created_by=admin)
    new, _ = keys.create_api_key("New")
    keys.revoke(old)
    rows = keys.keys_with_counts()
    assert [row.api_key.name for row in rows] == ["New", "Old"]
    assert all(row.requests == 0 for row in rows)
    with pytest.raises(keys.ApiKeyError) as refused:
        keys.revoke(old)
    assert refused.value.reason == "revoked"
    assert keys.get_api_key(new.id) is new and keys.get_api_key(10**9) is None
    assert db.session.scalar(sa.select(keys.ApiKey.revoked_at).where(keys.ApiKey.id == new.id)) is None


@pytest.mark.parametrize(
    ("name", "reason"), [("", "empty"), ("x" * 81, "too_long"), ("old", "duplicate"), ("a\x00b", "control")]
)
def test_key_errors_carry_a_reason(ctx, name, reason):
    keys.create_api_key("Old")
    with pytest.raises(keys.ApiKeyError) as refused:
        keys.create_api_key(name)
    assert refused.value.reason == reason and refused.value.status == 400
