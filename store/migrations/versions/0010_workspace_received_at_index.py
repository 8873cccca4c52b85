"""an index on the cases' received_at: the Board's report reads a period's cases (issue 10)

Revision ID: workspace_received_at_index
Revises: workspace_meetings
Create Date: 2026-12-04 17:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'workspace_received_at_index'
down_revision: str | None = 'workspace_meetings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_cases_received_at'), 'cases', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_cases_received_at'), table_name='cases')
