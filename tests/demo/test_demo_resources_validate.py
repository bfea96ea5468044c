"""Every resource the demo seed stores is valid FHIR R4 in the eyes of Medplum's validator, code that
nobody on this project wrote (one Node run for all of them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir_adapter.store.tables import ResourceVersion, StoredResource
from sqlalchemy import select

from bridge.db.migrate import upgrade
from bridge.demo.seed import seed_demo
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.settings import Settings
from tests.fhir_peer import (
    MedplumValidator,
    assert_all_pass,
)
from tests.support import fresh_database

SECRET = "demo-validation-secret-key-0123456789abcdef"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Every version of every resource in a freshly seeded SQLite database."""
    tmp: Path = tmp_path_factory.mktemp("demo-validate")
    with fresh_database("sqlite", str(tmp)) as url:
        upgrade(url)
        runtime = Runtime.from_settings(
            Settings(database_url=url, secret_key=SECRET, public_base_url="http://testserver")
        )
        try:
            with runtime.session_factory.begin() as db:
                seed_demo(Services(db, runtime))
            with runtime.session_factory() as db:
                current = db.scalars(select(StoredResource).where(StoredResource.deleted.is_(False))).all()
                versions = db.scalars(select(ResourceVersion).where(ResourceVersion.deleted.is_(False))).all()
                assert len(versions) >= len(current)
                yield [row.content for row in versions]
        finally:
            runtime.engine.dispose()


def test_the_demo_stores_resources_of_many_types(seeded: list[dict[str, Any]]) -> None:
    # Guards the check below from passing vacuously (an empty or half-seeded database).
    counts = Counter(r["resourceType"] for r in seeded)
    expected = {"Organization", "Patient", "Practitioner", "PractitionerRole", "Location", "Observation"}
    assert expected <= counts.keys(), counts
    assert counts["Patient"] >= 10 and counts["Observation"] >= 10, counts


def test_every_stored_demo_resource_passes_medplum(seeded: list[dict[str, Any]], medplum: MedplumValidator) -> None:
    results = medplum.validate(seeded)
    assert len(results) == len(seeded)
    assert_all_pass(results)


def test_the_validator_fails_broken_demo_resources(seeded: list[dict[str, Any]], medplum: MedplumValidator) -> None:
    """The check above can fail: the same records, broken the way a bad mapping would break them."""
    observation = next(r for r in seeded if r["resourceType"] == "Observation")
    patient = next(r for r in seeded if r["resourceType"] == "Patient")
    without_status = {k: v for k, v in observation.items() if k != "status"}
    unknown_element = {**patient, "bedNumber": "101-A"}
    bad_birth_date = {**patient, "birthDate": "1938-02-30x"}
    results = medplum.validate([observation, without_status, unknown_element, bad_birth_date])
    assert [r.passed for r in results] == [True, False, False, False], "\n".join(r.describe() for r in results)
    assert any(i.expression == "Observation.status" for i in results[1].errors), results[1].describe()
    assert any(i.expression == "Patient.bedNumber" for i in results[2].errors), results[2].describe()
    assert any(i.expression == "Patient.birthDate" for i in results[3].errors), results[3].describe()
