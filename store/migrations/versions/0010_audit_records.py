"""audit records: grades, findings, family views, SMART actions, drafts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('audit_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'],
                            name=op.f('fk_audit_drafts_allocation_id_allocations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_audit_drafts_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_drafts')),
    sa.UniqueConstraint('allocation_id', 'person_id', name=op.f('uq_audit_drafts_allocation_id'))
    )
    op.create_table('audit_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=60), nullable=False),
    sa.Column('scheme_version', sa.Integer(), nullable=False),
    sa.Column('overall_grade', sa.String(length=60), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('strengths', sa.Text(), nullable=False),
    sa.Column('good_elements', sa.Text(), nullable=False),
    sa.Column('rule_reason', sa.Text(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('seen_roles', sa.JSON(), nullable=False),
    sa.Column('family_views', sa.JSON(), nullable=False),
    sa.Column('no_actions_reason', sa.Text(), nullable=True),
    sa.Column('source', sa.Enum('chat', 'import', name='record_source', native_enum=False, length=32), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_audit_records_allocation_id_allocations')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['people.id'], name=op.f('fk_audit_records_submitted_by_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_records')),
    sa.UniqueConstraint('allocation_id', name=op.f('uq_audit_records_allocation_id'))
    )
    op.create_table('audit_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'signed_off', name='action_status', native_enum=False, length=32),
              nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_audit_actions_owner_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_actions_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_actions'))
    )
    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_actions_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_actions_record_id'), ['record_id'], unique=False)

    op.create_table('audit_grade_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.Enum('submitted', name='grade_stage', native_enum=False, length=32), nullable=False),
    sa.Column('grade', sa.String(length=60), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['people.id'], name=op.f('fk_audit_grade_events_by_id_people')),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_grade_events_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_grade_events'))
    )
    with op.batch_alter_table('audit_grade_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_grade_events_record_id'), ['record_id'], unique=False)

    op.create_table('audit_section_grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('section_key', sa.String(length=60), nullable=False),
    sa.Column('grade', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['audit_records.id'],
                            name=op.f('fk_audit_section_grades_record_id_audit_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_section_grades')),
    sa.UniqueConstraint('record_id', 'section_key', name=op.f('uq_audit_section_grades_record_id'))
    )
    with op.batch_alter_table('audit_section_grades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_section_grades_record_id'), ['record_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('audit_section_grades', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_section_grades_record_id'))

    op.drop_table('audit_section_grades')
    with op.batch_alter_table('audit_grade_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_grade_events_record_id'))

    op.drop_table('audit_grade_events')
    with op.batch_alter_table('audit_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_actions_record_id'))
        batch_op.drop_index(batch_op.f('ix_audit_actions_owner_id'))

    op.drop_table('audit_actions')
    op.drop_table('audit_records')
    op.drop_table('audit_drafts')
