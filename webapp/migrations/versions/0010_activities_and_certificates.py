"""Community activities, sign-ups, check-ins, their audit trail, participation certificates; organiser departments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organiser', sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('garbage_sorting', 'legal_awareness', 'volunteer_day', 'traffic_duty', 'launch_ceremony', 'other', name='activitykind', native_enum=False, length=30), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('street_code', sa.String(length=9), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('signup_opens_at', sa.DateTime(), nullable=True),
    sa.Column('signup_closes_at', sa.DateTime(), nullable=True),
    sa.Column('min_stay_minutes', sa.Integer(), nullable=True),
    sa.Column('checkin_radius_m', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_activities_ends_after_start')),
    sa.CheckConstraint('capacity > 0', name=op.f('ck_activities_capacity_positive')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_activities_department_id_departments')),
    sa.ForeignKeyConstraint(['organiser_id'], ['users.id'], name=op.f('fk_activities_organiser_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_starts_at', ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_street_code'), ['street_code'], unique=False)

    op.create_table('activity_signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('confirmed', 'waiting', 'cancelled', name='signupstatus', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_signups_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_activity_signups_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_signups')),
    sa.UniqueConstraint('activity_id', 'user_id', name=op.f('uq_activity_signups_activity_id_user_id'))
    )
    with op.batch_alter_table('activity_signups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_signups_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_signups_user_id'), ['user_id'], unique=False)

    op.create_table('activity_checkins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.Enum('qr', 'offline', 'organiser', name='checkinmethod', native_enum=False, length=20), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_checkins_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_activity_checkins_recorded_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_activity_checkins_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_checkins')),
    sa.UniqueConstraint('activity_id', 'user_id', name=op.f('uq_activity_checkins_activity_id_user_id')),
    sa.UniqueConstraint('client_id', name=op.f('uq_activity_checkins_client_id'))
    )
    with op.batch_alter_table('activity_checkins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_checkins_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_checkins_user_id'), ['user_id'], unique=False)

    op.create_table('activity_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('details_json', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_events_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_activity_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_events'))
    )
    with op.batch_alter_table('activity_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_events_activity_id'), ['activity_id'], unique=False)

    op.create_table('participation_certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('period_start', sa.DateTime(), nullable=False),
    sa.Column('period_end', sa.DateTime(), nullable=False),
    sa.Column('figures_json', sa.Text(), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('verify_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_participation_certificates_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participation_certificates')),
    sa.UniqueConstraint('code', name=op.f('uq_participation_certificates_code'))
    )
    with op.batch_alter_table('participation_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participation_certificates_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('participation_certificates')
    op.drop_table('activity_events')
    op.drop_table('activity_checkins')
    op.drop_table('activity_signups')
    op.drop_table('activities')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('organiser')
