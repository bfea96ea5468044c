"""Read, vread, instance history and search, each filtered by the access rules and audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fhir_adapter.bundles import history, page_links, searchset
from fhir_adapter.errors import Issue, OperationOutcomeError, not_found
from fhir_adapter.search.query import SearchQuery, parse_search
from fhir_adapter.store.history import version_records
from fhir_adapter.store.searching import include, revinclude

from bridge.audit import AuditKind
from bridge.fhir_api.context import AUDITED_READ_TYPES, FhirContext

MAX_COUNT = 200
MAX_HISTORY_COUNT = 100
# A page's _revinclude could otherwise pull in thousands (every Provenance of a busy resource).
MAX_INCLUDED = 1000


def read(ctx: FhirContext, resource_type: str, resource_id: str) -> dict[str, Any]:
    ctx.access.require(resource_type, "r")
    latest = ctx.latest_visible(resource_type, resource_id)
    resource = ctx.services.repository.read(resource_type, resource_id)  # 410 when deleted
    if resource_type in AUDITED_READ_TYPES:
        ctx.audit(AuditKind.READ, f"read {resource_type}/{resource_id}", [latest])
    return resource


def vread(ctx: FhirContext, resource_type: str, resource_id: str, version: str) -> dict[str, Any]:
    ctx.access.require(resource_type, "r")
    ctx.latest_visible(resource_type, resource_id)
    if not version.isdigit():
        raise not_found(resource_type, f"{resource_id}/_history/{version}")
    resource = ctx.services.repository.read_version(resource_type, resource_id, int(version))
    if resource_type in AUDITED_READ_TYPES:
        ctx.audit(AuditKind.VREAD, f"vread {resource_type}/{resource_id}/_history/{version}", [resource])
    return resource


def instance_history(
    ctx: FhirContext, resource_type: str, resource_id: str, params: list[tuple[str, str]]
) -> dict[str, Any]:
    ctx.access.require(resource_type, "r")
    ctx.latest_visible(resource_type, resource_id)
    count, offset = _paging(params, MAX_HISTORY_COUNT)
    total, versions = version_records(ctx.services.db, resource_type, resource_id, count, offset)
    url = f"{ctx.base_url}/{resource_type}/{resource_id}/_history"
    links = page_links(url, lambda at: [("_count", str(count)), ("_offset", str(at))], offset, count, total)
    if resource_type in AUDITED_READ_TYPES:
        ctx.audit(AuditKind.HISTORY, f"history {resource_type}/{resource_id}", [v.content for v in versions[:1]])
    return history(base_url=ctx.base_url, total=total, versions=versions, links=links, now=ctx.services.now())


def search(ctx: FhirContext, resource_type: str, params: list[tuple[str, str]], *, strict: bool) -> dict[str, Any]:
    ctx.access.require(resource_type, "s")
    query = parse_search(resource_type, params, strict=strict, max_count=MAX_COUNT)
    page = ctx.services.repository.search(query, ctx.access.search_restrictions(query))
    included = _included(ctx, query, page.resources)
    warnings = [
        Issue(
            "warning",
            "not-supported",
            f"search parameter {name!r} is not supported for {resource_type} and was ignored",
            (name,),
        )
        for name in query.unknown
    ]
    links = page_links(f"{ctx.base_url}/{resource_type}", query.link_params, query.offset, query.count, page.total)
    if resource_type in AUDITED_READ_TYPES:
        # Named by query and residents (as IHE BALP does), not resource by resource: a page of 200
        # entities would cost more than the search.
        ctx.audit_search(
            f"search {resource_type}: {page.total} found",
            [*page.resources, *included],
            query=f"{resource_type}?{urlencode(params)}",
        )
    if query.summary_count:
        return searchset(
            base_url=ctx.base_url,
            total=page.total,
            matches=[],
            links=links[:1],
            warnings=warnings,
            now=ctx.services.now(),
        )
    return searchset(
        base_url=ctx.base_url,
        total=page.total,
        matches=page.resources,
        included=included,
        links=links,
        warnings=warnings,
        now=ctx.services.now(),
    )


def _included(ctx: FhirContext, query: SearchQuery, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """_include and _revinclude results the caller may read; anything else is silently left out."""
    if not matches:
        return []
    seen = {(r["resourceType"], r["id"]) for r in matches}
    found: list[dict[str, Any]] = []
    db = ctx.services.db
    candidates = [r for spec in query.includes for r in include(db, matches, spec)]
    candidates += [r for spec in query.revincludes for r in revinclude(db, matches, spec, limit=MAX_INCLUDED)]
    for resource in candidates:
        key = (resource["resourceType"], resource["id"])
        if key in seen:
            continue
        seen.add(key)
        if ctx.access.may(resource["resourceType"], "r") and ctx.access.readable(resource):
            found.append(resource)
    return found


def _paging(params: list[tuple[str, str]], max_count: int) -> tuple[int, int]:
    values = dict(params)
    try:
        count = min(int(values.get("_count", "20")), max_count)
        offset = int(values.get("_offset", "0"))
    except ValueError:
        raise OperationOutcomeError.single(
            400, "invalid", "_count and _offset must be whole numbers", "_count"
        ) from None
    if count < 0 or offset < 0:
        raise OperationOutcomeError.single(400, "invalid", "_count and _offset must not be negative", "_count")
    return count, offset
