"""tenants: the partnership of each case and directory organisation

Revision ID: ops_partnerships
Revises: workspace_received_at_index
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ops_partnerships'
down_revision: str | None = 'workspace_received_at_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every case and organisation there is now belongs to the default partnership (a case
    # without a row in case_partnerships does).
    op.create_table(
        'case_partnerships',
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('partnership', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('case_id'),
    )
    op.create_index('ix_case_partnerships_partnership', 'case_partnerships', ['partnership'])
    op.add_column('organisations', sa.Column('partnership', sa.String(length=64), nullable=False,
                                             server_default='default'))
    op.create_index('ix_organisations_partnership', 'organisations', ['partnership'])


def downgrade() -> None:
    op.drop_index('ix_organisations_partnership', table_name='organisations')
    op.drop_column('organisations', 'partnership')
    op.drop_index('ix_case_partnerships_partnership', table_name='case_partnerships')
    op.drop_table('case_partnerships')
