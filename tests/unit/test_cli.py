"""flask commands: each succeeds on good input and exits non-zero with a clear message on bad input."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.accounts.models import Role, User
from webapp.db import db
from webapp.demo import DEMO_HISTORY_REPORTS, DEMO_REPORTS, DEMO_USERS
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
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == len(DEMO_USERS)
        reports = db.session.scalar(sa.select(sa.func.count()).select_from(Report))
        assert reports == len(DEMO_REPORTS) + DEMO_HISTORY_REPORTS  # the dashboard's past reports too
        # The demo's service-point account (README) can hand over store orders.
        from webapp.points import store

        assert store.can_hand_over(db.session.scalar(sa.select(User).where(User.phone == "13800000008")))


def test_upgrade_is_repeatable(app):
    result = app.test_cli_runner().invoke(args=["upgrade"])
    assert result.exit_code == 0, result.output
    assert "categories loaded" in result.output


def test_departments_routes_and_staff_from_the_command_line(app):
    from webapp.review.models import RoutingRule

    runner = app.test_cli_runner()
    ok = runner.invoke(args=["create-department", "--code", "HW", "--name", "环卫中心", "--district", "140109"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(args=["create-department", "--code", "HW", "--name", "x"]).exit_code != 0
    assert runner.invoke(args=["create-department", "--code", "CG", "--name", "x", "--fallback"]).exit_code != 0
    counter = runner.invoke(args=["create-department", "--code", "FWZ", "--name", "服务站", "--service-point"])
    assert counter.exit_code == 0 and "service point" in counter.output
    with app.app_context():
        from webapp.accounts.models import Department

        flags = dict(db.session.execute(sa.select(Department.code, Department.service_point)).tuples().all())
        assert flags == {"HW": False, "FWZ": True}
    route = runner.invoke(args=["add-route", "--department", "HW", "--group", "D", "--district", "140109"])
    assert route.exit_code == 0, route.output
    assert runner.invoke(args=["add-route", "--department", "HW", "--group", "D", "--district", "140109"]).exit_code
    assert runner.invoke(args=["add-route", "--department", "NOPE", "--group", "D"]).exit_code != 0
    assert runner.invoke(args=["add-route", "--department", "HW", "--category", "99999"]).exit_code != 0
    assert runner.invoke(args=["add-route", "--department", "HW", "--group", "D", "--category", "06042"]).exit_code
    staff = runner.invoke(
        args=[
            "create-user",
            "--phone",
            "13800009995",
            "--password",
            "long-enough-1",
            "--role",
            "department",
            "--department",
            "HW",
            "--head",
        ]
    )
    assert staff.exit_code == 0, staff.output
    lonely = runner.invoke(
        args=["create-user", "--phone", "13800009994", "--password", "long-enough-1", "--role", "department"]
    )
    assert lonely.exit_code != 0 and "--department" in lonely.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.phone == "13800009995"))
        assert user.department.code == "HW" and user.is_department_head
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoutingRule)) == 1


def test_escalate_overdue_and_calendar_days(app):
    from datetime import date

    from webapp.review.models import CalendarDay

    runner = app.test_cli_runner()
    assert "0 overdue cases escalated" in runner.invoke(args=["escalate-overdue"]).output
    assert runner.invoke(args=["calendar-day", "2026-10-01", "--holiday", "--name", "国庆节"]).exit_code == 0
    assert runner.invoke(args=["calendar-day", "2026-10-10", "--workday"]).exit_code == 0
    assert runner.invoke(args=["calendar-day", "2026-10-11"]).exit_code != 0
    assert runner.invoke(args=["calendar-day", "yesterday", "--holiday"]).exit_code != 0
    with app.app_context():
        assert db.session.get(CalendarDay, date(2026, 10, 1)).is_workday is False
        assert db.session.get(CalendarDay, date(2026, 10, 10)).is_workday is True
    assert runner.invoke(args=["calendar-day", "2026-10-10", "--normal"]).exit_code == 0
    with app.app_context():
        assert db.session.get(CalendarDay, date(2026, 10, 10)) is None
