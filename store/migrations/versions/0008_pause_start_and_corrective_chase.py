"""audit months: when the pause began; safeguarding alerts: how far the corrective action is chased

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('audit_months', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', store.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('safeguarding_alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrective_chase_level', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('safeguarding_alerts', schema=None) as batch_op:
        batch_op.drop_column('corrective_chase_level')
    with op.batch_alter_table('audit_months', schema=None) as batch_op:
        batch_op.drop_column('paused_at')
