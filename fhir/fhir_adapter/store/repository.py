"""The FHIR repository: every write of a resource goes through here.

Reads and writes happen in the caller's SQLAlchemy session; the caller owns the transaction, so a
resource and the workflow rows that depend on it commit or roll back together.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from fhir_adapter.errors import OperationOutcomeError, gone, invalid, not_found, version_conflict
from fhir_adapter.search_params import ParamType, params_for
from fhir_adapter.store.indexing import index_values, normalise_string, reference_key
from fhir_adapter.store.tables import ResourceVersion, SearchIndexEntry, StoredResource
from fhir_adapter.validation import validate_resource

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
Criteria = Mapping[str, str | Collection[str]]


class ResourceRepository(Protocol):
    def create(self, resource: dict[str, Any], resource_id: str | None = None) -> dict[str, Any]: ...
    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]: ...
    def read_version(self, resource_type: str, resource_id: str, version_id: int) -> dict[str, Any]: ...
    def update(self, resource: dict[str, Any], if_match: int | None = None) -> dict[str, Any]: ...
    def delete(self, resource_type: str, resource_id: str) -> None: ...
    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]: ...
    def find(self, resource_type: str, criteria: Criteria) -> list[dict[str, Any]]: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlResourceRepository:
    def __init__(self, session: Session, now: Callable[[], datetime] = _utcnow) -> None:
        self._session = session
        self._now = now

    def create(self, resource: dict[str, Any], resource_id: str | None = None) -> dict[str, Any]:
        if not isinstance(resource, dict):
            raise invalid("a FHIR resource must be a JSON object")
        new_id = resource_id or str(uuid.uuid4())
        _check_id(new_id)
        content = validate_resource({**resource, "id": new_id})
        if self._session.get(StoredResource, (content["resourceType"], new_id)) is not None:
            raise OperationOutcomeError.single(409, "duplicate", f"{content['resourceType']}/{new_id} exists")
        return self._write(content, version_id=1)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        row = self._session.get(StoredResource, (resource_type, resource_id))
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

    def update(self, resource: dict[str, Any], if_match: int | None = None) -> dict[str, Any]:
        """Write a new version; creates the resource when its id is new (update as create).

        An update that changes nothing but meta returns the current version unchanged, so replays and
        repeated seeding do not pile up identical versions.
        """
        resource_id = resource.get("id") if isinstance(resource, dict) else None
        if not isinstance(resource_id, str):
            raise invalid("an update needs the resource id", "id")
        _check_id(resource_id)
        content = validate_resource(resource)
        current = self._session.get(StoredResource, (content["resourceType"], resource_id))
        if current is None:
            if if_match is not None:
                raise not_found(content["resourceType"], resource_id)
            return self._write(content, version_id=1)
        if if_match is not None and if_match != current.version_id:
            raise version_conflict(content["resourceType"], resource_id, if_match, current.version_id)
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
        version_id = current.version_id + 1
        current.version_id, current.last_updated, current.deleted = version_id, now, True
        self._session.add(
            ResourceVersion(
                resource_type=resource_type,
                id=resource_id,
                version_id=version_id,
                last_updated=now,
                deleted=True,
                content=current.content,
            )
        )
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
        """Current, undeleted resources matching every criterion (a criterion matches any of its values).

        Token values are ``code`` or ``system|code``; references ``Type/id``; strings match by prefix,
        ignoring case.
        """
        query = select(StoredResource).where(
            StoredResource.resource_type == resource_type, StoredResource.deleted.is_(False)
        )
        params = params_for(resource_type)
        for name, raw in criteria.items():
            wanted = [raw] if isinstance(raw, str) else list(raw)
            if name == "_id":
                query = query.where(StoredResource.id.in_(wanted))
                continue
            if name not in params:
                raise invalid(f"{resource_type} has no search parameter {name!r}")
            matches = select(SearchIndexEntry.resource_id).where(
                SearchIndexEntry.resource_type == resource_type,
                SearchIndexEntry.param == name,
                or_(*(_value_clause(params[name].type, value) for value in wanted)) if wanted else false(),
            )
            query = query.where(StoredResource.id.in_(matches))
        return [row.content for row in self._session.scalars(query.order_by(StoredResource.id)).all()]

    def _write(
        self, content: dict[str, Any], version_id: int, existing: StoredResource | None = None
    ) -> dict[str, Any]:
        now = self._now()
        meta = {**content.get("meta", {}), "versionId": str(version_id), "lastUpdated": _instant(now)}
        content = {**content, "meta": meta}
        resource_type, resource_id = content["resourceType"], content["id"]
        if existing is None:
            self._session.add(
                StoredResource(
                    resource_type=resource_type,
                    id=resource_id,
                    version_id=version_id,
                    last_updated=now,
                    deleted=False,
                    content=content,
                )
            )
        else:
            existing.version_id, existing.last_updated = version_id, now
            existing.deleted, existing.content = False, content
        self._session.add(
            ResourceVersion(
                resource_type=resource_type,
                id=resource_id,
                version_id=version_id,
                last_updated=now,
                deleted=False,
                content=content,
            )
        )
        self._session.execute(
            delete(SearchIndexEntry).where(
                SearchIndexEntry.resource_type == resource_type, SearchIndexEntry.resource_id == resource_id
            )
        )
        self._session.add_all(
            SearchIndexEntry(
                resource_type=resource_type,
                resource_id=resource_id,
                param=value.param,
                system=value.system,
                value=value.value,
                date_start=value.date_start,
                date_end=value.date_end,
            )
            for value in index_values(content)
        )
        self._session.flush()
        return content


def _value_clause(kind: ParamType, value: str) -> Any:
    if kind is ParamType.TOKEN:
        if "|" in value:
            system, code = value.split("|", 1)
            clauses = [SearchIndexEntry.system == system] if system else [SearchIndexEntry.system.is_(None)]
            return and_(*clauses, SearchIndexEntry.value == code) if code else and_(*clauses)
        return SearchIndexEntry.value == value
    if kind is ParamType.REFERENCE:
        return SearchIndexEntry.value == (reference_key(value) or value)
    if kind is ParamType.STRING:
        return SearchIndexEntry.value.startswith(normalise_string(value), autoescape=True)
    raise invalid(f"searching by {kind} parameters takes a date prefix, not supported by find()")


def _without_meta(content: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in content.get("meta", {}).items() if k not in {"versionId", "lastUpdated"}}
    stripped = {k: v for k, v in content.items() if k != "meta"}
    return {**stripped, "meta": meta} if meta else stripped


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_id(resource_id: str) -> None:
    if not FHIR_ID.match(resource_id):
        raise invalid(f"{resource_id!r} is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)", "id")
