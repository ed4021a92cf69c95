"""reflection meetings and sheets

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 19:37:06.332117

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('reflection_meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=120), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('proposed', 'booked', 'held', 'cancelled', name='meeting_state', native_enum=False, length=32),
              nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=300), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('round_sent_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('starts_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('booked_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('booked_by_id', sa.Integer(), nullable=True),
    sa.Column('held_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_reflection_meetings_allocation_id_allocations')),
    sa.ForeignKeyConstraint(['booked_by_id'], ['people.id'], name=op.f('fk_reflection_meetings_booked_by_id_people')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['people.id'], name=op.f('fk_reflection_meetings_cancelled_by_id_people')),
    sa.ForeignKeyConstraint(['organiser_id'], ['people.id'], name=op.f('fk_reflection_meetings_organiser_id_people')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['people.id'], name=op.f('fk_reflection_meetings_proposed_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reflection_meetings')),
    sa.UniqueConstraint('uid', name=op.f('uq_reflection_meetings_uid'))
    )
    with op.batch_alter_table('reflection_meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reflection_meetings_allocation_id'), ['allocation_id'], unique=False)
        batch_op.create_index('ix_reflection_meetings_state_starts', ['state', 'starts_at'], unique=False)

    op.create_table('reflection_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('answered_by_id', sa.Integer(), nullable=False),
    sa.Column('answered_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_reflection_sheets_allocation_id_allocations')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['people.id'], name=op.f('fk_reflection_sheets_answered_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reflection_sheets')),
    sa.UniqueConstraint('allocation_id', name=op.f('uq_reflection_sheets_allocation_id'))
    )
    op.create_table('meeting_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('accepted', 'none_work', 'no_answer', name='meeting_answer_kind', native_enum=False, length=32),
              nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('suggested_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['reflection_meetings.id'],
                            name=op.f('fk_meeting_answers_meeting_id_reflection_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_meeting_answers_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_answers')),
    sa.UniqueConstraint('meeting_id', 'round', 'person_id', name='uq_meeting_answers_meeting_round')
    )
    with op.batch_alter_table('meeting_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_answers_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_answers_person_id'), ['person_id'], unique=False)

    op.create_table('meeting_invitees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('auditor', 'worker', 'previous_worker', 'team_manager', 'iro',
                              name='invitee_role', native_enum=False, length=32), nullable=False),
    sa.Column('left_out_reason', sa.Text(), nullable=True),
    sa.Column('escalated_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_to_id', sa.Integer(), nullable=True),
    sa.Column('resolving_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['escalated_to_id'], ['people.id'], name=op.f('fk_meeting_invitees_escalated_to_id_people')),
    sa.ForeignKeyConstraint(['meeting_id'], ['reflection_meetings.id'],
                            name=op.f('fk_meeting_invitees_meeting_id_reflection_meetings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_meeting_invitees_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_invitees')),
    sa.UniqueConstraint('meeting_id', 'person_id', name='uq_meeting_invitees_meeting_person')
    )
    with op.batch_alter_table('meeting_invitees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_invitees_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_invitees_person_id'), ['person_id'], unique=False)

    op.create_table('meeting_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('starts_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['reflection_meetings.id'],
                            name=op.f('fk_meeting_proposals_meeting_id_reflection_meetings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_proposals'))
    )
    with op.batch_alter_table('meeting_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_proposals_meeting_id'), ['meeting_id'], unique=False)

    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('no_meeting_reason', sa.Text(), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_column('no_meeting_reason')

    with op.batch_alter_table('meeting_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_proposals_meeting_id'))

    op.drop_table('meeting_proposals')
    with op.batch_alter_table('meeting_invitees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_invitees_person_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_invitees_meeting_id'))

    op.drop_table('meeting_invitees')
    with op.batch_alter_table('meeting_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_answers_person_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_answers_meeting_id'))

    op.drop_table('meeting_answers')
    op.drop_table('reflection_sheets')
    with op.batch_alter_table('reflection_meetings', schema=None) as batch_op:
        batch_op.drop_index('ix_reflection_meetings_state_starts')
        batch_op.drop_index(batch_op.f('ix_reflection_meetings_allocation_id'))

    op.drop_table('reflection_meetings')
