"""letters and e-mail kept with a case; bank holidays that operators add or remove

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'case_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'], ondelete='RESTRICT',
                                name=op.f('fk_case_documents_case_id_cases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_documents')),
        sa.UniqueConstraint('case_id', 'key', name=op.f('uq_case_documents_case_id')),
    )
    op.create_index(op.f('ix_case_documents_case_id'), 'case_documents', ['case_id'])
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('case_id', sa.String(length=32), nullable=False),
        sa.Column('part', sa.String(length=32), server_default='case', nullable=False),
        sa.Column('purpose', sa.String(length=40), nullable=False),
        sa.Column('step', sa.String(length=40), nullable=True),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('to_address', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('document_ids', _JSON, nullable=False),
        sa.Column('message_id', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column('sent_at', sa.TIMESTAMP(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.case_id'], ondelete='RESTRICT',
                                name=op.f('fk_outbox_case_id_cases')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='SET NULL',
                                name=op.f('fk_outbox_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('key', name=op.f('uq_outbox_key')),
    )
    op.create_index(op.f('ix_outbox_case_id'), 'outbox', ['case_id'])
    op.create_index(op.f('ix_outbox_person_id'), 'outbox', ['person_id'])
    op.create_index(op.f('ix_outbox_status'), 'outbox', ['status'])
    op.create_table(
        'calendar_changes',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('change', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('made_by', sa.String(length=200), nullable=False),
        sa.Column('made_at', sa.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_changes')),
    )


def downgrade() -> None:
    op.drop_table('calendar_changes')
    op.drop_index(op.f('ix_outbox_status'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_person_id'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_case_id'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_case_documents_case_id'), table_name='case_documents')
    op.drop_table('case_documents')
