"""Version counters of the static data each process keeps a copy of (categories, points rules, campaigns)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KINDS = ('taxonomy', 'points_rules', 'campaigns')


def upgrade():
    table = op.create_table('cache_versions',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_versions'))
    )
    op.bulk_insert(table, [{'name': name, 'version': 0} for name in KINDS])


def downgrade():
    op.drop_table('cache_versions')
