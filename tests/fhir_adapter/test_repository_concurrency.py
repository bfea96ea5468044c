"""Two transactions writing the same resource at once: one wins, the other gets a 409 (or, without
If-Match, writes the version after it) - never an IntegrityError on the version table."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.tables import ResourceVersion, StoredResource
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.db.engine import make_engine, make_session_factory

ROUNDS = 5


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _patient(factory: sessionmaker[Session]) -> dict[str, Any]:
    with factory.begin() as db:
        return SqlResourceRepository(db).create(
            {"resourceType": "Patient", "gender": "female", "birthDate": "1938-05-02"}, f"race-{uuid.uuid4().hex[:12]}"
        )


Write = Callable[[SqlResourceRepository, dict[str, Any], int], Any]


def _race(factory: sessionmaker[Session], resource_id: str, write: Write) -> list[object]:
    """Two threads each read the resource, wait until both have read it, then write and commit. The
    outcome of each: the version it wrote, or the error it raised."""
    both_read = threading.Barrier(2, timeout=30)
    outcomes: list[object] = [None, None]

    def run(slot: int) -> None:
        try:
            with factory.begin() as db:
                repo = SqlResourceRepository(db)
                current = repo.read("Patient", resource_id)
                both_read.wait()
                written = write(repo, current, slot)
                outcomes[slot] = int(written["meta"]["versionId"]) if isinstance(written, dict) else written
        except Exception as exc:
            outcomes[slot] = exc

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _history(factory: sessionmaker[Session], resource_id: str) -> list[int]:
    """The version numbers of the version rows, newest first (a deletion's row keeps the content it
    deleted, so its number is the row's, not the content's)."""
    with factory.begin() as db:
        return list(
            db.scalars(
                select(ResourceVersion.version_id)
                .where(ResourceVersion.resource_type == "Patient", ResourceVersion.id == resource_id)
                .order_by(ResourceVersion.version_id.desc())
            )
        )


def test_racing_updates_with_if_match_one_wins_the_other_gets_409(factory: sessionmaker[Session]) -> None:
    created = _patient(factory)
    for round_ in range(ROUNDS):
        version = round_ + 1

        def write(repo: SqlResourceRepository, current: dict[str, Any], slot: int, round_: int = round_) -> Any:
            changed = {**current, "gender": "male" if slot else "other", "birthDate": f"19{40 + round_}-01-0{slot + 1}"}
            return repo.update(changed, if_match=int(current["meta"]["versionId"]))

        outcomes = _race(factory, created["id"], write)
        wins = [o for o in outcomes if isinstance(o, int)]
        losses = [o for o in outcomes if not isinstance(o, int)]
        assert wins == [version + 1], outcomes
        assert len(losses) == 1 and isinstance(losses[0], OperationOutcomeError), outcomes
        assert losses[0].status == 409 and losses[0].issues[0].code == "conflict"
        assert "read it again" in str(losses[0])
    assert _history(factory, created["id"]) == list(range(ROUNDS + 1, 0, -1))


def test_racing_updates_without_if_match_both_write_consecutive_versions(factory: sessionmaker[Session]) -> None:
    created = _patient(factory)
    for round_ in range(ROUNDS):
        version = 2 * round_ + 1

        def write(repo: SqlResourceRepository, current: dict[str, Any], slot: int, round_: int = round_) -> Any:
            return repo.update({**current, "birthDate": f"19{40 + round_}-0{slot + 1}-01"})

        outcomes = _race(factory, created["id"], write)
        assert sorted(o for o in outcomes if isinstance(o, int)) == [version + 1, version + 2], outcomes
    history = _history(factory, created["id"])
    assert history == list(range(2 * ROUNDS + 1, 0, -1))
    with factory.begin() as db:
        repo = SqlResourceRepository(db)
        latest = repo.read("Patient", created["id"])
        assert latest["meta"]["versionId"] == str(history[0])
        # The current row and the newest version row agree; the search index follows the current row.
        assert repo.read_version("Patient", created["id"], history[0]) == latest
        found = repo.find("Patient", {"_id": created["id"], "birthdate": latest["birthDate"]})
        assert [p["id"] for p in found] == [created["id"]]


def test_racing_update_and_delete_leave_consecutive_versions(factory: sessionmaker[Session]) -> None:
    created = _patient(factory)

    def write(repo: SqlResourceRepository, current: dict[str, Any], slot: int) -> Any:
        if slot:
            repo.delete("Patient", current["id"])
            return "deleted"
        return repo.update({**current, "gender": "other"})

    outcomes = _race(factory, created["id"], write)
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    assert _history(factory, created["id"]) == [3, 2, 1]
    with factory.begin() as db:
        current = db.get(StoredResource, ("Patient", created["id"]))
        assert current is not None and current.version_id == 3
