"""request_receipts: a click acknowledged before its listener ran is pending until its unit commits

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 13:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('request_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('slack_user_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('request_receipts', schema=None) as batch_op:
        batch_op.drop_column('slack_user_id')
        batch_op.drop_column('pending')
