"""``flask --app webapp …`` commands. Each exits non-zero with a clear message on bad input."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade as alembic_upgrade

from webapp.accounts import services as accounts
from webapp.accounts.models import Role
from webapp.db import db
from webapp.errors import DomainError


def register_commands(app: Flask) -> None:
    app.cli.add_command(upgrade_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)


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
