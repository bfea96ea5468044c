"""A new resource's rows (current, first version, search index) as one statement writes them on
PostgreSQL and three on SQLite; and one load per resource within a unit of work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir_adapter.store.reindex import index_rows
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.tables import ResourceVersion, SearchIndexEntry, StoredResource
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bridge.db.engine import make_engine, make_session_factory


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    db = make_session_factory(engine)()
    try:
        yield db
    finally:
        db.rollback()
        db.close()
        engine.dispose()


def observation() -> dict[str, Any]:
    """Tokens with and without a system, references, a string-free date period open at one end."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "心率"},
        "subject": {"reference": "Patient/p-1"},
        "performer": [{"reference": "Practitioner/d-1"}, {"reference": "Organization/o-1"}],
        "effectivePeriod": {"start": "2026-01-01T08:00:00+08:00"},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_index(session: Session, resource_id: str) -> list[tuple[Any, ...]]:
    rows = session.scalars(select(SearchIndexEntry).where(SearchIndexEntry.resource_id == resource_id)).all()
    return sorted(
        (r.resource_type, r.resource_id, r.param, r.system, r.value, _utc(r.date_start), _utc(r.date_end)) for r in rows
    )


def _expected_index(content: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r["resource_type"],
            r["resource_id"],
            r["param"],
            r["system"],
            r["value"],
            _utc(r["date_start"]),
            _utc(r["date_end"]),
        )
        for r in index_rows(content)
    )


def test_a_create_writes_the_current_row_its_first_version_and_its_index_rows(session: Session) -> None:
    created = SqlResourceRepository(session).create(observation())
    key = ("Observation", created["id"])
    current = session.get(StoredResource, key)
    version = session.get(ResourceVersion, (*key, 1))
    assert current is not None and version is not None
    assert current.content == version.content == created
    assert (current.version_id, current.deleted, version.deleted) == (1, False, False)
    assert _utc(current.last_updated) == _utc(version.last_updated)
    stored = _stored_index(session, created["id"])
    assert stored == _expected_index(created)
    params = {row[2] for row in stored}
    assert {"status", "code", "category", "patient", "subject", "performer", "date", "_references"} <= params
    assert any(row[3] is None for row in stored) and any(row[3] is not None for row in stored)


def test_a_create_with_no_index_values_writes_no_index_rows(session: Session) -> None:
    created = SqlResourceRepository(session).create({"resourceType": "Medication"})
    assert index_rows(created) == []
    assert session.get(StoredResource, ("Medication", created["id"])) is not None
    assert session.get(ResourceVersion, ("Medication", created["id"], 1)) is not None
    assert _stored_index(session, created["id"]) == []


def test_a_resource_is_loaded_once_per_unit_of_work_and_reads_see_its_own_writes(session: Session) -> None:
    repository = SqlResourceRepository(session)
    created = repository.create(observation())
    session.commit()
    reads: list[str] = []

    def count(*args: Any) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("SELECT") and "fhir_resource" in statement:
            reads.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        first = repository.read("Observation", created["id"])
        gc.collect()  # the identity map alone holds rows weakly
        assert repository.read("Observation", created["id"]) == first
        assert repository.exists("Observation", created["id"])
        assert len(reads) == 1
        updated = repository.update({**first, "status": "amended"})
        assert repository.read("Observation", created["id"]) == updated
        repository.delete("Observation", created["id"])
        assert not repository.exists("Observation", created["id"])
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", count)
