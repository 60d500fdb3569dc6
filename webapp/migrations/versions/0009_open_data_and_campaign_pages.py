"""Open data and public campaign pages

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # Whether a campaign (专项整治) has a public page; campaigns without a row stay private.
    op.create_table('campaign_pages',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_pages_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_campaign_pages_updated_by_id_users')),
    sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_campaign_pages'))
    )
    with op.batch_alter_table('campaign_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_pages_published'), ['published'], unique=False)


def downgrade():
    with op.batch_alter_table('campaign_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_pages_published'))

    op.drop_table('campaign_pages')
