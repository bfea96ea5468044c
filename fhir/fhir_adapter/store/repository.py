"""The FHIR repository: every write of a resource goes through here.

Reads and writes happen in the caller's SQLAlchemy session; the caller owns the transaction, so a
resource and the workflow rows that depend on it commit or roll back together.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from fhir_adapter.errors import Issue, OperationOutcomeError, gone, invalid, not_found, version_conflict
from fhir_adapter.search.query import SearchQuery, parse_search
from fhir_adapter.search.values import join_values
from fhir_adapter.store.reindex import index_rows
from fhir_adapter.store.searching import RECORDS_ABOUT, Restriction, SearchPage, find_all, referencing, search
from fhir_adapter.store.tables import RESOURCE_TABLE, ResourceVersion, SearchIndexEntry, StoredResource
from fhir_adapter.store.writing import INSERT_INDEX, INSERT_VERSION, insert_new
from fhir_adapter.validation import validate_resource

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
Criteria = Mapping[str, str | Collection[str]]
# Rows one repository keeps a hold of (see ``_current``).
MAX_HELD_ROWS = 256


class ResourceRepository(Protocol):
    def create(
        self, resource: dict[str, Any], resource_id: str | None = None, *, validated: bool = False
    ) -> dict[str, Any]: ...
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...
    def read_version(self, resource_type: str, resource_id: str, version_id: int) -> dict[str, Any]: ...
    def update(
        self, resource: dict[str, Any], if_match: int | None = None, *, validated: bool = False
    ) -> dict[str, Any]: ...
    def delete(self, resource_type: str, resource_id: str) -> None: ...
    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]: ...
    def find(self, resource_type: str, criteria: Criteria) -> list[dict[str, Any]]: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlResourceRepository:
    def __init__(self, session: Session, now: Callable[[], datetime] = _utcnow) -> None:
        self._session = session
        self._now = now
        self._held: dict[tuple[str, str], StoredResource] = {}

    def create(
        self, resource: dict[str, Any], resource_id: str | None = None, *, validated: bool = False
    ) -> dict[str, Any]:
        """Store a new resource. ``validated`` says the caller has just passed it through
        ``validate_resource`` (validation is the costliest step of a write; once is enough)."""
        if not isinstance(resource, dict):
            raise invalid("a FHIR resource must be a JSON object")
        new_id = resource_id or str(uuid.uuid4())
        _check_id(new_id)
        content = {**resource, "id": new_id} if validated else validate_resource({**resource, "id": new_id})
        # A fresh uuid4 cannot collide; only an id the caller chose needs the look-up.
        if resource_id and self._current(content["resourceType"], new_id) is not None:
            raise OperationOutcomeError.single(409, "duplicate", f"{content['resourceType']}/{new_id} exists")
        return self._write(content, version_id=1)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        row = self._current(resource_type, resource_id)
        if row is None:
            raise not_found(resource_type, resource_id)
        if row.deleted:
            raise gone(resource_type, resource_id)
        return row.content

    def read_version(self, resource_type: str, resource_id: str, version_id: int) -> dict[str, Any]:
        row = self._session.get(ResourceVersion, (resource_type, resource_id, version_id))
        if row is None:
            raise OperationOutcomeError.single(
                404, "not-found", f"{resource_type}/{resource_id} has no version {version_id}"
            )
        if row.deleted:
            raise gone(resource_type, resource_id)
        return row.content

    def update(
        self, resource: dict[str, Any], if_match: int | None = None, *, validated: bool = False
    ) -> dict[str, Any]:
        """Write a new version; creates the resource when its id is new (update as create).

        An update that changes nothing but meta returns the current version unchanged, so replays and
        repeated seeding do not pile up identical versions.
        """
        resource_id = resource.get("id") if isinstance(resource, dict) else None
        if not isinstance(resource_id, str):
            raise invalid("an update needs the resource id", "id")
        _check_id(resource_id)
        content = resource if validated else validate_resource(resource)
        current = self._session.get(StoredResource, (content["resourceType"], resource_id))
        if current is None:
            if if_match is not None:
                raise not_found(content["resourceType"], resource_id)
            return self._write(content, version_id=1)
        if if_match is not None and if_match != current.version_id:
            raise version_conflict(content["resourceType"], resource_id, if_match, current.version_id)
        if not current.deleted and _without_meta(current.content) == _without_meta(content):
            return current.content
        try:
            return self._write(content, version_id=current.version_id + 1, existing=current)
        except ConcurrentWrite:
            if if_match is not None:
                raise
        # Without If-Match the caller asked for last-writer-wins: wait for the other writer, then write
        # after it (holding the row now, so nobody else can come in between).
        current = self._lock(content["resourceType"], resource_id)
        if not current.deleted and _without_meta(current.content) == _without_meta(content):
            return current.content
        return self._write(content, version_id=current.version_id + 1, existing=current)

    def delete(self, resource_type: str, resource_id: str) -> None:
        current = self._session.get(StoredResource, (resource_type, resource_id))
        if current is None:
            raise not_found(resource_type, resource_id)
        if current.deleted:
            return
        now = self._now()
        row = {
            "resource_type": resource_type,
            "id": resource_id,
            "version_id": current.version_id + 1,
            "last_updated": now,
            "deleted": True,
            "content": current.content,
        }
        try:
            self._advance(current, row)
        except ConcurrentWrite:
            # A delete is unconditional: wait for the other writer, then delete what it left.
            current = self._lock(resource_type, resource_id)
            if current.deleted:
                return
            row = {**row, "version_id": current.version_id + 1, "content": current.content}
            self._advance(current, row)
        self._session.execute(INSERT_VERSION, row)
        self._session.execute(
            delete(SearchIndexEntry).where(
                SearchIndexEntry.resource_type == resource_type, SearchIndexEntry.resource_id == resource_id
            )
        )

    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        rows = self._session.scalars(
            select(ResourceVersion)
            .where(ResourceVersion.resource_type == resource_type, ResourceVersion.id == resource_id)
            .order_by(ResourceVersion.version_id.desc())
        ).all()
        if not rows:
            raise not_found(resource_type, resource_id)
        return [row.content for row in rows]

    def find(self, resource_type: str, criteria: Criteria) -> list[dict[str, Any]]:
        """Every current, undeleted resource matching every criterion (a criterion matches any of its
        values), by id. Values are written as in a search URL (``system|code``, ``Type/id``, ``ge2024``,
        a string prefix); a criterion without values matches nothing. Unknown parameters raise 400.
        """
        params: list[tuple[str, str]] = []
        for name, raw in criteria.items():
            wanted = [raw] if isinstance(raw, str) else list(raw)
            wanted = [value for value in wanted if value]
            if not wanted:
                return []
            params.append((name, join_values(wanted)))
        query = parse_search(resource_type, [*params, ("_sort", "_id")], strict=True)
        return find_all(self._session, query)

    def search(self, query: SearchQuery, restrictions: Sequence[Restriction] = ()) -> SearchPage:
        """One page of a parsed search, filtered in SQL by the restrictions."""
        return search(self._session, query, restrictions)

    def exists(self, resource_type: str, resource_id: str) -> bool:
        """The resource is current (known and not deleted)."""
        row = self._current(resource_type, resource_id)
        return row is not None and not row.deleted

    def referenced_by(
        self,
        resource_type: str,
        resource_id: str,
        limit: int = 10,
        *,
        exclude_types: Collection[str] = RECORDS_ABOUT,
    ) -> list[str]:
        """``Type/id`` of current resources that reference this one (to refuse a dangling delete).

        By default records *about* resources (AuditEvent, Provenance) do not count: they are meant to
        outlive what they name, and every access is audited, so otherwise nothing could be deleted.
        """
        return referencing(self._session, resource_type, resource_id, limit, exclude_types)

    def _write(
        self, content: dict[str, Any], version_id: int, existing: StoredResource | None = None
    ) -> dict[str, Any]:
        """Current row, version row and index rows. New rows go in as plain INSERTs rather than ORM
        objects (the unit-of-work bookkeeping cost more than the statements on every request); a new
        resource's three go in one statement on PostgreSQL (``store/writing.py``)."""
        now = self._now()
        meta = {**content.get("meta", {}), "versionId": str(version_id), "lastUpdated": _instant(now)}
        content = {**content, "meta": meta}
        resource_type, resource_id = content["resourceType"], content["id"]
        row = {
            "resource_type": resource_type,
            "id": resource_id,
            "version_id": version_id,
            "last_updated": now,
            "deleted": False,
            "content": content,
        }
        if existing is None:
            # A new resource has no index rows to replace.
            insert_new(self._session, row, index_rows(content))
            return content
        self._advance(existing, row)
        self._session.execute(
            delete(SearchIndexEntry).where(
                SearchIndexEntry.resource_type == resource_type, SearchIndexEntry.resource_id == resource_id
            )
        )
        self._session.execute(INSERT_VERSION, row)
        rows = index_rows(content)
        if rows:
            self._session.execute(INSERT_INDEX, rows)
        return content

    def _advance(self, existing: StoredResource, row: dict[str, Any]) -> None:
        """Move the current row from the version this session read to ``row``'s, or raise
        ``ConcurrentWrite`` (a 409) when another transaction has written a version since.

        The version read is a condition of the UPDATE, so the check and the write are one statement:
        on PostgreSQL a second writer waits for the first's row lock, then re-evaluates the condition
        against the committed row and changes nothing; on SQLite writers are serialised and the same
        condition sees the other's commit. Nothing is written after a lost race, so the transaction
        stays usable (no duplicate version row, no aborted PostgreSQL transaction).
        """
        result = self._session.execute(
            update(RESOURCE_TABLE)
            .where(
                RESOURCE_TABLE.c.resource_type == row["resource_type"],
                RESOURCE_TABLE.c.id == row["id"],
                RESOURCE_TABLE.c.version_id == existing.version_id,
            )
            .values(
                version_id=row["version_id"],
                last_updated=row["last_updated"],
                deleted=row["deleted"],
                content=row["content"],
            )
        )
        if not isinstance(result, CursorResult) or result.rowcount != 1:
            raise ConcurrentWrite(row["resource_type"], row["id"], existing.version_id)
        # The session's copy follows the database without an ORM flush of its own.
        for name in ("version_id", "last_updated", "deleted", "content"):
            set_committed_value(existing, name, row[name])

    def _lock(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current row as committed now, locked for this transaction (on SQLite the write lock the
        failed UPDATE took already keeps others out)."""
        row = self._session.get(
            StoredResource, (resource_type, resource_id), with_for_update=True, populate_existing=True
        )
        if row is None:  # rows are flagged as deleted, never removed
            raise not_found(resource_type, resource_id)
        self._held[(resource_type, resource_id)] = row
        return row

    def _current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current row, loaded at most once per unit of work.

        The session's identity map holds rows weakly: a row read for an access check is gone again by
        the time the reference check and the audit read the same Patient, and each read went back to
        the database. Holding the rows read keeps them in the identity map for the repository's life
        (one request), as if the first caller had kept its reference.
        """
        row = self._session.get(StoredResource, (resource_type, resource_id))
        if row is not None:
            self._held[(resource_type, resource_id)] = row
            if len(self._held) > MAX_HELD_ROWS:
                del self._held[next(iter(self._held))]
        return row


class ConcurrentWrite(OperationOutcomeError):
    """Another transaction wrote a new version of the resource after this one read it: 409."""

    def __init__(self, resource_type: str, resource_id: str, read_version: int) -> None:
        super().__init__(
            409,
            [
                Issue(
                    "error",
                    "conflict",
                    f"{resource_type}/{resource_id} was changed by someone else meanwhile (after version "
                    f"{read_version} was read); read it again",
                )
            ],
        )


def _without_meta(content: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in content.get("meta", {}).items() if k not in {"versionId", "lastUpdated"}}
    stripped = {k: v for k, v in content.items() if k != "meta"}
    return {**stripped, "meta": meta} if meta else stripped


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_id(resource_id: str) -> None:
    if not FHIR_ID.match(resource_id):
        raise invalid(f"{resource_id!r} is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)", "id")
