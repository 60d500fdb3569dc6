"""Analytics: daily roll-ups and indexes for the dashboard

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Written out here (not imported from webapp.analytics.models) so the migration stays fixed when the model grows.
STAGES = ('review', 'dispatch', 'handling', 'verification')
BUCKETS = 9
COUNTERS = (
    'reports', 'accepted', 'rejected', 'closed', 'dispatched', 'closed_due', 'on_time', 'returned', 'rework',
    'self_handled', 'offline', 'rated', 'stars', 'emergency',
)
MEASURES = (
    COUNTERS
    + tuple(f'h{hour:02d}' for hour in range(24))
    + tuple(f'{stage}_b{bucket}' for stage in STAGES for bucket in range(BUCKETS))
)


def upgrade():
    op.create_table('analytics_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('street_code', sa.String(length=9), nullable=False),
    sa.Column('category_code', sa.String(length=5), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('group_code', sa.String(length=2), nullable=False),
    *[sa.Column(name, sa.Integer(), server_default='0', nullable=False) for name in MEASURES],
    sa.PrimaryKeyConstraint('day', 'street_code', 'category_code', 'department_id', name=op.f('pk_analytics_daily'))
    )
    op.create_table('analytics_recurrences',
    sa.Column('report_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('grid_code', sa.String(length=15), nullable=False),
    sa.Column('group_code', sa.String(length=2), nullable=False),
    sa.Column('category_code', sa.String(length=5), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_analytics_recurrences'))
    )
    op.create_index(op.f('ix_analytics_recurrences_day'), 'analytics_recurrences', ['day'], unique=False)
    op.create_index('ix_analytics_recurrences_spot', 'analytics_recurrences',
                    ['grid_code', 'category_code', 'day', 'group_code', 'department_id'], unique=False)
    op.create_index('ix_reports_analytics', 'reports',
                    ['created_at', 'grid_code', 'category_code', 'department_id', 'reporter_id'], unique=False)
    op.create_index('ix_reports_grid_category_created', 'reports',
                    ['grid_code', 'category_code', 'created_at', 'status'], unique=False)
    op.create_index('ix_reports_accepted_at', 'reports', ['accepted_at'], unique=False)
    op.create_index('ix_reports_closed_at', 'reports', ['closed_at'], unique=False)


def downgrade():
    op.drop_index('ix_reports_closed_at', table_name='reports')
    op.drop_index('ix_reports_accepted_at', table_name='reports')
    op.drop_index('ix_reports_grid_category_created', table_name='reports')
    op.drop_index('ix_reports_analytics', table_name='reports')
    op.drop_index('ix_analytics_recurrences_spot', table_name='analytics_recurrences')
    op.drop_index(op.f('ix_analytics_recurrences_day'), table_name='analytics_recurrences')
    op.drop_table('analytics_recurrences')
    op.drop_table('analytics_daily')
