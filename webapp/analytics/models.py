"""The daily roll-up (derived data) and the indexes the dashboard's live queries read.

``analytics_daily`` holds, per local day × street × category × department, what became of the reports received
that day: counters, the hour of day they came in (h00–h23) and a histogram of the time each stage took
(review, dispatch, handling, verification; buckets in STAGE_EDGES hours). It is derived from reports, events and
ratings and only ever written by ``webapp.analytics.rollup``; dropping it loses nothing (``flask
analytics-rollup`` rebuilds it). It is a Core table rather than an ORM model because nothing edits its rows one
by one: they are replaced a whole day at a time.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from webapp.db import UTCDateTime, db
from webapp.reports.models import Report

RECUR_WINDOW = timedelta(days=30)  # 复发: the same grid and category reported again within 30 days of closing
STAGES = ("review", "dispatch", "handling", "verification")
# Upper edges (hours) of the stage-duration buckets; the last bucket is open-ended.
STAGE_EDGES = (1, 2, 4, 8, 24, 48, 96, 192)
BUCKETS = len(STAGE_EDGES) + 1
COUNTERS = (
    "reports",
    "accepted",
    "rejected",
    "closed",
    "dispatched",  # cases given a handling deadline
    "closed_due",  # closed cases that had a deadline
    "on_time",  # closed by their deadline
    "returned",  # returned by a department at least once
    "rework",  # sent back for rework at least once
    "self_handled",  # handled by a volunteer (taken, or reported and fixed at once)
    "offline",  # saved on the phone and sent more than OFFLINE_AFTER later
    "rated",
    "stars",
    "emergency",
)
HOURS = tuple(f"h{hour:02d}" for hour in range(24))
STAGE_COLUMNS = tuple(f"{stage}_b{bucket}" for stage in STAGES for bucket in range(BUCKETS))
MEASURES = COUNTERS + HOURS + STAGE_COLUMNS
KEYS = ("day", "street_code", "group_code", "category_code", "department_id")

analytics_daily = sa.Table(
    "analytics_daily",
    db.metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("street_code", sa.String(9), primary_key=True),  # "" for reports outside every grid
    sa.Column("category_code", sa.String(5), primary_key=True),
    sa.Column("department_id", sa.Integer, primary_key=True),  # 0 for none yet
    sa.Column("group_code", sa.String(2), nullable=False),
    *[sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in MEASURES],
)

# 复发: the closed reports (received that day) after which the same category was reported again in the same grid
# within RECUR_WINDOW of closing. Derived like analytics_daily, refreshed with it, day by day.
analytics_recurrences = sa.Table(
    "analytics_recurrences",
    db.metadata,
    sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("grid_code", sa.String(15), nullable=False),
    sa.Column("group_code", sa.String(2), nullable=False),
    sa.Column("category_code", sa.String(5), nullable=False),
    sa.Column("department_id", sa.Integer, nullable=False),
    # Covers the recurring-spots queries in spot order (grid, category): no table rows read, nothing to sort.
    sa.Index("ix_analytics_recurrences_spot", "grid_code", "category_code", "day", "group_code", "department_id"),
)

# Live queries (places, recurring spots, active residents) read these instead of the wide reports rows.
sa.Index(
    "ix_reports_analytics",
    Report.created_at,
    Report.grid_code,
    Report.category_code,
    Report.department_id,
    Report.reporter_id,
)
# (status last: counting the closed reports of a place reads the index alone)
sa.Index("ix_reports_grid_category_created", Report.grid_code, Report.category_code, Report.created_at, Report.status)
# Periodic reports count what was opened and closed in a week or a month.
sa.Index("ix_reports_accepted_at", Report.accepted_at)
sa.Index("ix_reports_closed_at", Report.closed_at)

# Reports changed since the roll-up last counted them: one row per report per commit that touched it, written in
# the writer's transaction (an insert: concurrent writers never wait for each other here) and removed by the job
# that refreshes their days (``rollup.refresh_pending``). Its size is how far behind the dashboard is.
analytics_pending = sa.Table(
    "analytics_pending",
    db.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, nullable=False),
    sa.Column("marked_at", UTCDateTime(), nullable=False),
)
