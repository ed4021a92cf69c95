"""request receipts: one effect per Slack request

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('request_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('received_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_receipts')),
    sa.UniqueConstraint('key', name=op.f('uq_request_receipts_key'))
    )
    with op.batch_alter_table('request_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_receipts_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('request_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_receipts_received_at'))
    op.drop_table('request_receipts')
