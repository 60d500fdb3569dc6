"""Every model, imported in one place so the metadata is complete for migrations and queries."""

from webapp.accounts.models import Department, PhoneVerification, User
from webapp.api.models import ApiKey, Open311Request
from webapp.feedback.models import Rating
from webapp.geo.models import Grid
from webapp.notifications.models import Notification
from webapp.points.models import (
    Account,
    BudgetLine,
    Campaign,
    FundAudit,
    FundCharge,
    Household,
    HouseholdMember,
    LedgerEntry,
    LedgerTransaction,
    PointsRules,
    StockMovement,
    StoreItem,
    StoreOrder,
)
from webapp.reports.models import (
    Category,
    CategoryGroup,
    Poster,
    PosterScan,
    Report,
    ReportEvent,
    ReportFollower,
    ReportPhoto,
)
from webapp.review.models import CalendarDay, ExtensionRequest, RoutingRule, TimeLimit

__all__ = [
    "Account",
    "ApiKey",
    "BudgetLine",
    "Campaign",
    "FundAudit",
    "FundCharge",
    "Household",
    "HouseholdMember",
    "LedgerEntry",
    "LedgerTransaction",
    "PointsRules",
    "StockMovement",
    "StoreItem",
    "StoreOrder",
    "CalendarDay",
    "Category",
    "CategoryGroup",
    "Department",
    "ExtensionRequest",
    "Grid",
    "Notification",
    "Open311Request",
    "PhoneVerification",
    "Poster",
    "PosterScan",
    "Rating",
    "Report",
    "ReportEvent",
    "ReportFollower",
    "ReportPhoto",
    "RoutingRule",
    "TimeLimit",
    "User",
]
