"""The points rules in one place: the settings of each version, and what an event is worth under them.

Defaults follow the practice of cities that pay residents per valid report (reference: city-governance.md §6):
1 point is worth ¥0.10 in the store; a valid report earns 5 points (10 for safety-critical problems), an
emergency five times the base, a campaign its multiplier within its own budget; only the first reporter of a case
earns the full amount; at most 10 valid reports a day and 300 points a month count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from webapp import cache as static_cache
from webapp import localtime
from webapp.accounts.models import User
from webapp.db import db, utcnow
from webapp.errors import DomainError
from webapp.points.models import FundAudit, PointsRules

DEFAULT_SETTINGS: dict[str, Any] = {
    "report_points": 5,  # a valid report (立案)
    "safety_report_points": 10,  # a valid report of a safety-critical problem (井盖, 燃气, 消防通道 …)
    "category_points": {},  # per-category overrides of the two above, e.g. {"01002": 15}
    "emergency_multiplier": 5,  # 紧急/重大
    "later_reporter_points": 1,  # reporting a problem someone else reported first (once per person and case)
    "volunteer_result_points": 8,  # a volunteer's fix accepted at 核查
    "rating_points": 1,  # rating the result of a closed report
    "feedback_adopted_points": 5,  # feedback on the platform that was adopted
    "daily_report_cap": 10,  # valid reports a day that earn points
    "monthly_points_cap": 300,  # points a month from all sources
    "expiry_enabled": True,  # points expire at the end of the year after they were earned
    "fen_per_point": 10,  # what one point is worth to the fund, in fen
    # Attending a community activity (关联活动), by its kind (webapp/activities/models.py ActivityKind).
    "activity_garbage_sorting_points": 5,
    "activity_legal_awareness_points": 3,
    "activity_volunteer_day_points": 10,
    "activity_traffic_duty_points": 8,
    "activity_launch_ceremony_points": 2,
    "activity_other_points": 3,
}

# Bounds for what an admin may set (whole numbers only).
LIMITS: dict[str, tuple[int, int]] = {
    "report_points": (0, 100),
    "safety_report_points": (0, 200),
    "emergency_multiplier": (1, 10),
    "later_reporter_points": (0, 20),
    "volunteer_result_points": (0, 100),
    "rating_points": (0, 10),
    "feedback_adopted_points": (0, 100),
    "daily_report_cap": (0, 100),
    "monthly_points_cap": (0, 10_000),
    "fen_per_point": (1, 1000),
    "activity_garbage_sorting_points": (0, 100),
    "activity_legal_awareness_points": (0, 100),
    "activity_volunteer_day_points": (0, 100),
    "activity_traffic_duty_points": (0, 100),
    "activity_launch_ceremony_points": (0, 100),
    "activity_other_points": (0, 100),
}


class RulesError(DomainError):
    code = "invalid_rules"


@dataclass(frozen=True)
class Rules:
    version: int
    settings: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.settings.get(key, DEFAULT_SETTINGS[key])

    def report_base(self, category_code: str, safety_critical: bool) -> int:
        overrides = self["category_points"] or {}
        if category_code in overrides:
            return int(overrides[category_code])
        return int(self["safety_report_points"] if safety_critical else self["report_points"])

    def activity_points(self, kind: str) -> int:
        """Points for attending an activity of this kind (an unknown kind counts as "other")."""
        key = f"activity_{kind}_points"
        return int(self[key] if key in DEFAULT_SETTINGS else self["activity_other_points"])


@static_cache.cached("points_rules")
def _published_versions() -> tuple[tuple[datetime, int, str], ...]:
    """(effective_from, version, settings JSON) of every version, latest first; kept per process until the next
    ``publish``."""
    rows = db.session.execute(
        sa.select(PointsRules.effective_from, PointsRules.version, PointsRules.settings_json).order_by(
            PointsRules.effective_from.desc(), PointsRules.version.desc()
        )
    )
    return tuple((effective_from, version, settings) for effective_from, version, settings in rows)


def effective(at: datetime | None = None) -> Rules:
    """The rules in force at ``at`` (now by default). Version 1 holds the defaults until an admin changes them."""
    at = at or utcnow()
    for effective_from, version, settings_json in _published_versions():
        if effective_from <= at:
            return Rules(version, {**DEFAULT_SETTINGS, **json.loads(settings_json)})
    return Rules(0, dict(DEFAULT_SETTINGS))


def starts_mid_month(moment: datetime) -> bool:
    """Whether rules starting at ``moment`` split a local month between two versions."""
    local = moment.astimezone(localtime.zone())
    return not (local.day == 1 and local.time() == time())


def versions() -> list[PointsRules]:
    return list(db.session.scalars(sa.select(PointsRules).order_by(PointsRules.version.desc())))


def validate(settings: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, (low, high) in LIMITS.items():
        value = settings.get(key, DEFAULT_SETTINGS[key])
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RulesError(
                _("“%(key)s” must be a whole number from %(low)d to %(high)d.", key=key, low=low, high=high), field=key
            )
        clean[key] = value
    overrides = settings.get("category_points") or {}
    if not isinstance(overrides, dict) or any(
        not (isinstance(k, str) and len(k) == 5 and k.isdigit())
        or isinstance(v, bool)
        or not isinstance(v, int)
        or not 0 <= v <= 200
        for k, v in overrides.items()
    ):
        raise RulesError(_("Category points must map 5-digit category codes to 0–200 points."), field="category_points")
    clean["category_points"] = overrides
    clean["expiry_enabled"] = bool(settings.get("expiry_enabled", DEFAULT_SETTINGS["expiry_enabled"]))
    return clean


def publish(settings: dict[str, Any], *, effective_from: datetime, admin: User, note: str = "") -> PointsRules:
    """A new version of the rules from ``effective_from`` on. The past is never rewritten: points already given
    keep the version they were given under, and a change cannot start before now."""
    now = utcnow()
    if effective_from < now - timedelta(minutes=5):  # a little slack for a form filled in just now
        raise RulesError(
            _("New rules cannot start in the past: points already given keep the rules they were given under."),
            field="effective_from",
        )
    clean = validate(settings)
    latest = db.session.scalar(sa.select(sa.func.max(PointsRules.version))) or 0
    row = PointsRules(
        version=latest + 1,
        effective_from=effective_from,
        settings_json=json.dumps(clean, sort_keys=True),
        note=note.strip()[:300],
        created_by_id=admin.id,
        created_at=now,
    )
    db.session.add(row)
    static_cache.bump("points_rules")
    db.session.add(
        FundAudit(
            actor_id=admin.id,
            action="rules_published",
            details_json=json.dumps(
                {"version": row.version, "settings": clean, "effective_from": effective_from.isoformat()}
            ),
        )
    )
    db.session.flush()
    return row
