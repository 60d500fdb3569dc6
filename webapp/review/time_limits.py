"""Which handling time limit (处置时限) applies to a case: the category's default, a per-severity override, or the
emergency caps for urgent and critical cases.

Pure Python like calendar.py: `TimeUnit` and `Severity` live with the SQLAlchemy models, so they are imported for type
checking only and compared by their string values at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from webapp.review.calendar import WORK_DAYS, WORK_HOURS

if TYPE_CHECKING:
    from webapp.reports.models import Severity, TimeUnit

# Limits in different units are compared on a standard day, not on a particular city's calendar, so the choice of
# limit never depends on when or where it is asked.
STANDARD_HOURS_PER_DAY = 7.5

# Severity value -> the longest limit, in working hours, that severity may get without an explicit override.
EMERGENCY_CAPS_HOURS: dict[str, int] = {"urgent": 4, "critical": 2}


@dataclass(frozen=True)
class Limit:
    value: int
    unit: TimeUnit

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"a time limit must be positive, got {self.value}")
        if str(self.unit) not in (WORK_HOURS, WORK_DAYS):
            raise ValueError(f"unknown time unit: {self.unit!r}")

    def label_parts(self) -> tuple[int, str]:
        """(value, unit value) so templates can pick the right plural and language, e.g. ngettext on the unit."""
        return self.value, str(self.unit)

    def working_seconds(self, hours_per_day: float = STANDARD_HOURS_PER_DAY) -> float:
        hours = self.value * hours_per_day if str(self.unit) == WORK_DAYS else self.value
        return hours * 3600


def limit_for(
    category_default: Limit,
    severity: Severity | str | None,
    overrides: Mapping[Severity, Limit],
    *,
    hours_per_day: float = STANDARD_HOURS_PER_DAY,
) -> Limit:
    """The limit for a case. An explicit override for its severity wins; otherwise urgent cases get at most 4 and
    critical cases at most 2 working hours, and general and major cases (and None) keep the category default.

    On a tie the default is kept, so the category's own wording (e.g. "1 工作日") is what people see.
    """
    key = str(severity) if severity is not None else "general"
    # Severity is a StrEnum, so a plain-string key finds a Severity key (equal value, equal hash).
    override = overrides.get(key)  # type: ignore[call-overload]
    if override is not None:
        return override
    cap_hours = EMERGENCY_CAPS_HOURS.get(key)
    if cap_hours is None:
        return category_default
    # Build the cap's unit from the default's own class: a TimeUnit in, a TimeUnit out, without importing the models.
    cap = Limit(cap_hours, type(category_default.unit)(WORK_HOURS))
    if cap.working_seconds(hours_per_day) < category_default.working_seconds(hours_per_day):
        return cap
    return category_default
