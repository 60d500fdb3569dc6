"""Points admin: publishing a new version of the points rules."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from webapp import localtime
from webapp.db import utcnow
from webapp.errors import DomainError
from webapp.points import rules
from webapp.points.admin.common import admins_only, bp, category_name, finish, refuse, render
from webapp.points.admin.forms import SETTING_LABELS, RulesForm
from webapp.reports import taxonomy


def parse_category_points(text: str | None) -> dict[str, int]:
    """Lines like "01002 15": a 5-digit category code and the points its valid reports earn."""
    overrides: dict[str, int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.replace("=", " ").replace(":", " ").replace("：", " ").split()
        if not parts:
            continue
        if (
            len(parts) != 2
            or not (len(parts[0]) == 5 and parts[0].isascii() and parts[0].isdigit())
            or not (parts[1].isascii() and parts[1].isdigit())
        ):
            raise rules.RulesError(
                _("Line %(n)d: write a 5-digit category code and the points, like “01002 15”.", n=number),
                field="category_points",
            )
        code, digits = parts
        if taxonomy.active_category(code) is None:
            raise rules.RulesError(
                _("Line %(n)d: there is no category %(code)s.", n=number, code=code), field="category_points"
            )
        if code in overrides:
            raise rules.RulesError(
                _("Line %(n)d: category %(code)s is listed twice.", n=number, code=code), field="category_points"
            )
        if len(digits) > 3 or int(digits) > 200:
            raise rules.RulesError(
                _("Line %(n)d: at most 200 points for a category.", n=number), field="category_points"
            )
        overrides[code] = int(digits)
    return overrides


def _rules_page(form: RulesForm, status: int = 200) -> Response:
    current = rules.effective()
    history = rules.versions()
    now = utcnow()
    in_force = next((row for row in history if row.version == current.version), None)
    return render(
        "points/admin/rules.html",
        status,
        section="rules",
        form=form,
        current=current,
        in_force=in_force,
        history=history,
        now=now,
        labels=SETTING_LABELS,
        limits=rules.LIMITS,
        category_name=category_name,
    )


@bp.get("/rules")
@admins_only
def rules_page() -> Response:
    form = RulesForm()
    current = rules.effective()
    for key in rules.LIMITS:
        form[key].data = current[key]
    form.expiry_enabled.data = bool(current["expiry_enabled"])
    overrides = current["category_points"] or {}
    form.category_points.data = "\n".join(f"{code} {points}" for code, points in sorted(overrides.items()))
    form.effective_from.data = utcnow().astimezone(localtime.zone()).replace(second=0, microsecond=0)
    return _rules_page(form)


@bp.post("/rules")
@admins_only
def publish_rules() -> Response:
    form = RulesForm()
    if not form.validate():
        return _rules_page(form, 422)
    try:
        settings: dict[str, Any] = {key: form[key].data for key in rules.LIMITS}
        settings["category_points"] = parse_category_points(form.category_points.data)
        settings["expiry_enabled"] = bool(form.expiry_enabled.data)
        row = rules.publish(
            settings,
            effective_from=form.effective_from.data or utcnow(),
            admin=current_user,
            note=form.note.data or "",
        )
    except DomainError as error:
        return _rules_page(form, refuse(form, error))
    message = _(
        "Version %(version)d of the rules is published. It applies from %(when)s; points already given keep "
        "the rules they were given under.",
        version=row.version,
        when=row.effective_from.astimezone(localtime.zone()).strftime("%Y-%m-%d %H:%M"),
    )
    if rules.starts_mid_month(row.effective_from):
        message += " " + _(
            "It starts in the middle of a month: that month's cap of %(cap)d points counts what was earned before "
            "the change too.",
            cap=row.settings["monthly_points_cap"],
        )
    return finish(message, url_for("points_admin.rules_page"))
