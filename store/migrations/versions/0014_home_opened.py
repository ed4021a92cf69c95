"""people: when they last opened the App Home tab (their Home is republished only then)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 21:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_opened_at', store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('home_opened_at')
