"""an e-mail the MARS team had sent again after it may not have gone (outbox.resend)

Revision ID: faults_workflow_outbox_resend
Revises: rules_api_reviewer_assignments
Create Date: 2026-12-04 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'faults_workflow_outbox_resend'
down_revision: str | None = 'rules_api_reviewer_assignments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('outbox', sa.Column('resend', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('outbox', 'resend')
