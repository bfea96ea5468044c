"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fhir_adapter.store.tables import FhirBase

from bridge.db.engine import make_engine
from bridge.db.tables import BridgeBase


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() is not None
        diff = compare_metadata(context, [BridgeBase.metadata, FhirBase.metadata])
    engine.dispose()
    assert diff == []
