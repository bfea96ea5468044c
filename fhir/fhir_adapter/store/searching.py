"""Run a SearchQuery in SQL against the store's tables (SQLite and PostgreSQL, one code path).

Restrictions (what a caller may see) are AND-ed into the same SQL as the search, so totals and pages
only ever count visible resources. Only current, undeleted resources are found: deleting a resource
removes its index rows and flags it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fhir_adapter.search.query import IncludeSpec, SearchQuery
from fhir_adapter.search_params import SEARCH_PARAMS, ParamType, params_for
from fhir_adapter.store.indexing import ALL_REFERENCES, param_values
from fhir_adapter.store.search_filters import MemberOf, Restriction, ValueIn, conditions, order_by
from fhir_adapter.store.tables import SearchIndexEntry, StoredResource

__all__ = [
    "RECORDS_ABOUT",
    "MemberOf",
    "Restriction",
    "SearchPage",
    "ValueIn",
    "find_all",
    "include",
    "referencing",
    "revinclude",
    "search",
]


# Types whose references record history (who did what to which resource), not dependencies.
RECORDS_ABOUT = ("AuditEvent", "Provenance")


@dataclass(frozen=True)
class SearchPage:
    total: int
    resources: list[dict[str, Any]]


def search(session: Session, query: SearchQuery, restrictions: Sequence[Restriction] = ()) -> SearchPage:
    """One page (``_count`` from ``_offset``) and the total of all matches."""
    where = conditions(query, restrictions)
    total = session.scalar(select(func.count()).select_from(StoredResource).where(*where)) or 0
    if query.count == 0 or query.summary_count or query.offset >= total:
        return SearchPage(total, [])
    # The page's ids first, then only their documents: sorting whole JSON documents of every match
    # to keep twenty made PostgreSQL searches several times slower.
    page = select(StoredResource.id).where(*where).order_by(*order_by(query)).limit(query.count).offset(query.offset)
    ids = list(session.scalars(page))
    rows = session.execute(
        select(StoredResource.id, StoredResource.content).where(
            StoredResource.resource_type == query.resource_type, StoredResource.id.in_(ids)
        )
    )
    documents: dict[str, dict[str, Any]] = {row.id: row.content for row in rows}
    return SearchPage(total, [documents[i] for i in ids if i in documents])


def find_all(session: Session, query: SearchQuery, restrictions: Sequence[Restriction] = ()) -> list[dict[str, Any]]:
    """Every match in the query's order, ignoring ``_count`` and ``_offset``."""
    every = select(StoredResource.content).where(*conditions(query, restrictions)).order_by(*order_by(query))
    return list(session.scalars(every))


def include(session: Session, resources: Sequence[dict[str, Any]], spec: IncludeSpec) -> list[dict[str, Any]]:
    """Current, undeleted targets of ``spec.param`` of the given resources (of ``spec.source_type``),
    in the order first referenced; the given resources themselves are left out."""
    param = params_for(spec.source_type).get(spec.param)
    if param is None or param.type is not ParamType.REFERENCE:
        return []
    given = {_key(resource) for resource in resources}
    wanted: dict[str, None] = {}
    for resource in resources:
        if resource.get("resourceType") != spec.source_type:
            continue
        for value in param_values(resource, param):
            key = value.value or ""
            target_type, _, target_id = key.partition("/")
            if target_id and key not in given and spec.target_type in (None, target_type):
                wanted[key] = None
    by_type: dict[str, list[str]] = {}
    for key in wanted:
        target_type, _, target_id = key.partition("/")
        by_type.setdefault(target_type, []).append(target_id)
    found: dict[str, dict[str, Any]] = {}
    for target_type, ids in by_type.items():
        rows = session.scalars(
            select(StoredResource.content).where(
                StoredResource.resource_type == target_type,
                StoredResource.id.in_(ids),
                StoredResource.deleted.is_(False),
            )
        )
        found.update((_key(content), content) for content in rows)
    return [found[key] for key in wanted if key in found]


def revinclude(
    session: Session, resources: Sequence[dict[str, Any]], spec: IncludeSpec, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Current, undeleted resources of ``spec.source_type`` whose ``spec.param`` references any of the
    given resources (only those of ``spec.target_type`` when set), by id; the given ones are left out."""
    keys = {_key(resource) for resource in resources if spec.target_type in (None, resource.get("resourceType"))}
    if not keys:
        return []
    pointing = select(SearchIndexEntry.resource_id).where(
        SearchIndexEntry.resource_type == spec.source_type,
        SearchIndexEntry.param == spec.param,
        SearchIndexEntry.value.in_(sorted(keys)),
    )
    query = (
        select(StoredResource.content)
        .where(
            StoredResource.resource_type == spec.source_type,
            StoredResource.deleted.is_(False),
            StoredResource.id.in_(pointing),
        )
        .order_by(StoredResource.id)
        .limit(limit)
    )
    return [content for content in session.scalars(query) if _key(content) not in keys]


def referencing(
    session: Session,
    resource_type: str,
    resource_id: str,
    limit: int = 10,
    exclude_types: Collection[str] = RECORDS_ABOUT,
) -> list[str]:
    """``Type/id`` of current resources that reference ``resource_type/resource_id`` anywhere (other
    than itself), ordered by type and id; resources of ``exclude_types`` do not count."""
    # Rows written before every reference was indexed only have the reference search parameters.
    by_param = [
        and_(
            SearchIndexEntry.resource_type == source_type,
            SearchIndexEntry.param.in_(sorted(p.name for p in params if p.type is ParamType.REFERENCE)),
        )
        for source_type, params in SEARCH_PARAMS.items()
    ]
    itself = and_(SearchIndexEntry.resource_type == resource_type, SearchIndexEntry.resource_id == resource_id)
    query = (
        select(SearchIndexEntry.resource_type, SearchIndexEntry.resource_id)
        .join(
            StoredResource,
            and_(
                StoredResource.resource_type == SearchIndexEntry.resource_type,
                StoredResource.id == SearchIndexEntry.resource_id,
            ),
        )
        .where(
            SearchIndexEntry.value == f"{resource_type}/{resource_id}",
            or_(SearchIndexEntry.param == ALL_REFERENCES, *by_param),
            SearchIndexEntry.resource_type.not_in(sorted(exclude_types)),
            ~itself,
            StoredResource.deleted.is_(False),
        )
        .distinct()
        .order_by(SearchIndexEntry.resource_type, SearchIndexEntry.resource_id)
        .limit(limit)
    )
    return [f"{source_type}/{source_id}" for source_type, source_id in session.execute(query)]


def _key(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"
