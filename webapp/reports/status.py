"""The states a report can be in, with their names in each language.

Which state may follow which, and who may move it, is decided by the transition table in review/workflow.py.
"""

from __future__ import annotations

import enum

from webapp.extensions import lazy_gettext as _l


class ReportStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"  # 待审核
    ACCEPTED = "accepted"  # 已立案
    REJECTED = "rejected"  # 不予受理
    DISPATCHED = "dispatched"  # 已派遣
    SIGNED = "signed"  # 已签收
    IN_PROGRESS = "in_progress"  # 处置中
    AWAITING_CHECK = "awaiting_check"  # 已反馈/待核查
    CLOSED = "closed"  # 已结案
    REWORK = "rework"  # 返工
    RETURNED = "returned"  # 退回 (a department returned a mis-routed case)
    SUSPENDED = "suspended"  # 挂账 (long-term list)

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])

    @property
    def is_open(self) -> bool:
        return self not in FINAL_STATUSES


STATUS_LABELS = {
    ReportStatus.PENDING_REVIEW: _l("Awaiting review"),
    ReportStatus.ACCEPTED: _l("Case opened"),
    ReportStatus.REJECTED: _l("Not accepted"),
    ReportStatus.DISPATCHED: _l("Dispatched"),
    ReportStatus.SIGNED: _l("Received by department"),
    ReportStatus.IN_PROGRESS: _l("Being handled"),
    ReportStatus.AWAITING_CHECK: _l("Fixed, awaiting check"),
    ReportStatus.CLOSED: _l("Closed"),
    ReportStatus.REWORK: _l("Sent back for rework"),
    ReportStatus.RETURNED: _l("Returned for re-dispatch"),
    ReportStatus.SUSPENDED: _l("On the long-term list"),
}

FINAL_STATUSES = frozenset({ReportStatus.CLOSED, ReportStatus.REJECTED})
OPEN_STATUSES = frozenset(set(ReportStatus) - FINAL_STATUSES)
