"""The prescription operations of the FHIR API (docs/prescriptions.md):

    POST /fhir/MedicationRequest/{id}/$check            OperationOutcome of safety findings
    POST /fhir/MedicationRequest/{id}/$sign             Parameters: override (finding, reason)*
    POST /fhir/Task/{id}/$accept | $reject | $dispense | $dispatch | $deliver | $confirm-receipt | $cancel

Routes only translate: Parameters in, the services in bridge/prescriptions do the work, resources out.
Registered ahead of bridge/api/fhir_routes.py so no catch-all there can take these paths.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.api.errors import request_translator
from bridge.api.fhir_http import BodyDep, MediaTypeDep, fhir_response, parse_json_body, version_headers
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind
from bridge.errors import FieldError, InvalidInput
from bridge.prescriptions import home_flow, pharmacy_flow, signing_flow
from bridge.prescriptions.overrides import overrides_from_parameters

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _body(request: Request, body: bytes) -> dict[str, Any] | None:
    if not body.strip():
        return None
    parsed = parse_json_body(body, request.headers.get("content-type"))
    if not isinstance(parsed, dict):
        raise InvalidInput([FieldError("body", "prescription.error.parameters_expected")])
    return parsed


def _parameter(parameters: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if parameters is None:
        return None
    if parameters.get("resourceType") != "Parameters":
        raise InvalidInput([FieldError("Parameters", "prescription.error.parameters_expected")])
    return next((p for p in parameters.get("parameter", []) if p.get("name") == name), None)


def _text(parameters: dict[str, Any] | None, name: str) -> str | None:
    part = _parameter(parameters, name)
    if part is None:
        return None
    value = part.get("valueString", part.get("valueCode", part.get("valueMarkdown")))
    return str(value) if value is not None else None


def _instant(parameters: dict[str, Any] | None, name: str) -> datetime:
    part = _parameter(parameters, name) or {}
    raw = part.get("valueDateTime") or part.get("valueInstant")
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput([FieldError(name, "prescription.error.datetime", {"name": name})])
    return moment


def _decimal(parameters: dict[str, Any] | None, name: str) -> Decimal:
    part = _parameter(parameters, name) or {}
    raw = (part.get("valueQuantity") or {}).get("value", part.get("valueDecimal", part.get("valueInteger")))
    try:
        number = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():  # NaN and Infinity parse, and would be stored as a count of tablets
        raise InvalidInput([FieldError(name, "prescription.error.number", {"name": name})])
    return number


def _answer(media: str, resource: dict[str, Any]) -> Response:
    return fhir_response(resource, media, headers=version_headers(resource))


@router.post("/MedicationRequest/{request_id}/$check")
def check(request_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.READ, "MedicationRequest", request_id)
    outcome = signing_flow.check(ctx.services, ctx.principal, request_id, request_translator(request))
    ctx.audit(AuditKind.READ, f"$check MedicationRequest/{request_id}", [])
    return fhir_response(outcome, media)


@router.post("/MedicationRequest/{request_id}/$sign")
def sign(request_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "MedicationRequest", request_id)
    overrides = overrides_from_parameters(_body(request, body))
    signed = signing_flow.sign(ctx.services, ctx.principal, request_id, overrides, request_translator(request))
    ctx.audit(
        AuditKind.UPDATE,
        f"$sign MedicationRequest/{request_id}",
        [signed.medication_request, signed.provenance, signed.task],
    )
    result = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "medicationRequest", "resource": signed.medication_request},
            {"name": "provenance", "resource": signed.provenance},
            {"name": "task", "resource": signed.task},
        ],
    }
    return fhir_response(result, media)


@router.post("/Task/{task_id}/$accept")
def accept(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    task = pharmacy_flow.accept(ctx.services, ctx.principal, task_id, _text(_body(request, body), "note"))
    ctx.audit(AuditKind.UPDATE, f"$accept Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$reject")
def reject(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    task = pharmacy_flow.reject(ctx.services, ctx.principal, task_id, _text(_body(request, body), "reason") or "")
    ctx.audit(AuditKind.UPDATE, f"$reject Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$dispense")
def dispense(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.CREATE, "Task", task_id)
    given = _body(request, body) or {}
    if given.get("resourceType") == "Parameters":
        given = (_parameter(given, "dispense") or {}).get("resource") or {}
    task = pharmacy_flow.dispense(ctx.services, ctx.principal, task_id, given)
    ctx.audit(AuditKind.UPDATE, f"$dispense Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$dispatch")
def dispatch(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    parameters = _body(request, body)
    details = pharmacy_flow.Dispatch(
        courier=_text(parameters, "courier") or "",
        tracking_number=_text(parameters, "trackingNumber") or "",
        expected_arrival=_instant(parameters, "expectedArrival"),
    )
    task = pharmacy_flow.dispatch(ctx.services, ctx.principal, task_id, details)
    ctx.audit(AuditKind.UPDATE, f"$dispatch Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$deliver")
def deliver(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    task = pharmacy_flow.deliver(ctx.services, ctx.principal, task_id, _text(_body(request, body), "note"))
    ctx.audit(AuditKind.UPDATE, f"$deliver Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$confirm-receipt")
def confirm_receipt(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    parameters = _body(request, body)
    receipt = home_flow.Receipt(
        quantity_received=_decimal(parameters, "quantityReceived"),
        discrepancy=_text(parameters, "discrepancy"),
        note=_text(parameters, "note"),
    )
    task = home_flow.confirm_receipt(ctx.services, ctx.principal, task_id, receipt)
    ctx.audit(AuditKind.UPDATE, f"$confirm-receipt Task/{task_id}", [task])
    return _answer(media, task)


@router.post("/Task/{task_id}/$cancel")
def cancel(task_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "Task", task_id)
    task = home_flow.cancel(ctx.services, ctx.principal, task_id, _text(_body(request, body), "reason") or "")
    ctx.audit(AuditKind.UPDATE, f"$cancel Task/{task_id}", [task])
    return _answer(media, task)
