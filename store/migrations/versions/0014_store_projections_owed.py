"""projections the case store did not take, so that a read knows a stored copy is behind
(issue 13: open cases read from the store)

Revision ID: store_projections_owed
Revises: workspace2_feed_partnership
Create Date: 2026-12-04 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'store_projections_owed'
down_revision: str | None = 'workspace2_feed_partnership'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'projections_owed',
        sa.Column('case_id', sa.String(length=64), nullable=False),
        sa.Column('part', sa.String(length=32), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('since', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('case_id', 'part', name=op.f('pk_projections_owed')),
    )


def downgrade() -> None:
    op.drop_table('projections_owed')
