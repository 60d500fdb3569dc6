"""``flask --app webapp …`` commands. Each exits non-zero with a clear message on bad input."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade as alembic_upgrade

from webapp.accounts import services as accounts
from webapp.accounts.models import Department, Role
from webapp.db import db
from webapp.errors import DomainError


def _department(code: str) -> Department:
    department = db.session.scalar(sa.select(Department).where(Department.code == code))
    if department is None:
        raise click.ClickException(f"no department with code {code!r}; create it with create-department")
    return department


def register_commands(app: Flask) -> None:
    from webapp.activities.cli import send_activity_reminders_command
    from webapp.analytics.cli import analytics_rollup_command, periodic_report_command

    app.cli.add_command(analytics_rollup_command)
    app.cli.add_command(periodic_report_command)
    app.cli.add_command(send_activity_reminders_command)
    app.cli.add_command(expire_points_command)
    app.cli.add_command(create_department_command)
    app.cli.add_command(add_route_command)
    app.cli.add_command(escalate_overdue_command)
    app.cli.add_command(calendar_day_command)
    app.cli.add_command(upgrade_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_grids_command)
    app.cli.add_command(create_api_key_command)
    app.cli.add_command(revoke_api_key_command)
    app.cli.add_command(storage_migrate_command)
    app.cli.add_command(worker_command)


@click.command("upgrade")
@with_appcontext
def upgrade_command() -> None:
    """Migrate the database to the newest schema and load the reference data (categories)."""
    from webapp.points.ledger import ensure_system_accounts
    from webapp.reports.taxonomy import sync_categories

    alembic_upgrade(directory=current_app.extensions["migrate"].directory)
    count = sync_categories()
    ensure_system_accounts()
    db.session.commit()
    click.echo(f"Database is up to date; {count} categories loaded.")


@click.command("create-user")
@with_appcontext
@click.option("--phone", required=True, help="Mainland mobile number, 11 digits.")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", default="", help="Display name.")
@click.option("--department", default=None, help="Code of the department a department user works for.")
@click.option("--head", is_flag=True, help="The user heads the department (gets escalations).")
@click.option("--on-duty", is_flag=True, help="A reviewer on duty (值班) gets emergencies first.")
def create_user_command(
    phone: str, password: str, role: str, name: str, department: str | None, head: bool, on_duty: bool
) -> None:
    """Create an account of any role (staff accounts are made this way)."""
    from webapp.db import utcnow

    unit = _department(department) if department else None
    if Role(role) is Role.DEPARTMENT and unit is None:
        raise click.ClickException("a department user needs --department CODE")
    try:
        user = accounts.create_user(phone, password, role=Role(role), display_name=name, verified_at=utcnow())
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from None
    user.department = unit
    user.is_department_head = head
    user.on_duty = on_duty
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


@click.command("create-department")
@click.option("--code", required=True, help="Short unique code, e.g. HW.")
@click.option("--name", required=True, help="Chinese name, e.g. 万柏林区环卫中心.")
@click.option("--name-en", default="", help="English name.")
@click.option("--district", default="", help="6-digit district code (GB/T 2260).")
@click.option("--fallback", is_flag=True, help="The district's fallback owner (兜底) for unrouted cases.")
@click.option("--service-point", is_flag=True, help="Its staff hand over store orders (服务站, /handover/).")
@with_appcontext
def create_department_command(
    code: str, name: str, name_en: str, district: str, fallback: bool, service_point: bool
) -> None:
    """Create a department that handles cases."""
    if db.session.scalar(sa.select(Department).where(Department.code == code)) is not None:
        raise click.ClickException(f"a department with code {code!r} exists already")
    if district and not (len(district) == 6 and district.isdigit()):
        raise click.ClickException("--district must be 6 digits")
    if fallback and not district:
        raise click.ClickException("a fallback department needs --district")
    db.session.add(
        Department(
            code=code,
            name_zh=name,
            name_en=name_en,
            district_code=district,
            fallback_for_district=fallback,
            service_point=service_point,
        )
    )
    db.session.commit()
    click.echo(f"Created department {code}{' (a service point)' if service_point else ''}.")


@click.command("add-route")
@click.option("--department", "department_code", required=True, help="Code of the department that handles it.")
@click.option("--category", default=None, help="A 5-digit category code…")
@click.option("--group", default=None, help="…or a category group letter (A–L); neither: every category.")
@click.option("--grid", default=None, help="A 15-digit grid code…")
@click.option("--street", default=None, help="…or a 9-digit street code…")
@click.option("--district", default=None, help="…or a 6-digit district code; none: everywhere.")
@with_appcontext
def add_route_command(
    department_code: str,
    category: str | None,
    group: str | None,
    grid: str | None,
    street: str | None,
    district: str | None,
) -> None:
    """Add a routing rule: who handles a category (or group) in a place. The most specific rule wins."""
    from webapp.geo.models import Grid
    from webapp.reports.models import Category, CategoryGroup
    from webapp.review.models import RoutingRule

    department = _department(department_code)
    if category and group:
        raise click.ClickException("give --category or --group, not both")
    if sum(bool(x) for x in (grid, street, district)) > 1:
        raise click.ClickException("give at most one of --grid, --street, --district")
    if category and db.session.get(Category, category) is None:
        raise click.ClickException(f"unknown category {category!r}")
    if group and db.session.get(CategoryGroup, group) is None:
        raise click.ClickException(f"unknown category group {group!r}")
    if grid and db.session.get(Grid, grid) is None:
        raise click.ClickException(f"unknown grid {grid!r}")
    if street and not (len(street) == 9 and street.isdigit()):
        raise click.ClickException("--street must be 9 digits (district + street)")
    if district and not (len(district) == 6 and district.isdigit()):
        raise click.ClickException("--district must be 6 digits")
    values = {
        "category_code": category,
        "group_code": group,
        "grid_code": grid,
        "street_code": street,
        "district_code": district,
    }
    # NULLs never collide in a unique constraint, so look for the same rule explicitly.
    same = [
        getattr(RoutingRule, name).is_(None) if value is None else getattr(RoutingRule, name) == value
        for name, value in values.items()
    ]
    if db.session.scalar(sa.select(RoutingRule.id).where(*same)) is not None:
        raise click.ClickException("this rule exists already")
    db.session.add(RoutingRule(**values, department_id=department.id))
    db.session.commit()
    click.echo(
        f"Route added: {category or group or 'any category'} in {grid or street or district or 'any place'}"
        f" -> {department.code}"
    )


@click.command("expire-points")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Pretend it is this day.")
@with_appcontext
def expire_points_command(today) -> None:  # type: ignore[no-untyped-def]
    """Expire points past their date and warn residents 30 days before theirs. Run daily from a scheduler."""
    from webapp.points.awards import expire, warn_expiring

    day = today.date() if today else None
    expired = expire(day)
    warned = warn_expiring(day)
    db.session.commit()
    click.echo(f"{expired} points expired; {warned} residents warned.")


@click.command("create-api-key")
@click.option("--name", required=True, help="The client (app or partner system) the Open311 key is for.")
@click.option("--created-by", "created_by", default=None, help="Phone number of the staff member issuing it.")
@with_appcontext
def create_api_key_command(name: str, created_by: str | None) -> None:
    """Create an Open311 API key and its service user. The key is printed once and never stored."""
    from webapp.accounts.models import User
    from webapp.api.models import create_api_key

    issuer = None
    if created_by:
        issuer = db.session.scalar(sa.select(User).where(User.phone == created_by.strip()))
        if issuer is None or not issuer.role.is_staff:
            raise click.ClickException(f"no staff account with phone {created_by!r}")
    try:
        api_key, key = create_api_key(name, created_by=issuer)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from None
    db.session.commit()
    click.echo(f"Created the Open311 API key for {api_key.name!r} (service user id {api_key.service_user_id}).")
    click.echo("Give it to the client now: it is not stored and cannot be shown again.")
    click.echo(key)


@click.command("revoke-api-key")
@click.option("--name", required=True, help="The client whose Open311 key to revoke.")
@with_appcontext
def revoke_api_key_command(name: str) -> None:
    """Revoke a client's Open311 API key at once; its reports stay."""
    from webapp.api.models import revoke_api_key

    try:
        api_key = revoke_api_key(name)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error.message)) from None
    db.session.commit()
    click.echo(f"Revoked the Open311 API key of {api_key.name!r}.")


@click.command("storage-migrate")
@with_appcontext
@click.option("--to", "to", required=True, type=click.Choice(["s3", "local"]), help="The backend to copy into.")
def storage_migrate_command(to: str) -> None:
    """Copy every stored file from the local store (UPLOAD_DIR) to the S3 bucket (S3_* settings), or back with
    --to local. Each copy is verified by its SHA-256; running it again skips what is already copied, so an
    interrupted run resumes. Switch STORAGE_BACKEND afterwards."""
    from webapp.storage import copy_objects, make_storage

    config = current_app.config
    try:
        local = make_storage("local", config["UPLOAD_DIR"])
        s3 = make_storage("s3", config["UPLOAD_DIR"], config)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    source, target = (local, s3) if to == "s3" else (s3, local)
    click.echo(f"Copying {source!r} to {target!r}")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        counts = copy_objects(source, target, progress=click.echo)
    except (BotoCoreError, ClientError) as error:
        raise click.ClickException(f"the object store answered: {error}") from None
    click.echo(f"Done: {counts['copied']} copied, {counts['skipped']} already there, {counts['failed']} failed.")
    if counts["failed"]:
        raise click.ClickException(f"{counts['failed']} files could not be copied and verified; see above")


@click.command("worker")
@click.option("--threads", default=4, show_default=True, help="Jobs run at once.")
@click.option(
    "--periodic/--no-periodic",
    default=True,
    help="Also run the schedule (escalations, expiry, roll-ups, reports). One worker per deployment should.",
)
@with_appcontext
def worker_command(threads: int, periodic: bool) -> None:
    """Run the background jobs (SMS and their retries, roll-up refreshes) and the scheduled ones: `make worker`.
    Stops cleanly on SIGTERM / Ctrl-C (the job being run finishes)."""
    import logging

    from webapp.jobs import huey

    if str(current_app.config["HUEY_URL"]).startswith("memory:"):
        raise click.ClickException("HUEY_URL=memory:// is private to one process: set redis://… or sqlite:///…")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    huey.immediate = False  # the worker takes jobs from the queue, whatever the web processes do
    click.echo(f"Worker on {type(huey.storage).__name__} ({threads} threads, schedule {'on' if periodic else 'off'})")
    huey.create_consumer(workers=threads, worker_type="thread", periodic=periodic).run()
