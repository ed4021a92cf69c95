"""right to reply, challenges, moderation, QA checks

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:57:40.600958

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('audit_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('challenger_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('target_key', sa.String(length=60), nullable=True),
    sa.Column('proposed_grade', sa.String(length=60), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('with_auditor', 'answered', 'moderation', 'head_of_service', 'settled',
                               name='challenge_state', native_enum=False, length=32), nullable=False),
    sa.Column('raised_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('auditor_decision', sa.String(length=16), nullable=True),
    sa.Column('auditor_grade', sa.String(length=60), nullable=True),
    sa.Column('auditor_reason', sa.Text(), nullable=True),
    sa.Column('auditor_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('challenger_decision', sa.String(length=16), nullable=True),
    sa.Column('challenger_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('head_of_service_id', sa.Integer(), nullable=True),
    sa.Column('head_of_service_agrees', sa.Boolean(), nullable=True),
    sa.Column('head_of_service_grade', sa.String(length=60), nullable=True),
    sa.Column('head_of_service_comment', sa.Text(), nullable=True),
    sa.Column('head_of_service_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('settled_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['challenger_id'], ['people.id'], name=op.f('fk_audit_challenges_challenger_id_people')),
    sa.ForeignKeyConstraint(['head_of_service_id'], ['people.id'], name=op.f('fk_audit_challenges_head_of_service_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_challenges_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_challenges'))
    )
    with op.batch_alter_table('audit_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_challenges_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_challenges_state'), ['state'], unique=False)

    op.create_table('audit_qa_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'accepted', 'returned', 'amended', name='qa_check_state', native_enum=False, length=32),
              nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('amend_due', sa.Date(), nullable=True),
    sa.Column('amended_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['people.id'], name=op.f('fk_audit_qa_checks_by_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_qa_checks_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_qa_checks'))
    )
    with op.batch_alter_table('audit_qa_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_qa_checks_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_qa_checks_state'), ['state'], unique=False)

    op.create_table('audit_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('agree', 'comment', 'challenge', 'no_comment', name='reply_kind', native_enum=False, length=32),
              nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_audit_replies_person_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_replies_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_replies')),
    sa.UniqueConstraint('record_id', 'person_id', name=op.f('uq_audit_replies_record_id'))
    )
    with op.batch_alter_table('audit_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_replies_record_id'), ['record_id'], unique=False)

    op.create_table('audit_moderations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('challenge', 'sample', 'head_of_service', name='moderation_kind', native_enum=False, length=32),
              nullable=False),
    sa.Column('state', sa.Enum('proposed', 'choosing', 'with_moderator', 'decided',
                               name='moderation_state', native_enum=False, length=32), nullable=False),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('seed', sa.Integer(), nullable=True),
    sa.Column('suggested_id', sa.Integer(), nullable=True),
    sa.Column('moderator_id', sa.Integer(), nullable=True),
    sa.Column('chosen_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('chosen_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('agrees', sa.Boolean(), nullable=True),
    sa.Column('grade', sa.String(length=60), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['challenge_id'], ['audit_challenges.id'],
                            name=op.f('fk_audit_moderations_challenge_id_audit_challenges')),
    sa.ForeignKeyConstraint(['chosen_by_id'], ['people.id'], name=op.f('fk_audit_moderations_chosen_by_id_people')),
    sa.ForeignKeyConstraint(['moderator_id'], ['people.id'], name=op.f('fk_audit_moderations_moderator_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_moderations_record_id_audit_records'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['suggested_id'], ['people.id'], name=op.f('fk_audit_moderations_suggested_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_moderations'))
    )
    with op.batch_alter_table('audit_moderations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_moderations_challenge_id'), ['challenge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_moderations_moderator_id'), ['moderator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_moderations_month'), ['month'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_moderations_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_moderations_state'), ['state'], unique=False)

    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation_id', sa.Integer(), nullable=True))

    with op.batch_alter_table('audit_grade_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('section_key', sa.String(length=60), nullable=True))

    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.Enum('reply_window', 'finalised', 'returned', 'accepted',
                                                       name='record_state', native_enum=False, length=32),
                                      server_default='reply_window', nullable=False))
        batch_op.add_column(sa.Column('reply_closes_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('finalised_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_records_state'), ['state'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_records_state'))
        batch_op.drop_column('finalised_at')
        batch_op.drop_column('reply_closes_on')
        batch_op.drop_column('state')

    with op.batch_alter_table('audit_grade_events', schema=None) as batch_op:
        batch_op.drop_column('section_key')

    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.drop_column('moderation_id')

    with op.batch_alter_table('audit_moderations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_moderations_state'))
        batch_op.drop_index(batch_op.f('ix_audit_moderations_record_id'))
        batch_op.drop_index(batch_op.f('ix_audit_moderations_month'))
        batch_op.drop_index(batch_op.f('ix_audit_moderations_moderator_id'))
        batch_op.drop_index(batch_op.f('ix_audit_moderations_challenge_id'))

    op.drop_table('audit_moderations')
    with op.batch_alter_table('audit_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_replies_record_id'))

    op.drop_table('audit_replies')
    with op.batch_alter_table('audit_qa_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_qa_checks_state'))
        batch_op.drop_index(batch_op.f('ix_audit_qa_checks_record_id'))

    op.drop_table('audit_qa_checks')
    with op.batch_alter_table('audit_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_challenges_state'))
        batch_op.drop_index(batch_op.f('ix_audit_challenges_record_id'))

    op.drop_table('audit_challenges')
