"""Every model, imported in one place so the metadata is complete for migrations and queries."""

from webapp.accounts.models import PhoneVerification, User
from webapp.reports.models import Category, CategoryGroup, Report, ReportEvent, ReportFollower, ReportPhoto

__all__ = [
    "Category",
    "CategoryGroup",
    "PhoneVerification",
    "Report",
    "ReportEvent",
    "ReportFollower",
    "ReportPhoto",
    "User",
]
