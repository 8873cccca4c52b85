"""part_deadlines: the LCSPRs' and action plans' open deadlines, one row each, by date

Revision ID: bench_part_deadlines
Revises: ops_partnerships
Create Date: 2026-12-04 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'bench_part_deadlines'
down_revision: str | None = 'ops_partnerships'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        'part_deadlines',
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('part', sa.String(length=32), nullable=False),
        sa.Column('step', sa.String(length=64), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('statutory', sa.Boolean(), nullable=False),
        sa.Column('overdue', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'],
                                name=op.f('fk_part_deadlines_case_id_cases'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id', 'part', 'step', name=op.f('pk_part_deadlines')),
    )
    op.create_index(op.f('ix_part_deadlines_due_date'), 'part_deadlines', ['due_date'])
    _backfill(table)


def _backfill(table: sa.Table) -> None:
    """Every part's open deadlines as its stored snapshot has them (what /v1/deadlines read
    from the snapshots until now); a part projected after this writes its own."""
    from store.models import CasePart
    from store.part_deadlines import part_items

    bind = op.get_bind()
    rows = bind.execute(sa.select(CasePart.case_id, CasePart.part, CasePart.snapshot))
    batch: list[dict[str, object]] = []
    for case_id, part, snapshot in rows:
        due = {item[0]: item for item in part_items(part, snapshot or {})}
        batch += [{"case_id": case_id, "part": part, "step": step, "due_date": day,
                   "statutory": statutory, "overdue": overdue}
                  for step, day, statutory, overdue in due.values()]
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index(op.f('ix_part_deadlines_due_date'), table_name='part_deadlines')
    op.drop_table('part_deadlines')
