"""an index on the audit trail's kind and time: the due dates a calendar change moved, newest
first (store.calendar.moves), read without scanning every case's trail (issue 13)

Revision ID: store_audit_kind_index
Revises: store_projections_owed
Create Date: 2026-12-04 19:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'store_audit_kind_index'
down_revision: str | None = 'store_projections_owed'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_audit_events_kind_at', 'audit_events', ['kind', 'at'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_kind_at', table_name='audit_events')
