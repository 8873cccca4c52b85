"""a reviewer's assignments to the LCSPRs it reviews (issue 9, item 8)

Revision ID: rules_api_reviewer_assignments
Revises: workspace_calendar_feeds
Create Date: 2026-12-04 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'rules_api_reviewer_assignments'
# After the migrations already on main (faults-api's 0005, workspace's 0006); the lead
# re-chains at merge.
down_revision: str | None = 'workspace_calendar_feeds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reviewer_assignments',
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('assigned_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('assigned_by', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'], ondelete='RESTRICT',
                                name=op.f('fk_reviewer_assignments_case_id_cases')),
        sa.PrimaryKeyConstraint('case_id', 'subject', name=op.f('pk_reviewer_assignments')),
    )
    op.create_index(op.f('ix_reviewer_assignments_subject'), 'reviewer_assignments',
                    ['subject'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reviewer_assignments_subject'), table_name='reviewer_assignments')
    op.drop_table('reviewer_assignments')
