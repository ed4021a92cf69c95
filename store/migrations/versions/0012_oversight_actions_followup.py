"""oversight, action sign-off, Inadequate follow-up, QA assurance

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:43:18.408680

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('assurance_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'verified', 'not_evidenced', name='assurance_state', native_enum=False, length=32),
              nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['people.id'], name=op.f('fk_assurance_checks_by_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'], name=op.f('fk_assurance_checks_record_id_audit_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assurance_checks')),
    sa.UniqueConstraint('month', 'record_id', name=op.f('uq_assurance_checks_month'))
    )
    with op.batch_alter_table('assurance_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assurance_checks_month'), ['month'], unique=False)
        batch_op.create_index(batch_op.f('ix_assurance_checks_state'), ['state'], unique=False)

    op.create_table('inadequate_cycles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('meeting_due', 'review_due', 'reaudit_due', 'closed', 'continued',
                               name='inadequate_cycle_state', native_enum=False, length=32), nullable=False),
    sa.Column('opened_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('group_manager_id', sa.Integer(), nullable=True),
    sa.Column('head_of_service_id', sa.Integer(), nullable=True),
    sa.Column('meeting_held_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('meeting_held_by_id', sa.Integer(), nullable=True),
    sa.Column('review_due', sa.Date(), nullable=True),
    sa.Column('review_held_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_held_by_id', sa.Integer(), nullable=True),
    sa.Column('head_of_service_meeting_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reaudit_allocation_id', sa.Integer(), nullable=True),
    sa.Column('reaudit_latest', sa.Date(), nullable=True),
    sa.Column('closed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_inadequate_cycles_case_id_cases')),
    sa.ForeignKeyConstraint(['group_manager_id'], ['people.id'], name=op.f('fk_inadequate_cycles_group_manager_id_people')),
    sa.ForeignKeyConstraint(['head_of_service_id'], ['people.id'], name=op.f('fk_inadequate_cycles_head_of_service_id_people')),
    sa.ForeignKeyConstraint(['meeting_held_by_id'], ['people.id'], name=op.f('fk_inadequate_cycles_meeting_held_by_id_people')),
    sa.ForeignKeyConstraint(['reaudit_allocation_id'], ['allocations.id'],
                            name=op.f('fk_inadequate_cycles_reaudit_allocation_id_allocations')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'], name=op.f('fk_inadequate_cycles_record_id_audit_records')),
    sa.ForeignKeyConstraint(['review_held_by_id'], ['people.id'], name=op.f('fk_inadequate_cycles_review_held_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inadequate_cycles')),
    sa.UniqueConstraint('record_id', name=op.f('uq_inadequate_cycles_record_id'))
    )
    with op.batch_alter_table('inadequate_cycles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inadequate_cycles_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inadequate_cycles_state'), ['state'], unique=False)

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_allocations_cycle_id'), ['cycle_id'], unique=False)

    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('done_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('done_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('signed_off_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_off_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('not_yet_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('not_yet_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('requested_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('extension_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('extension_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('extension_decided_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('extension_decided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('outcome_record_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', store.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oversight_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('oversight_recorded_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('oversight_recorded_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('supervision_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('supervision_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_records_oversight_due'), ['oversight_due'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_records_oversight_due'))
        batch_op.drop_column('closed_at')
        batch_op.drop_column('supervision_by_id')
        batch_op.drop_column('supervision_at')
        batch_op.drop_column('oversight_recorded_by_id')
        batch_op.drop_column('oversight_recorded_at')
        batch_op.drop_column('oversight_due')

    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.drop_column('outcome_at')
        batch_op.drop_column('outcome_record_id')
        batch_op.drop_column('outcome')
        batch_op.drop_column('extension_decided_by_id')
        batch_op.drop_column('extension_decided_at')
        batch_op.drop_column('extension_state')
        batch_op.drop_column('extension_reason')
        batch_op.drop_column('requested_due')
        batch_op.drop_column('not_yet_at')
        batch_op.drop_column('not_yet_reason')
        batch_op.drop_column('signed_off_by_id')
        batch_op.drop_column('signed_off_at')
        batch_op.drop_column('done_note')
        batch_op.drop_column('done_by_id')
        batch_op.drop_column('done_at')

    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocations_cycle_id'))
        batch_op.drop_column('cycle_id')

    with op.batch_alter_table('inadequate_cycles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inadequate_cycles_state'))
        batch_op.drop_index(batch_op.f('ix_inadequate_cycles_case_id'))

    op.drop_table('inadequate_cycles')
    with op.batch_alter_table('assurance_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assurance_checks_state'))
        batch_op.drop_index(batch_op.f('ix_assurance_checks_month'))

    op.drop_table('assurance_checks')
