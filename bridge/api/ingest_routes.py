"""Results in over HTTP: `POST /ingest/hl7v2` (one ER7 message, answered with its HL7 ACK).

HL7 over HTTP answers every message it could read with 200 and an ACK (AA, AE or AR, the reason in
MSA-3 and ERR); 4xx with an OperationOutcome are for what is not an HL7 exchange at all: no token, no
scope, a body over the size limit. A quarantined message's entry id is in `X-Bridge-Quarantine`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fhir_adapter.errors import OperationOutcomeError

from bridge.api.deps import PrincipalDep, ServicesDep, client_address, get_runtime
from bridge.auth.principal import Principal
from bridge.errors import AccessDenied
from bridge.ingest.hl7_service import Hl7Ingestion
from bridge.services import Services

router = APIRouter(tags=["ingest"])

HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
RESULT_TYPES = ("DiagnosticReport", "Observation")


async def _hl7_body(request: Request) -> bytes:
    limit = get_runtime(request).settings.hl7_max_message_bytes
    return await read_limited(request, limit)


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (not after buffering it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def require_result_scopes(services: Services, principal: Principal) -> None:
    try:
        for resource_type in RESULT_TYPES:
            services.policy.require_scope(principal, resource_type, "c")
    except AccessDenied:
        raise OperationOutcomeError.single(
            403, "forbidden", "sending results needs the scopes system/DiagnosticReport.c and system/Observation.c"
        ) from None


@router.post("/ingest/hl7v2")
def ingest_hl7v2(
    request: Request,
    body: Annotated[bytes, Depends(_hl7_body)],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Response:
    require_result_scopes(services, principal)
    ingestion = Hl7Ingestion(services, principal, channel="http", client_address=client_address(request))
    answer = ingestion.receive(body)
    headers = {"X-Bridge-Quarantine": answer.quarantine_id} if answer.quarantine_id else {}
    return Response(answer.ack, media_type=HL7_MEDIA_TYPE, headers=headers)


def _too_large(limit: int) -> OperationOutcomeError:
    return OperationOutcomeError.single(413, "too-long", f"the request body is larger than {limit} bytes")
