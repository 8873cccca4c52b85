"""indexes for the case lists' filters, sort and count (issue 13: "case lists scan and sort the
whole table"): each filter with the newest-first order, and one narrow index holding every
filtered column so that a count reads it and never the cases' rows (their snapshots)

Revision ID: perf_case_list_indexes
Revises: store_audit_kind_index
Create Date: 2026-12-04 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perf_case_list_indexes"
down_revision: str | None = "store_audit_kind_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEWEST_FIRST: list[str | sa.TextClause] = [sa.text("received_at DESC"), "case_id"]


def upgrade() -> None:
    # The list's order (store.cases.newest_first) with every column a filter reads: a page, or
    # a count of all, read off the index alone.
    op.create_index(
        "ix_cases_newest_first",
        "cases",
        NEWEST_FIRST,
        postgresql_include=["stage", "kind", "overdue"],
    )
    op.create_index("ix_cases_stage_newest_first", "cases", ["stage", *NEWEST_FIRST])
    op.create_index("ix_cases_kind_newest_first", "cases", ["kind", *NEWEST_FIRST])
    op.create_index("ix_cases_overdue_newest_first", "cases", ["overdue", *NEWEST_FIRST])
    # The due filters: a case's open steps by date, its parts' deadlines by date.
    op.create_index(
        "ix_case_steps_status_due_date", "case_steps", ["status", "due_date", "case_id"]
    )
    op.create_index("ix_part_deadlines_due_date_case_id", "part_deadlines", ["due_date", "case_id"])
    # The overdue filter's parts, by case.
    op.create_index("ix_case_parts_overdue_case_id", "case_parts", ["overdue", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_parts_overdue_case_id", table_name="case_parts")
    op.drop_index("ix_part_deadlines_due_date_case_id", table_name="part_deadlines")
    op.drop_index("ix_case_steps_status_due_date", table_name="case_steps")
    op.drop_index("ix_cases_overdue_newest_first", table_name="cases")
    op.drop_index("ix_cases_kind_newest_first", table_name="cases")
    op.drop_index("ix_cases_stage_newest_first", table_name="cases")
    op.drop_index("ix_cases_newest_first", table_name="cases")
