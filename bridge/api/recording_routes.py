"""Recording files, for the staff who may see the resident; every download is audited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from bridge.api.deps import PrincipalDep, ServicesDep, client_address
from bridge.audit import Actor, AuditKind, Outcome, record_audit_event
from bridge.errors import NotFound
from bridge.fhir_api.context import patient_entities
from bridge.recording.tables import ConsultRecording

router = APIRouter(tags=["recordings"])


@router.get("/recordings/{consult_id}/{name}")
def recording_file(
    consult_id: str, name: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> FileResponse:
    row = services.db.scalar(select(ConsultRecording).where(ConsultRecording.path == f"{consult_id}/{name}"))
    if row is None or row.deleted_at is not None:
        raise NotFound()
    # The same rule as the resident's chart: another organisation's residents answer 404.
    services.policy.require_resident(principal, row.patient_id)
    directory = services.settings.recording_dir.resolve()
    path = (directory / row.path).resolve()
    if not path.is_relative_to(directory) or not path.is_file():
        raise NotFound()
    entities = [
        {"what": {"reference": f"DocumentReference/{row.id}"}},
        *patient_entities(services, [row.patient_id]),
    ]
    record_audit_event(
        services.repository,
        AuditKind.READ,
        Outcome.SUCCESS,
        Actor.of(principal),
        client_address(request),
        f"recording {row.path} of consult {row.consult_id}",
        services.now(),
        entities,
    )
    return FileResponse(path, media_type=row.content_type, filename=name)
