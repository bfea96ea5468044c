"""The FHIR R4 REST API at /fhir: routes translate HTTP into the checked, audited interactions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fhir_adapter.capability import capability_statement
from fhir_adapter.errors import Issue, OperationOutcomeError, invalid, operation_outcome
from fhir_adapter.validation import SUPPORTED_TYPES

from bridge.api.deps import PrincipalDep, RuntimeDep, ServicesDep, client_address
from bridge.api.errors import request_translator
from bridge.api.fhir_http import (
    BodyDep,
    MediaTypeDep,
    base_url,
    fhir_response,
    parse_json_body,
    prefer,
    version_headers,
)
from bridge.audit import AuditKind
from bridge.fhir_api import reads, writes
from bridge.fhir_api.batch import run_bundle
from bridge.fhir_api.capabilities import supported_types
from bridge.fhir_api.context import Attempt, FhirContext

router = APIRouter(prefix="/fhir", tags=["fhir"])


async def fhir_context(request: Request, services: ServicesDep, principal: PrincipalDep) -> FhirContext:
    # Async, though it awaits nothing: it only assembles the context, so it needs no thread hop.
    return FhirContext(services, principal, base_url(request), client_address(request))


ContextDep = Annotated[FhirContext, Depends(fhir_context)]


def known_type(resource_type: str) -> str:
    if resource_type not in SUPPORTED_TYPES:
        raise OperationOutcomeError.single(
            404, "not-supported", f"{resource_type!r} is not a resource type this server supports"
        )
    return resource_type


def interaction(request: Request, kind: AuditKind, resource_type: str, resource_id: str | None = None) -> None:
    """Named before it runs, so a failure can be audited with what was attempted, and on what."""
    target = f"{resource_type}/{resource_id}" if resource_id else None
    request.state.fhir_interaction = Attempt(kind, f"{kind.value} {target or resource_type}", target)


def _pretty(request: Request) -> bool:
    return request.query_params.get("_pretty", "").lower() == "true"


def _written(request: Request, media: str, resource: dict[str, Any], status: int, base: str) -> Response:
    headers = version_headers(resource, base)
    returned = prefer(request, "return")
    if returned == "minimal":
        return fhir_response(None, media, status, headers)
    if returned == "operationoutcome":
        outcome = operation_outcome(
            [Issue("information", "informational", f"{resource['resourceType']}/{resource['id']} stored")]
        )
        return fhir_response(outcome, media, status, headers)
    return fhir_response(resource, media, status, headers, pretty=_pretty(request))


@router.get("/metadata")
def metadata(request: Request, media: MediaTypeDep, runtime: RuntimeDep) -> Response:
    settings = runtime.settings
    statement = capability_statement(
        base_url=base_url(request),
        software="nursing-home bridge",
        version="0.1.0",
        types=supported_types(),
        token_url=str(request.base_url).rstrip("/") + "/auth/token",
        max_count=reads.MAX_COUNT,
        max_bundle_entries=settings.fhir_max_bundle_entries,
        now=runtime.clock.now(),
    )
    return fhir_response(statement, media, pretty=_pretty(request))


@router.post("")
@router.post("/", include_in_schema=False)
def batch_or_transaction(request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    bundle = parse_json_body(body, request.headers.get("content-type"))
    kind = bundle.get("type") if isinstance(bundle, dict) else None
    interaction(request, AuditKind.TRANSACTION if kind == "transaction" else AuditKind.BATCH, "Bundle")
    limit = ctx.services.settings.fhir_max_bundle_entries
    response = run_bundle(ctx, bundle, request_translator(request), limit)
    return fhir_response(response, media, pretty=_pretty(request))


@router.get("/{resource_type}")
def search_type(resource_type: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    return _search(request, known_type(resource_type), list(request.query_params.multi_items()), media, ctx)


@router.post("/{resource_type}/_search")
def search_by_post(
    resource_type: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep
) -> Response:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise OperationOutcomeError.single(415, "not-supported", "POST _search takes application/x-www-form-urlencoded")
    form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return _search(request, known_type(resource_type), list(request.query_params.multi_items()) + form, media, ctx)


def _search(
    request: Request, resource_type: str, params: list[tuple[str, str]], media: str, ctx: FhirContext
) -> Response:
    interaction(request, AuditKind.SEARCH, resource_type)
    strict = prefer(request, "handling") == "strict"
    bundle = reads.search(ctx, resource_type, params, strict=strict)
    return fhir_response(bundle, media, pretty=_pretty(request))


@router.post("/{resource_type}")
def create(resource_type: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    resource_type = known_type(resource_type)
    resource = parse_json_body(body, request.headers.get("content-type"))
    interaction(request, AuditKind.CREATE, resource_type)
    if not isinstance(resource, dict):
        raise invalid("the body must be a FHIR resource (a JSON object)")
    if resource.get("resourceType") != resource_type:
        raise invalid(f"the body is a {resource.get('resourceType')!r}, the URL names {resource_type}", "resourceType")
    result = writes.create(ctx, resource, if_none_exist=request.headers.get("if-none-exist"))
    return _written(request, media, result.resource, result.status, ctx.base_url)


@router.get("/{resource_type}/{resource_id}")
def read(resource_type: str, resource_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.READ, resource_type, resource_id)
    resource = reads.read(ctx, known_type(resource_type), resource_id)
    return fhir_response(resource, media, headers=version_headers(resource), pretty=_pretty(request))


@router.put("/{resource_type}/{resource_id}")
def update(
    resource_type: str, resource_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep
) -> Response:
    resource_type = known_type(resource_type)
    resource = parse_json_body(body, request.headers.get("content-type"))
    interaction(request, AuditKind.UPDATE, resource_type, resource_id)
    if not isinstance(resource, dict):
        raise invalid("the body must be a FHIR resource (a JSON object)")
    result = writes.update(ctx, resource_type, resource_id, resource, request.headers.get("if-match"))
    return _written(request, media, result.resource, result.status, ctx.base_url)


@router.delete("/{resource_type}/{resource_id}")
def delete(resource_type: str, resource_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.DELETE, resource_type, resource_id)
    writes.delete(ctx, known_type(resource_type), resource_id)
    return Response(status_code=204)


@router.get("/{resource_type}/{resource_id}/_history")
def history(resource_type: str, resource_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.HISTORY, resource_type, resource_id)
    params = list(request.query_params.multi_items())
    bundle = reads.instance_history(ctx, known_type(resource_type), resource_id, params)
    return fhir_response(bundle, media, pretty=_pretty(request))


@router.get("/{resource_type}/{resource_id}/_history/{version_id}")
def vread(
    resource_type: str, resource_id: str, version_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep
) -> Response:
    interaction(request, AuditKind.VREAD, resource_type, resource_id)
    resource = reads.vread(ctx, known_type(resource_type), resource_id, version_id)
    return fhir_response(resource, media, headers=version_headers(resource), pretty=_pretty(request))
