"""an idempotency key's lease (a claim left by a crash expires) and the case it opens

Revision ID: faults_api_idempotency_lease
Revises: 0004
Create Date: 2026-12-04 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'faults_api_idempotency_lease'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keys stuck in progress before leases have none: the next repeat takes them over.
    op.add_column('idempotency_keys',
                  sa.Column('lease_until', sa.TIMESTAMP(timezone=True), nullable=True))
    op.add_column('idempotency_keys', sa.Column('case_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('idempotency_keys', 'case_id')
    op.drop_column('idempotency_keys', 'lease_until')
