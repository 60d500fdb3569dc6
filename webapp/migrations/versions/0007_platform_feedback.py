"""Platform feedback (意见反馈) with triage and replies; error events for monitoring

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('platform_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('suggestion', 'app_problem', 'rules', 'other', name='feedbackkind', native_enum=False, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('screenshot_key', sa.String(length=100), nullable=True),
    sa.Column('screenshot_thumb_key', sa.String(length=100), nullable=True),
    sa.Column('reply_via', sa.Enum('app', 'sms', 'none', name='replychannel', native_enum=False, length=20), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('new', 'in_progress', 'adopted', 'declined', 'replied', name='feedbackstatus', native_enum=False, length=20), nullable=False),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('replied_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_platform_feedback_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_feedback')),
    sa.UniqueConstraint('client_id', name=op.f('uq_platform_feedback_client_id')),
    sa.UniqueConstraint('token', name=op.f('uq_platform_feedback_token'))
    )
    with op.batch_alter_table('platform_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_platform_feedback_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_platform_feedback_user_id'), ['user_id'], unique=False)

    op.create_table('platform_feedback_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_platform_feedback_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['feedback_id'], ['platform_feedback.id'], name=op.f('fk_platform_feedback_events_feedback_id_platform_feedback'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_feedback_events'))
    )
    with op.batch_alter_table('platform_feedback_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_feedback_events_feedback_id'), ['feedback_id'], unique=False)

    # Server errors and failed SMS sends, counted by every worker process (webapp.monitoring.recorder).
    op.create_table('error_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_error_events'))
    )
    with op.batch_alter_table('error_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_error_events_at'), ['at'], unique=False)


def downgrade():
    with op.batch_alter_table('error_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_error_events_at'))

    op.drop_table('error_events')
    with op.batch_alter_table('platform_feedback_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_feedback_events_feedback_id'))

    op.drop_table('platform_feedback_events')
    with op.batch_alter_table('platform_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_feedback_user_id'))
        batch_op.drop_index('ix_platform_feedback_status_created_at')

    op.drop_table('platform_feedback')
