"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.tables import FhirBase, StoredResource
from sqlalchemy.orm import Session

from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.db.tables import BridgeBase
from tests.support import fresh_database


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() is not None
        diff = compare_metadata(context, [BridgeBase.metadata, FhirBase.metadata])
    engine.dispose()
    assert diff == []


def test_upgrade_reindexes_resources_written_by_an_older_release(backend: str, tmp_path: Path) -> None:
    observation = {
        "resourceType": "Observation",
        "id": "old-1",
        "status": "final",
        "identifier": [{"system": "urn:test:old", "value": "1"}],
        "code": {"text": "pulse"},
        "meta": {"versionId": "1", "lastUpdated": "2026-01-01T00:00:00.000Z"},
    }
    with fresh_database(backend, str(tmp_path)) as url:
        upgrade(url, "0001")
        engine = make_engine(url)
        with Session(engine) as db, db.begin():
            # As release 0001 stored it: no index row for identifier, which it did not index.
            db.add(
                StoredResource(
                    resource_type="Observation",
                    id="old-1",
                    version_id=1,
                    last_updated=datetime(2026, 1, 1, tzinfo=UTC),
                    deleted=False,
                    content=observation,
                )
            )
        upgrade(url)
        with Session(engine) as db:
            found = SqlResourceRepository(db).find("Observation", {"identifier": "urn:test:old|1"})
        engine.dispose()
    assert [r["id"] for r in found] == ["old-1"]
