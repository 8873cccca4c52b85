"""indexes for what the lists sort by: the case list (received_at, then case_id), a case's
trail (case_id, at), the due dates a calendar change moved (kind, at) (issue 13)

Revision ID: store_list_indexes
Revises: store_projections_owed
Create Date: 2026-12-04 19:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'store_list_indexes'
down_revision: str | None = 'store_projections_owed'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_cases_received_at_case_id', 'cases', ['received_at', 'case_id'])
    op.create_index('ix_audit_events_case_id_at', 'audit_events', ['case_id', 'at'])
    op.create_index('ix_audit_events_kind_at', 'audit_events', ['kind', 'at'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_kind_at', table_name='audit_events')
    op.drop_index('ix_audit_events_case_id_at', table_name='audit_events')
    op.drop_index('ix_cases_received_at_case_id', table_name='cases')
