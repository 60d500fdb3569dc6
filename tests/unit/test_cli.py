"""flask commands: each succeeds on good input and exits non-zero with a clear message on bad input."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.accounts.models import Role, User
from webapp.db import db
from webapp.reports.models import Report


def test_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-user",
            "--phone",
            "13800009999",
            "--password",
            "long-enough-1",
            "--role",
            "reviewer",
            "--name",
            "审核员 王",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created reviewer 13800009999" in result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.phone == "13800009999"))
        assert user.role is Role.REVIEWER and user.display_name == "审核员 王" and user.phone_verified_at


def test_create_user_refuses_bad_input(app):
    runner = app.test_cli_runner()
    bad_phone = runner.invoke(
        args=["create-user", "--phone", "123", "--password", "long-enough-1", "--role", "citizen"]
    )
    assert bad_phone.exit_code != 0 and "11" in bad_phone.output
    weak = runner.invoke(args=["create-user", "--phone", "13800009998", "--password", "short", "--role", "citizen"])
    assert weak.exit_code != 0 and "8" in weak.output
    bad_role = runner.invoke(
        args=["create-user", "--phone", "13800009997", "--password", "long-enough-1", "--role", "mayor"]
    )
    assert bad_role.exit_code != 0 and "mayor" in bad_role.output
    runner.invoke(args=["create-user", "--phone", "13800009996", "--password", "long-enough-1", "--role", "citizen"])
    taken = runner.invoke(
        args=["create-user", "--phone", "13800009996", "--password", "long-enough-1", "--role", "citizen"]
    )
    assert taken.exit_code != 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_seed_demo_is_repeatable(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    for role in ("citizen", "volunteer", "reviewer", "department", "admin"):
        assert role in first.output
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 6


def test_upgrade_is_repeatable(app):
    result = app.test_cli_runner().invoke(args=["upgrade"])
    assert result.exit_code == 0, result.output
    assert "categories loaded" in result.output
