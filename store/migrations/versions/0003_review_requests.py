"""review requests: a case opened on a request (Flowchart 4) has no incident date

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch: SQLite (make run's store) changes a column by copying the table.
    with op.batch_alter_table('cases') as batch_op:
        batch_op.alter_column('incident_date', existing_type=sa.Date(), nullable=True)


def downgrade() -> None:
    # Refused while a request is stored: its case would have no incident date to give.
    with op.batch_alter_table('cases') as batch_op:
        batch_op.alter_column('incident_date', existing_type=sa.Date(), nullable=False)
