"""Results in over HTTP.

- `POST /ingest/hl7v2`: one ER7 message, answered with its HL7 ACK. HL7 over HTTP answers every message
  it could read with 200 and an ACK (AA, AE or AR, the reason in MSA-3 and ERR); 4xx with an
  OperationOutcome are for what is not an HL7 exchange at all: no token, no scope, a body over the limit.
- `POST /ingest/ecg`: multipart, `patient` (a Patient id or identifier value), one or more `file` parts,
  optional `device` (a Device id) and `sampling_rate` (CSV); 201 with the Observation, or 422 with an
  OperationOutcome saying why, the input kept in the quarantine.
- `GET /ingest/files/<sha256>/<name>`: an original file, for those who may see the resident; audited.

A quarantined input's entry id is in `X-Bridge-Quarantine`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fhir_adapter.errors import OperationOutcomeError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Message

from bridge.api.deps import PrincipalDep, ServicesDep, client_address, get_runtime
from bridge.api.fhir_http import read_limited
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.auth.principal import Principal
from bridge.directory.codes import NAMESPACE
from bridge.errors import AccessDenied, NotFound
from bridge.fhir_api.context import patient_entities
from bridge.ingest.ecg_service import EcgIngestion, EcgUpload
from bridge.ingest.hl7_service import Hl7Ingestion
from bridge.ingest.source_files import find_source_file
from bridge.json_codec import response_bytes
from bridge.services import Services

router = APIRouter(tags=["ingest"])

HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
FHIR_JSON = "application/fhir+json"
QUARANTINE_REASON_SYSTEM = f"{NAMESPACE}/CodeSystem/quarantine-reason"
LAB_RESULT_TYPES = ("DiagnosticReport", "Observation")
ECG_RESULT_TYPES = ("Observation", "DocumentReference")


async def _hl7_body(request: Request) -> bytes:
    limit = get_runtime(request).settings.hl7_max_message_bytes
    return await read_limited(request, limit)


def require_result_scopes(services: Services, principal: Principal, resource_types: tuple[str, ...]) -> None:
    try:
        for resource_type in resource_types:
            services.policy.require_scope(principal, resource_type, "c")
    except AccessDenied:
        needed = " and ".join(f"{t}.c" for t in resource_types)
        raise OperationOutcomeError.single(
            403, "forbidden", f"sending these results needs the scopes {needed}"
        ) from None


@router.post("/ingest/hl7v2")
def ingest_hl7v2(
    request: Request,
    body: Annotated[bytes, Depends(_hl7_body)],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Response:
    require_result_scopes(services, principal, LAB_RESULT_TYPES)
    ingestion = Hl7Ingestion(services, principal, channel="http", client_address=client_address(request))
    answer = ingestion.receive(body)
    headers = {"X-Bridge-Quarantine": answer.quarantine_id} if answer.quarantine_id else {}
    return Response(answer.ack, media_type=HL7_MEDIA_TYPE, headers=headers)


async def _ecg_form(request: Request) -> EcgUpload:
    limit = get_runtime(request).settings.ecg_max_upload_bytes
    body = await read_limited(request, limit)

    async def replay_body() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay_body).form(max_files=64, max_fields=16, max_part_size=limit)
    except (MultiPartException, ValueError) as exc:
        raise OperationOutcomeError.single(
            400, "structure", f"the upload is not a readable multipart form: {exc}"
        ) from None
    files: dict[str, bytes] = {}
    for part in form.getlist("file"):
        if isinstance(part, UploadFile):
            name = (part.filename or f"file-{len(files) + 1}").replace("\\", "/").rsplit("/", 1)[-1]
            files[name] = await part.read()
    await form.close()
    if not files:
        raise OperationOutcomeError.single(400, "required", "send the ECG as one or more `file` parts", "file")
    rate_text = form.get("sampling_rate")
    rate: float | None = None
    if isinstance(rate_text, str) and rate_text.strip():
        try:
            rate = float(rate_text)
        except ValueError:
            raise OperationOutcomeError.single(400, "value", f"sampling_rate {rate_text!r} is not a number") from None
    patient = form.get("patient")
    device = form.get("device")
    return EcgUpload(
        files=files,
        patient=patient.strip() if isinstance(patient, str) else "",
        device=device.strip() if isinstance(device, str) and device.strip() else None,
        sampling_rate=rate,
    )


@router.post("/ingest/ecg")
def ingest_ecg(
    request: Request,
    upload: Annotated[EcgUpload, Depends(_ecg_form)],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Response:
    require_result_scopes(services, principal, ECG_RESULT_TYPES)
    ingestion = EcgIngestion(services, principal, channel="upload", client_address=client_address(request))
    answer = ingestion.receive(upload)
    if answer.observation is None:
        rejection = answer.rejection
        assert rejection is not None
        outcome = OperationOutcomeError.single(422, "processing", rejection.reason).outcome()
        outcome["issue"][0]["details"] = {"coding": [{"system": QUARANTINE_REASON_SYSTEM, "code": rejection.code}]}
        headers = {"X-Bridge-Quarantine": answer.quarantine_id} if answer.quarantine_id else {}
        return JSONResponse(outcome, status_code=422, media_type=FHIR_JSON, headers=headers)
    observation = answer.observation
    location = f"{services.settings.public_base_url}/fhir/Observation/{observation['id']}"
    return Response(response_bytes(observation), status_code=201, media_type=FHIR_JSON, headers={"Location": location})


@router.get("/ingest/files/{sha256}/{name}")
def source_file(sha256: str, name: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    row = find_source_file(services, sha256, name)
    if row is None:
        raise NotFound()
    # The chart's rule: another organisation's residents answer 404.
    services.policy.require_resident(principal, row.patient_id)
    record_audit_event(
        services.repository,
        AuditKind.READ,
        Outcome.SUCCESS,
        Actor.of(principal),
        client_address(request),
        f"original file {name} of DocumentReference/{row.document_id}",
        services.now(),
        [
            {"what": {"reference": f"DocumentReference/{row.document_id}"}},
            *patient_entities(services, [row.patient_id]),
        ],
    )
    return Response(
        row.content,
        media_type=row.content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.name)}"},
    )
