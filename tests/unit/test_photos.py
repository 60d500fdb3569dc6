"""The photos package: one table of how a rejected photo answers, one check of whether a stored file is used."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from tests.factories import make_report, make_user
from webapp.accounts.models import Role, User
from webapp.db import db
from webapp.feedback.platform import services as platform
from webapp.photos import references, rejections
from webapp.photos.pipeline import REASONS, PhotoRejected
from webapp.photos.rejections import Upload
from webapp.points import catalogue
from webapp.points.catalogue import ItemData
from webapp.storage import put_in_transaction

# Columns named *_key that hold something other than a stored file.
NOT_FILES = {"business_key", "request_key", "key_hash", "api_key_id", "idempotency_key"}


@pytest.mark.parametrize("upload", list(Upload))
@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_rejection_answers_with_one_status_and_code(ctx, upload, reason):
    rejected = PhotoRejected(reason, format_name="SVG" if reason == "unsupported" else None)
    with force_locale("en"):
        message, status, code = rejections.answer(rejected, upload, max_bytes=12 * 2**20, number=2)
    assert (status, code) == rejections.STATUS[reason]
    assert code == f"photo_{reason}" and status in (413, 415, 422)
    assert message and "%(" not in message
    if upload is Upload.REPORT_PHOTO:
        assert "2" in message  # the photo's number
    with force_locale("zh_Hans_CN"):
        chinese = rejections.answer(rejected, upload, max_bytes=12 * 2**20, number=2).message
    assert chinese != message and "%(" not in chinese


def test_limits_and_formats_are_named(ctx):
    with force_locale("en"):
        _check_limits_and_formats()


def _check_limits_and_formats() -> None:
    too_large = rejections.answer(PhotoRejected("too_large"), Upload.PHOTO, max_bytes=5 * 2**20)
    assert "5 MB" in too_large.message and too_large.status == 413
    unsupported = rejections.answer(
        PhotoRejected("unsupported", format_name="SVG"), Upload.REPORT_PHOTO, max_bytes=2**20, number=3
    )
    assert "SVG" in unsupported.message and "3" in unsupported.message and unsupported.status == 415


def test_the_check_knows_every_column_that_holds_a_file_key(app):
    """A new table with photo keys must be added to references.KEY_COLUMNS, or a rollback could delete its file."""
    known = {(column.class_.__table__.name, column.key) for column in references.KEY_COLUMNS}
    found = {
        (table.name, column.name)
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_key") and column.name not in NOT_FILES and isinstance(column.type, sa.String)
    }
    assert found == known


def _report_row(key: str, column: str) -> None:
    report = make_report()
    setattr(report.photos[0], column, key)


def _store_item_row(key: str, column: str) -> None:
    admin = make_user(Role.ADMIN)
    values = dict(name_zh="扫帚", name_en="Broom", description="", points_price=18, cost_fen=350)
    values |= dict(per_person_limit=2, available_from=date(2026, 6, 1), available_until=None)
    item = catalogue.create_item(admin, ItemData(**values, home_delivery=False, active=True), photo=None, storage=None)
    setattr(item, column, key)


def _feedback_row(key: str, column: str) -> None:
    feedback, _ = platform.submit(
        None,
        platform.NewFeedback(kind="suggestion", text="夜间模式", reply_via="none", client_id=str(uuid.uuid4())),
        storage=None,
    )
    setattr(feedback, column, key)


ROWS = {"report_photos": _report_row, "store_items": _store_item_row, "platform_feedback": _feedback_row}


@pytest.mark.commits  # several connections: needs real commits
@pytest.mark.parametrize("column", references.KEY_COLUMNS, ids=lambda c: f"{c.class_.__tablename__}.{c.key}")
def test_a_rollback_keeps_a_file_that_another_table_committed_meanwhile(app: Flask, ctx, storage, column):
    """Request A writes a new file; meanwhile request B commits a row (of any kind) using the same file; A rolls
    back. The file must stay: B's row needs it."""
    key = f"te/st/{uuid.uuid4().hex}.jpg"
    db.session.execute(sa.select(1))  # request A's transaction
    put_in_transaction(db.session, storage, key, b"shared bytes", references.is_referenced)
    assert storage.exists(key) and not references.is_referenced(key)
    with app.app_context():  # request B: its own session
        ROWS[column.class_.__tablename__](key, column.key)
        db.session.commit()
    assert references.is_referenced(key)
    db.session.rollback()
    assert storage.exists(key)


def test_a_rollback_removes_a_file_nobody_uses(ctx, storage):
    key = f"te/st/{uuid.uuid4().hex}.jpg"
    db.session.execute(sa.select(1))
    put_in_transaction(db.session, storage, key, b"lonely bytes", references.is_referenced)
    db.session.rollback()
    assert not storage.exists(key)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
