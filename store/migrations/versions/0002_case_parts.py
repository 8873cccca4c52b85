"""case parts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:49:58.090956
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('case_parts',
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('part', sa.String(length=32), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('next_deadline', sa.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.TIMESTAMP(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'], name=op.f('fk_case_parts_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', 'part', name=op.f('pk_case_parts'))
    )
    op.create_index(op.f('ix_case_parts_next_deadline'), 'case_parts', ['next_deadline'], unique=False)
    op.create_index(op.f('ix_case_parts_overdue'), 'case_parts', ['overdue'], unique=False)
    op.create_index(op.f('ix_case_parts_stage'), 'case_parts', ['stage'], unique=False)
    # Batch: SQLite (make run's store) changes a constraint by copying the table.
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.add_column(sa.Column('part', sa.String(length=32), server_default='case', nullable=False))
        batch_op.drop_constraint(op.f('uq_audit_events_case_id'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_audit_events_case_id'), ['case_id', 'part', 'sequence'])


def downgrade() -> None:
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.drop_constraint(op.f('uq_audit_events_case_id'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_audit_events_case_id'), ['case_id', 'sequence'])
        batch_op.drop_column('part')
    op.drop_index(op.f('ix_case_parts_stage'), table_name='case_parts')
    op.drop_index(op.f('ix_case_parts_overdue'), table_name='case_parts')
    op.drop_index(op.f('ix_case_parts_next_deadline'), table_name='case_parts')
    op.drop_table('case_parts')
