"""The versioned FHIR store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import SqlResourceRepository
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


def patient(**extra: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "name": [{"text": "王秀英", "family": "王", "given": ["秀英"]}],
        "gender": "female",
        "birthDate": "1938-05-02",
        "identifier": [{"system": "urn:test:resident", "value": "R-1"}],
        "managingOrganization": {"reference": "Organization/home-a"},
        **extra,
    }


def test_create_read_update_history(session: Session) -> None:
    repo = SqlResourceRepository(session)
    created = repo.create(patient())
    assert created["meta"]["versionId"] == "1" and created["id"]
    assert repo.read("Patient", created["id"]) == created
    updated = repo.update({**created, "gender": "other"}, if_match=1)
    assert updated["meta"]["versionId"] == "2"
    assert repo.read_version("Patient", created["id"], 1)["gender"] == "female"
    assert [v["meta"]["versionId"] for v in repo.history("Patient", created["id"])] == ["2", "1"]


def test_unchanged_update_writes_no_new_version(session: Session) -> None:
    repo = SqlResourceRepository(session)
    created = repo.create(patient())
    again = repo.update({k: v for k, v in created.items() if k != "meta"})
    assert again["meta"]["versionId"] == "1" and len(repo.history("Patient", created["id"])) == 1


def test_stale_version_is_refused_with_412(session: Session) -> None:
    repo = SqlResourceRepository(session)
    created = repo.create(patient())
    repo.update({**created, "gender": "male"})
    with pytest.raises(OperationOutcomeError) as caught:
        repo.update({**created, "gender": "other"}, if_match=1)
    assert caught.value.status == 412 and "version 2" in str(caught.value)


def test_delete_keeps_history_and_reads_gone(session: Session) -> None:
    repo = SqlResourceRepository(session)
    created = repo.create(patient())
    repo.delete("Patient", created["id"])
    with pytest.raises(OperationOutcomeError) as caught:
        repo.read("Patient", created["id"])
    assert caught.value.status == 410
    assert repo.find("Patient", {"_id": created["id"]}) == []
    assert len(repo.history("Patient", created["id"])) == 2


@pytest.mark.parametrize(
    ("bad", "status", "expression"),
    [
        ({"resourceType": "Patient", "gender": "bogus"}, 422, "Patient.gender"),
        ({"resourceType": "Patient", "birthDate": "1938-13-40"}, 422, "Patient.birthDate"),
        ({"resourceType": "Patient", "unknownElement": 1}, 422, "Patient.unknownElement"),
        ({"resourceType": "Observation", "status": "final"}, 422, "Observation.code"),
        ({"resourceType": "Task", "status": "done", "intent": "order"}, 422, "Task.status"),
        ({"resourceType": "Spaceship"}, 400, None),
        (["not", "an", "object"], 400, None),
    ],
)
def test_invalid_resources_are_refused_with_the_reason(
    session: Session, bad: object, status: int, expression: str | None
) -> None:
    with pytest.raises(OperationOutcomeError) as caught:
        SqlResourceRepository(session).create(bad)  # type: ignore[arg-type]
    assert caught.value.status == status
    outcome = caught.value.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression:
        assert any(expression in e for issue in outcome["issue"] for e in issue.get("expression", []))


def test_find_by_token_reference_and_string(session: Session) -> None:
    repo = SqlResourceRepository(session)
    created = repo.create(patient())
    other = repo.create(
        patient(
            managingOrganization={"reference": "Organization/home-b"},
            identifier=[{"system": "urn:test:resident", "value": "R-2"}],
        )
    )
    assert [p["id"] for p in repo.find("Patient", {"identifier": "urn:test:resident|R-1"})] == [created["id"]]
    assert [p["id"] for p in repo.find("Patient", {"identifier": "R-2"})] == [other["id"]]
    assert repo.find("Patient", {"identifier": "urn:other|R-1"}) == []
    by_home = repo.find("Patient", {"organization": ["Organization/home-a"], "_id": [created["id"], other["id"]]})
    assert [p["id"] for p in by_home] == [created["id"]]
    both = repo.find(
        "Patient",
        {
            "organization": ["Organization/home-a", "Organization/home-b"],
            "name": "秀",
            "_id": [created["id"], other["id"]],
        },
    )
    assert {p["id"] for p in both} == {created["id"], other["id"]}
    with pytest.raises(OperationOutcomeError):
        repo.find("Patient", {"no-such-param": "x"})


def test_invalid_ids_are_refused(session: Session) -> None:
    with pytest.raises(OperationOutcomeError) as caught:
        SqlResourceRepository(session).create(patient(), resource_id="bad id/../x")
    assert caught.value.status == 400
