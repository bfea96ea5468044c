"""The advice operations of the FHIR API:

    POST /fhir/Patient/{id}/$advise      Parameters (text, task*, about*, encounter) -> 201 Communication
    POST /fhir/Task/{id}/$complete       Parameters (note?) -> the completed follow-up Task
    POST /fhir/Task/{id}/$cancel         a follow-up Task: Parameters (reason?); any other Task: the
                                         prescription operation (bridge/api/prescription_routes.py)

`$acknowledge` of advice shares its path with critical-value alerts (bridge/api/critical_routes.py
dispatches on the Communication's category). Routes only translate: the work is in bridge/advice.
Registered ahead of bridge/api/prescription_routes.py and fhir_routes.py so their paths cannot take these.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.advice import handling, sending
from bridge.advice.parameters import advise_input, note_of
from bridge.advice.parties import is_follow_up_id
from bridge.api import prescription_routes
from bridge.api.fhir_http import BodyDep, MediaTypeDep, base_url, fhir_response, parse_json_body, version_headers
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _body(request: Request, body: bytes) -> Any:
    return parse_json_body(body, request.headers.get("content-type")) if body.strip() else None


@router.post("/Patient/{patient_id}/$advise")
def advise(patient_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.CREATE, "Communication")
    given = advise_input(_body(request, body))
    communication = sending.send_advice(
        ctx.services, ctx.principal, patient_id, given.text, given.tasks, given.about, given.encounter
    )
    ctx.audit(AuditKind.CREATE, f"$advise Patient/{patient_id}: Communication/{communication['id']}", [communication])
    return fhir_response(communication, media, 201, version_headers(communication, base_url(request)))


@router.post("/Task/{task_id}/$complete")
def complete(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    parameters = _body(request, body)
    task = handling.complete_task(ctx.services, ctx.principal, task_id, note_of(parameters))
    ctx.audit(AuditKind.UPDATE, f"$complete Task/{task_id}", [task])
    return fhir_response(task, media, headers=version_headers(task))


@router.post("/Task/{task_id}/$cancel")
def cancel(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    if not is_follow_up_id(ctx.services, task_id):
        return prescription_routes.cancel(task_id, request, body, media, ctx)
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    parameters = _body(request, body)
    task = handling.cancel_task(ctx.services, ctx.principal, task_id, note_of(parameters, "reason"))
    ctx.audit(AuditKind.UPDATE, f"$cancel Task/{task_id}", [task])
    return fhir_response(task, media, headers=version_headers(task))
