"""Referral pages: the doctor's referral form beside the resident's chart (`_referral_panel.html`, and
the form alone when a submission is refused), the list at /referrals (the receiving hospital's doctors
accept, decline and complete; the referring doctor cancels; the home's nurses follow the status to
arrange transport), all through the services in bridge/referrals, audited like the FHIR operations.

A refused form shows again with what was typed and each error at its field; nothing was stored.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.audit import AuditKind
from bridge.auth.principal import Principal
from bridge.errors import AccessDenied, BridgeError, Conflict, FieldError, InvalidInput
from bridge.referrals import flow, views
from bridge.referrals.records import Referral, ReferralDetails
from bridge.referrals.service import refer
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.services import Services
from portal.prescription_forms import fhir_context, field_errors, section
from portal.rendering import render
from portal.result_entry_pages import local_time

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

OPERATIONS = ("accept", "decline", "complete", "cancel")
# The fields of each answer's form (named as the services name them in their errors).
FORM_FIELDS = {
    "accept": ("appointment", "note"),
    "decline": ("reason",),
    "complete": ("outcome",),
    "cancel": ("reason",),
}


def referral_panel(services: Services, principal: Principal, patient_id: str) -> dict[str, Any]:
    """The context of `_referral_panel.html` on the resident's page (the caller has checked access)."""
    doctor = principal.is_user and principal.role is Role.DOCTOR
    # A pharmacy sees a resident for the prescriptions routed to it, not for her hospital visits.
    shown = principal.is_user and principal.role in {Role.DOCTOR, Role.NURSE}
    return {
        "shown": shown,
        "items": views.resident_referrals(services, principal, patient_id) if shown else [],
        "form": views.referral_form(services, principal, patient_id) if doctor else None,
        "typed": None,
        "errors": {},
        "problem": None,
        "local_time": local_time,
    }


def _form_page(
    request: Request,
    services: Services,
    principal: Principal,
    patient_id: str,
    *,
    typed: dict[str, Any] | None = None,
    errors: dict[str, tuple[str, dict[str, Any]]] | None = None,
    problem: tuple[str, dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    patient = services.policy.require_resident(principal, patient_id)
    panel = {
        **referral_panel(services, principal, patient_id),
        "typed": typed,
        "errors": errors or {},
        "problem": problem,
    }
    context = {"resident": services.residents.summaries([patient])[0], "referral_panel": panel}
    return render(request, "referral_form.html", context, status_code)


@router.get("/residents/{patient_id}/referrals/new")
def new_referral(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return _form_page(request, services, principal, patient_id)


@router.post("/residents/{patient_id}/referrals")
async def submit_referral(
    patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    submitted = await request.form()
    typed: dict[str, Any] = {name: str(submitted.get(name, "")) for name in ("reason", "urgency", "hospital", "note")}
    typed["results"] = [str(v) for v in submitted.getlist("results")]
    return await run_in_threadpool(_refer, request, services, principal, patient_id, typed)


def _refer(
    request: Request, services: Services, principal: Principal, patient_id: str, typed: dict[str, Any]
) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    services.policy.require_resident(principal, patient_id)
    details = ReferralDetails(
        reason=typed["reason"],
        urgency=typed["urgency"],
        supporting=typed["results"],
        hospital_id=typed["hospital"] or None,
        note=typed["note"],
    )
    try:
        with services.db.begin_nested():  # a refusal leaves nothing behind, whatever was written first
            referral = refer(services, principal, patient_id, details)
    except InvalidInput as exc:
        return _form_page(
            request, services, principal, patient_id, typed=typed, errors=field_errors(exc), status_code=422
        )
    except Conflict as exc:
        problem = (exc.message_key, exc.params)
        return _form_page(request, services, principal, patient_id, typed=typed, problem=problem, status_code=409)
    _audit(request, services, principal, "$refer", referral, AuditKind.CREATE)
    return RedirectResponse(f"/residents/{patient_id}?referred={referral.service_request['id']}#referrals", 303)


# --- the list of referrals, and the answers ------------------------------------------------------------


def _list_context(
    request: Request, services: Services, principal: Principal, failed: dict[str, Any] | None = None
) -> dict[str, Any]:
    if not principal.is_user or principal.role not in {Role.DOCTOR, Role.NURSE}:
        raise AccessDenied()
    if principal.role is Role.DOCTOR:
        items = views.hospital_referrals(services, principal)
    else:
        items = views.home_referrals(services, principal)
    done = request.query_params.get("done")
    return {
        "items": items,
        "local_time": local_time,
        "failed": failed,
        "done": done if done in OPERATIONS else None,
    }


@router.get("/referrals")
def referral_list(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return render(request, "referrals.html", _list_context(request, services, principal))


@router.get("/referrals/section")
def referral_section(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return section(request, "referral_list.html", _list_context(request, services, principal))


@router.post("/referrals/{request_id}/{operation}")
async def answer(
    request_id: str, operation: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    if operation not in OPERATIONS:
        raise AccessDenied()
    submitted = await request.form()
    typed = {name: str(submitted.get(name, "")) for name in FORM_FIELDS[operation]}
    return await run_in_threadpool(_answer, request, services, principal, request_id, operation, typed)


def _answer(
    request: Request,
    services: Services,
    principal: Principal,
    request_id: str,
    operation: str,
    typed: dict[str, str],
) -> Response:
    try:
        with services.db.begin_nested():
            referral = _operate(services, principal, request_id, operation, typed)
    except (InvalidInput, Conflict) as exc:
        failed = _failed(request_id, operation, typed, exc)
        context = _list_context(request, services, principal, failed)
        return render(request, "referrals.html", context, exc.status)
    _audit(request, services, principal, f"${operation}", referral, AuditKind.UPDATE)
    return RedirectResponse(f"/referrals?done={operation}#referral-{request_id}", 303)


def _operate(
    services: Services, principal: Principal, request_id: str, operation: str, typed: dict[str, str]
) -> Referral:
    if operation == "accept":
        appointment = _local_moment(typed.get("appointment", ""))
        return flow.accept(services, principal, request_id, appointment, typed.get("note"))
    if operation == "decline":
        return flow.decline(services, principal, request_id, typed.get("reason"))
    if operation == "complete":
        return flow.complete(services, principal, request_id, typed.get("outcome"))
    return flow.cancel(services, principal, request_id, typed.get("reason"))


def _local_moment(text: str) -> datetime | None:
    """The form's datetime-local value, read as the homes' clocks show time (China Standard Time)."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput([FieldError("appointment", "referral.error.datetime", {"name": "appointment"})]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_STANDARD_TIME)


def _failed(request_id: str, operation: str, typed: dict[str, str], exc: BridgeError) -> dict[str, Any]:
    errors = field_errors(exc) if isinstance(exc, InvalidInput) else {}
    problem = None if isinstance(exc, InvalidInput) else (exc.message_key, exc.params)
    return {"id": request_id, "operation": operation, "typed": typed, "errors": errors, "problem": problem}


def _audit(
    request: Request, services: Services, principal: Principal, name: str, referral: Referral, kind: AuditKind
) -> None:
    request_id = referral.service_request["id"]
    fhir_context(request, services, principal).audit(
        kind, f"{name} ServiceRequest/{request_id}", [referral.service_request, referral.task]
    )
