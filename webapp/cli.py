"""``flask --app webapp …`` commands. Each exits non-zero with a clear message on bad input."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade as alembic_upgrade

from webapp.accounts import services as accounts
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError


def register_commands(app: Flask) -> None:
    app.cli.add_command(escalate_overdue_command)
    app.cli.add_command(calendar_day_command)
    app.cli.add_command(upgrade_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_grids_command)


@click.command("upgrade")
@with_appcontext
def upgrade_command() -> None:
    """Migrate the database to the newest schema and load the reference data (categories)."""
    from webapp.reports.taxonomy import sync_categories

    alembic_upgrade(directory=current_app.extensions["migrate"].directory)
    count = sync_categories()
    db.session.commit()
    click.echo(f"Database is up to date; {count} categories loaded.")


@click.command("create-user")
@with_appcontext
@click.option("--phone", required=True, help="Mainland mobile number, 11 digits.")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default="", help="Display name.")
def create_user_command(phone: str, password: str, role: str, name: str) -> None:
    """Create an account of any role (staff accounts are made this way)."""
    from webapp.db import utcnow

    try:
        user = accounts.create_user(phone, password, role=Role(role), display_name=name, verified_at=utcnow())
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.phone} (id {user.id}).")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Demo accounts for every role and a few reports. Safe to run again."""
    from webapp.demo import DEMO_PASSWORD, seed_demo

    users = seed_demo(current_app.extensions["storage"])
    db.session.commit()
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for user in users:
        click.echo(f"  {user.role.value:<10} {user.phone}  {user.display_name}")


@click.command("import-grids")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--deactivate-missing", is_flag=True, help="Mark active grids that are not in the file inactive.")
def import_grids_command(path: Path, deactivate_missing: bool) -> None:
    """Create or update unit grids (单元网格) from a GeoJSON FeatureCollection; all or nothing."""
    from webapp.geo.services import InvalidGeoJSON, import_grids

    try:
        data = path.read_bytes()
    except OSError as error:
        raise click.ClickException(f"Cannot read {path}: {error.strerror or error}") from None
    try:
        result = import_grids(data, deactivate_missing=deactivate_missing)
    except InvalidGeoJSON as error:
        db.session.rollback()
        raise click.ClickException(f"{path}: {error.message}\nNothing was imported.") from None
    db.session.commit()
    click.echo(
        f"Imported {path}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.deactivated} deactivated."
    )


@click.command("escalate-overdue")
@with_appcontext
def escalate_overdue_command() -> None:
    """Escalate (督办) every case past its deadline. Meant for a scheduler, e.g. every 5 minutes."""
    from webapp.review.services import escalate_overdue

    escalated = escalate_overdue()
    db.session.commit()
    click.echo(f"{len(escalated)} overdue cases escalated.")


@click.command("calendar-day")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--holiday", "kind", flag_value="holiday", help="A day off (public holiday).")
@click.option("--workday", "kind", flag_value="workday", help="A weekend day that is worked (调休).")
@click.option("--normal", "kind", flag_value="normal", help="Remove the exception again.")
@click.option("--name", default="", help="e.g. 国庆节")
@with_appcontext
def calendar_day_command(day, kind: str | None, name: str) -> None:  # type: ignore[no-untyped-def]
    """Set a public holiday or a make-up working day in the working calendar used for deadlines."""
    from webapp.review.models import CalendarDay

    if kind is None:
        raise click.ClickException("say --holiday, --workday or --normal")
    row = db.session.get(CalendarDay, day.date())
    if kind == "normal":
        if row is not None:
            db.session.delete(row)
    else:
        row = row or CalendarDay(day=day.date())
        row.is_workday = kind == "workday"
        row.name = name
        db.session.add(row)
    db.session.commit()
    click.echo(f"{day.date()}: {kind}")
