"""``flask send-activity-reminders``: the day-before reminders, for cron or a periodic job."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from webapp.activities import services
from webapp.db import db


@click.command("send-activity-reminders")
@with_appcontext
def send_activity_reminders_command() -> None:
    """Remind residents with a place of tomorrow's activities (notification, and SMS if they opted in).

    Run it daily (e.g. at 18:00 Beijing time); each sign-up is reminded once, so running it more often is safe."""
    sent = services.send_reminders()
    db.session.commit()
    click.echo(f"{sent} reminder(s) sent.")
