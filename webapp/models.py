"""Every model, imported in one place so the metadata is complete for migrations and queries."""

from webapp.accounts.models import Department, PhoneVerification, User
from webapp.activities.models import Activity, ActivityEvent, Certificate, Checkin, Signup
from webapp.analytics.models import analytics_daily
from webapp.api.models import ApiKey, Open311Request
from webapp.cache import CacheVersion
from webapp.campaigns.models import CampaignPage
from webapp.feedback.models import PlatformFeedback, PlatformFeedbackEvent, Rating
from webapp.geo.models import Grid
from webapp.monitoring.models import ErrorEvent
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
    "Activity",
    "ActivityEvent",
    "Certificate",
    "Checkin",
    "Signup",
    "analytics_daily",
    "ApiKey",
    "BudgetLine",
    "Campaign",
    "CampaignPage",
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
    "CacheVersion",
    "CalendarDay",
    "Category",
    "CategoryGroup",
    "Department",
    "ErrorEvent",
    "ExtensionRequest",
    "Grid",
    "Notification",
    "Open311Request",
    "PhoneVerification",
    "PlatformFeedback",
    "PlatformFeedbackEvent",
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
