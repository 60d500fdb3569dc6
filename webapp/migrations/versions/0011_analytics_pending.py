"""Analytics: reports waiting to be counted by the roll-up job

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:30:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # One row per report per commit that touched it; the roll-up job counts and removes them.
    op.create_table('analytics_pending',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('marked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_pending'))
    )


def downgrade():
    op.drop_table('analytics_pending')
