"""people: emails unique whatever their case

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Lower-case stored emails (refusing two that differ only in case), then index lower(email)."""
    bind = op.get_bind()
    clashes = bind.execute(sa.text(
        "SELECT lower(email) FROM people GROUP BY lower(email) HAVING count(*) > 1 ORDER BY 1"
    )).scalars().all()
    if clashes:
        raise RuntimeError(
            "these emails belong to more than one person when case is ignored; merge them first: " + ", ".join(clashes)
        )
    op.execute("UPDATE people SET email = lower(trim(email))")
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint('uq_people_email', type_='unique')
    # outside the batch: SQLite's table copy cannot carry an expression index
    op.create_index('uq_people_email_lower', 'people', [sa.text('lower(email)')], unique=True)


def downgrade() -> None:
    """Back to a case-sensitive unique email."""
    op.drop_index('uq_people_email_lower', table_name='people')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_people_email', ['email'])
