"""tenants in the workspace: a calendar feed is its maker's partnership's

Revision ID: workspace2_feed_partnership
Revises: bench_part_deadlines
Create Date: 2026-12-04 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'workspace2_feed_partnership'
down_revision: str | None = 'bench_part_deadlines'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every feed there is now was made by a person of the default partnership (the workspace
    # signed no one in as another's before this).
    op.add_column('calendar_feeds', sa.Column('partnership', sa.String(length=64),
                                              nullable=False, server_default='default'))


def downgrade() -> None:
    op.drop_column('calendar_feeds', 'partnership')
