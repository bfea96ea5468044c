"""search indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op
from fhir_adapter.store.reindex import reindex_all
from sqlalchemy.orm import Session

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_resource_type_updated', ['resource_type', 'last_updated'], unique=False)

    with op.batch_alter_table('fhir_search_index', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_search_date', ['resource_type', 'param', 'date_start'], unique=False)
        batch_op.create_index('ix_fhir_search_value', ['value'], unique=False)

    # New parameters (identifier, _tag, every literal reference) and UTC dates: rebuild the index so
    # resources written before this release are found like new ones.
    session = Session(bind=op.get_bind())
    reindex_all(session)
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table('fhir_search_index', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_search_value')
        batch_op.drop_index('ix_fhir_search_date')

    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_type_updated')
