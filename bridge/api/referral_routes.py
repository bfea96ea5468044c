"""The referral operations of the FHIR API (bridge/referrals):

    POST /fhir/Patient/{id}/$refer                  Parameters -> 201 ServiceRequest (its Task is created with it)
        reason (string, required), urgency (code: routine | urgent | asap | stat; `priority` is accepted too),
        reasonCode (CodeableConcept or Coding)*, supportingInfo (Reference to the resident's Observation or
        DiagnosticReport)*, hospital (Reference Organization/id or its id; default the doctor's own),
        code (CodeableConcept; default SNOMED 11429006 consultation), note (string)
    POST /fhir/ServiceRequest/{id}/$accept          appointment (dateTime with a zone, not past), note
    POST /fhir/ServiceRequest/{id}/$decline         reason (required)
    POST /fhir/ServiceRequest/{id}/$complete        outcome (required)
    POST /fhir/ServiceRequest/{id}/$cancel          reason
Each operation answers the ServiceRequest as it now stands; the Task that tracks it (`Task?focus=
ServiceRequest/{id}`) carries the state (requested, accepted, rejected, completed, cancelled).
Routes only translate; registered ahead of bridge/api/fhir_routes.py like the other operations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bridge.api.fhir_http import BodyDep, MediaTypeDep, fhir_response, parse_json_body, version_headers
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind
from bridge.errors import FieldError, InvalidInput
from bridge.referrals import flow
from bridge.referrals.records import Referral, ReferralDetails
from bridge.referrals.service import refer as refer_resident

router = APIRouter(prefix="/fhir", tags=["fhir"])
Parameter = dict[str, Any]


def _parameters(request: Request, body: bytes) -> list[Parameter]:
    if not body.strip():
        return []
    parsed = parse_json_body(body, request.headers.get("content-type"))
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "Parameters":
        raise InvalidInput([FieldError("Parameters", "referral.error.parameters_expected")])
    parts = parsed.get("parameter", [])
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _all(parameters: list[Parameter], *names: str) -> list[Parameter]:
    return [p for p in parameters if p.get("name") in names]


def _text(parameters: list[Parameter], *names: str) -> str | None:
    for part in _all(parameters, *names):
        for key in ("valueString", "valueCode", "valueMarkdown", "valueId"):
            if isinstance(part.get(key), str):
                return str(part[key])
    return None


def _reference(part: Parameter) -> str:
    value = part.get("valueReference")
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return str(part.get("valueString") or "")


def _concepts(parameters: list[Parameter], name: str) -> list[dict[str, Any]]:
    concepts: list[dict[str, Any]] = []
    for part in _all(parameters, name):
        if isinstance(part.get("valueCodeableConcept"), dict):
            concepts.append(part["valueCodeableConcept"])
        elif isinstance(part.get("valueCoding"), dict):
            concepts.append({"coding": [part["valueCoding"]]})
        else:
            raise InvalidInput([FieldError(name, "referral.error.concept_expected", {"name": name})])
    return concepts


def _moment(parameters: list[Parameter], name: str) -> datetime | None:
    part = next(iter(_all(parameters, name)), None)
    if part is None:
        return None
    raw = part.get("valueDateTime") or part.get("valueInstant") or part.get("valueString")
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput([FieldError(name, "referral.error.datetime", {"name": name})])
    return moment


def details_from(parameters: list[Parameter]) -> ReferralDetails:
    hospital = next((_reference(p) for p in _all(parameters, "hospital", "performer")), None)
    services = _concepts(parameters, "code")
    return ReferralDetails(
        reason=_text(parameters, "reason") or "",
        urgency=_text(parameters, "urgency", "priority") or "",
        supporting=[_reference(p) for p in _all(parameters, "supportingInfo")],
        hospital_id=hospital or None,
        note=_text(parameters, "note"),
        reason_codes=_concepts(parameters, "reasonCode"),
        service=services[0] if services else None,
    )


def _answer(media: str, referral: Referral, status: int = 200, base: str | None = None) -> Response:
    resource = referral.service_request
    return fhir_response(resource, media, status, headers=version_headers(resource, base))


@router.post("/Patient/{patient_id}/$refer")
def refer(patient_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.CREATE, "ServiceRequest")
    details = details_from(_parameters(request, body))
    referral = refer_resident(ctx.services, ctx.principal, patient_id, details)
    ctx.audit(
        AuditKind.CREATE,
        f"$refer Patient/{patient_id}: ServiceRequest/{referral.service_request['id']}",
        [referral.service_request, referral.task],
    )
    return _answer(media, referral, 201, ctx.base_url)


@router.post("/ServiceRequest/{request_id}/$accept")
def accept(request_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "ServiceRequest", request_id)
    parameters = _parameters(request, body)
    referral = flow.accept(
        ctx.services, ctx.principal, request_id, _moment(parameters, "appointment"), _text(parameters, "note")
    )
    ctx.audit(AuditKind.UPDATE, f"$accept ServiceRequest/{request_id}", [referral.service_request, referral.task])
    return _answer(media, referral)


@router.post("/ServiceRequest/{request_id}/$decline")
def decline(request_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "ServiceRequest", request_id)
    reason = _text(_parameters(request, body), "reason")
    referral = flow.decline(ctx.services, ctx.principal, request_id, reason)
    ctx.audit(AuditKind.UPDATE, f"$decline ServiceRequest/{request_id}", [referral.service_request, referral.task])
    return _answer(media, referral)


@router.post("/ServiceRequest/{request_id}/$complete")
def complete(request_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "ServiceRequest", request_id)
    outcome = _text(_parameters(request, body), "outcome", "note")
    referral = flow.complete(ctx.services, ctx.principal, request_id, outcome)
    ctx.audit(AuditKind.UPDATE, f"$complete ServiceRequest/{request_id}", [referral.service_request, referral.task])
    return _answer(media, referral)


@router.post("/ServiceRequest/{request_id}/$cancel")
def cancel(request_id: str, request: Request, body: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.UPDATE, "ServiceRequest", request_id)
    reason = _text(_parameters(request, body), "reason")
    referral = flow.cancel(ctx.services, ctx.principal, request_id, reason)
    ctx.audit(AuditKind.UPDATE, f"$cancel ServiceRequest/{request_id}", [referral.service_request, referral.task])
    return _answer(media, referral)
