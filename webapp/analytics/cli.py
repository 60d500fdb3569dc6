"""``flask analytics-rollup`` and ``flask periodic-report``: commands meant for a scheduler (cron, systemd timers)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import current_app, render_template
from flask.cli import with_appcontext

from webapp.db import db
from webapp.errors import DomainError


@click.command("analytics-rollup")
@with_appcontext
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First local day to rebuild.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last local day to rebuild.")
def analytics_rollup_command(since, until) -> None:  # type: ignore[no-untyped-def]
    """Rebuild the dashboard's daily roll-up (all days, or a range) from reports, events and ratings."""
    from webapp.analytics import rollup

    first: date | None = since.date() if since else None
    last: date | None = until.date() if until else None
    if first and last and last < first:
        raise click.ClickException("--until is before --since")
    rows = rollup.refresh_all(first, last)
    db.session.commit()
    click.echo(f"Analytics roll-up rebuilt: {rows} rows.")


@click.command("periodic-report")
@with_appcontext
@click.option("--weekly", "kind", flag_value="weekly", help="A weekly report (ISO weeks, Monday to Sunday).")
@click.option("--monthly", "kind", flag_value="monthly", help="A monthly report.")
@click.option("--period", default=None, help="2026-W48 or 2026-11; default: the last complete week or month.")
@click.option("--out", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write CSV to this file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a printable page.")
def periodic_report_command(
    kind: str | None, period: str | None, csv_path: Path | None, html_path: Path | None
) -> None:
    """Print (or write as CSV / HTML) the weekly or monthly summary, compared with the period before."""
    from webapp.analytics import periodic

    if kind is None:
        raise click.ClickException("choose --weekly or --monthly")
    try:
        summary = periodic.summary(periodic.parse_period(kind, period))
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    if csv_path is None and html_path is None:
        period = summary.period
        click.echo(f"{period.key} ({period.first_day} – {period.last_day}), vs {summary.previous.key}")
        for label, now, before, change in summary.lines():
            click.echo(f"  {label}: {now}  ({before}; {change})")
        for row in summary.top_categories:
            click.echo(f"  · {row.label}: {row.count}")
    if csv_path is not None or html_path is not None:
        csv_bytes, html_bytes = report_files(summary)
        if csv_path is not None:
            csv_path.write_bytes(csv_bytes)
            click.echo(f"Wrote {csv_path}", err=True)
        if html_path is not None:
            html_path.write_bytes(html_bytes)
            click.echo(f"Wrote {html_path}", err=True)
    sys.stdout.flush()


def report_files(summary: Any) -> tuple[bytes, bytes]:
    """A periodic report as CSV (UTF-8 with BOM) and as a printable HTML page (the command and the scheduled job)."""
    from webapp import csvfile
    from webapp.analytics import periodic

    with current_app.test_request_context("/"):
        header, rows = periodic.csv_rows(summary)
        csv_bytes = csvfile.text(header, rows).encode("utf-8")
        html = render_template("analytics/periodic.html", summary=summary).encode("utf-8")
    return csv_bytes, html
