"""Create (and conditional create), update with version checks, and delete; each checked and audited.

References must resolve: a relative reference names a current resource the caller may see, so no
write leaves a dangling pointer and no reference can be used to probe for records one may not see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fhir_adapter.errors import OperationOutcomeError, invalid
from fhir_adapter.references import is_placeholder, iter_references, relative_target
from fhir_adapter.search.query import parse_search
from fhir_adapter.validation import SUPPORTED_TYPES, validate_resource

from bridge.advice.write_rules import check_advice_write
from bridge.audit import AuditKind
from bridge.fhir_api.context import FhirContext
from bridge.prescriptions.write_rules import check_prescription_write
from bridge.referrals.write_rules import check_referral_write
from bridge.subscriptions import hooks as subscriptions

# Deleting these would rewrite the record of who did what, or orphan a resident's chart;
# they are retired with active=false or status=entered-in-error instead.
UNDELETABLE_TYPES = frozenset({"AuditEvent", "Provenance", "Patient", "Organization", "Practitioner"})
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')
_SERVER_META = ("versionId", "lastUpdated")


@dataclass(frozen=True)
class WriteResult:
    resource: dict[str, Any]
    status: int  # 201 created, 200 updated (or the existing match of a conditional create)


def create(
    ctx: FhirContext, resource: dict[str, Any], resource_id: str | None = None, if_none_exist: str | None = None
) -> WriteResult:
    resource_type = str(resource.get("resourceType"))
    ctx.access.require(resource_type, "c")
    if if_none_exist:
        existing_id = find_existing(ctx, resource_type, if_none_exist)
        if existing_id is not None:
            existing = ctx.services.repository.read(resource_type, existing_id)
            ctx.audit(
                AuditKind.CREATE, f"create {resource_type}: matched existing {resource_type}/{existing_id}", [existing]
            )
            return WriteResult(existing, 200)
    # The server assigns ids and version metadata; what the client sent there is not kept.
    incoming = {k: v for k, v in resource.items() if k != "id"}
    incoming = ctx.access.with_owner(_client_meta(incoming))
    content = validate_resource(incoming)
    ctx.access.check_write(content, None)
    check_prescription_write(ctx.services, ctx.principal, content, None)
    check_referral_write(ctx.services, ctx.principal, content, None)
    check_advice_write(ctx.services, ctx.principal, content, None)
    content = subscriptions.checked(ctx.services, ctx.principal, content, None)
    check_references(ctx, content)
    stored = ctx.services.repository.create(content, resource_id, validated=True)
    subscriptions.stored(ctx.services, ctx.principal, stored)
    ctx.audit(AuditKind.CREATE, f"create {resource_type}/{stored['id']}", [stored])
    return WriteResult(stored, 201)


def find_existing(ctx: FhirContext, resource_type: str, query: str) -> str | None:
    """The id of the one visible resource matching an If-None-Exist query; 412 when several match."""
    ctx.access.require(resource_type, "s")
    params = parse_qsl(query.split("?", 1)[-1], keep_blank_values=True)
    if not params:
        raise invalid("If-None-Exist needs search parameters, e.g. identifier=system|value", "If-None-Exist")
    search = parse_search(resource_type, params, strict=True, default_count=2, max_count=2)
    page = ctx.services.repository.search(search, ctx.access.search_restrictions(search))
    if page.total > 1:
        raise OperationOutcomeError.single(
            412,
            "duplicate",
            f"If-None-Exist {query!r} matches {page.total} {resource_type} resources; be more specific",
        )
    return str(page.resources[0]["id"]) if page.resources else None


def update(
    ctx: FhirContext, resource_type: str, resource_id: str, resource: dict[str, Any], if_match: str | None
) -> WriteResult:
    ctx.access.require(resource_type, "u")
    if resource.get("resourceType") != resource_type:
        raise invalid(f"the body is a {resource.get('resourceType')}, the URL names {resource_type}", "resourceType")
    if resource.get("id") != resource_id:
        raise invalid(
            f"the body's id {resource.get('id')!r} must equal the URL's id {resource_id!r}", f"{resource_type}.id"
        )
    expected = parse_if_match(if_match)
    # Updates never create: this server assigns ids (POST), so an unknown id is 404.
    old = ctx.latest_visible(resource_type, resource_id)
    content = validate_resource(ctx.access.with_owner(_client_meta(resource)))
    ctx.access.check_write(content, old)
    check_prescription_write(ctx.services, ctx.principal, content, old)
    check_referral_write(ctx.services, ctx.principal, content, old)
    check_advice_write(ctx.services, ctx.principal, content, old)
    content = subscriptions.checked(ctx.services, ctx.principal, content, old)
    check_references(ctx, content)
    stored = ctx.services.repository.update(content, if_match=expected, validated=True)
    subscriptions.stored(ctx.services, ctx.principal, stored)
    ctx.audit(AuditKind.UPDATE, f"update {resource_type}/{resource_id}", [stored])
    return WriteResult(stored, 200)


def delete(ctx: FhirContext, resource_type: str, resource_id: str) -> None:
    ctx.access.require(resource_type, "d")
    if resource_type in UNDELETABLE_TYPES:
        raise OperationOutcomeError.single(
            405, "not-supported", f"{resource_type} cannot be deleted; retire it with active=false or entered-in-error"
        )
    old = ctx.latest_visible(resource_type, resource_id)
    ctx.access.check_write(None, old)
    check_prescription_write(ctx.services, ctx.principal, None, old)
    check_referral_write(ctx.services, ctx.principal, None, old)
    check_advice_write(ctx.services, ctx.principal, None, old)
    referrers = ctx.services.repository.referenced_by(resource_type, resource_id)
    if referrers:
        raise OperationOutcomeError.single(
            409,
            "conflict",
            f"{resource_type}/{resource_id} is still referenced by {', '.join(referrers)}; change those first",
        )
    ctx.services.repository.delete(resource_type, resource_id)
    subscriptions.deleted(ctx.services, old)
    ctx.audit(AuditKind.DELETE, f"delete {resource_type}/{resource_id}", [old])


def check_references(ctx: FhirContext, resource: dict[str, Any]) -> None:
    for location, reference in iter_references(resource):
        expression = f"{resource['resourceType']}.{location}"
        if reference.startswith("#"):
            continue
        if is_placeholder(reference):
            raise OperationOutcomeError.single(
                422,
                "processing",
                f"{expression}: {reference} is only meaningful inside a transaction Bundle",
                expression,
            )
        target = relative_target(reference, (ctx.base_url,))
        if target is None:
            if "://" in reference:
                continue  # a record on another server: not ours to check
            raise OperationOutcomeError.single(
                422, "processing", f"{expression}: {reference!r} is not a reference of the form Type/id", expression
            )
        if target[0] not in SUPPORTED_TYPES or not _resolves(ctx, *target):
            raise OperationOutcomeError.single(
                422, "not-found", f"{expression}: {reference} does not exist or is not visible to you", expression
            )


def parse_if_match(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = _ETAG.match(if_match.strip())
    if not match:
        raise invalid(f'If-Match must be a version ETag like W/"3", not {if_match!r}', "If-Match")
    return int(match.group(1))


def _resolves(ctx: FhirContext, resource_type: str, resource_id: str) -> bool:
    try:
        target = ctx.services.repository.read(resource_type, resource_id)
    except OperationOutcomeError:
        return False
    return ctx.access.readable(target)


def _client_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in _SERVER_META}
    stripped = {k: v for k, v in resource.items() if k != "meta"}
    return {**stripped, "meta": meta} if meta else stripped
