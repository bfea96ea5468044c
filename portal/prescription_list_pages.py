"""The homes' prescription lists: a resident's prescriptions (with cancelling one in flight), and the
nurse's list of prescriptions on their way to her home with the receipt form.

The operations are the same services the FHIR API calls (bridge/prescriptions/home_flow.py), audited
the same way; the lists come from bridge/prescriptions/list_views.py and refresh themselves when a
`prescription.changed` arrives by fetching their section.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.audit import AuditKind
from bridge.auth.principal import Principal
from bridge.errors import Conflict, FieldError, InvalidInput
from bridge.prescriptions import home_flow, list_views
from bridge.services import Services
from portal.prescription_forms import fhir_context, page_context, positive, refused, section
from portal.rendering import render

router = APIRouter(include_in_schema=False)


# --- a resident's prescriptions -------------------------------------------------------------------------


def _resident_context(request: Request, services: Services, principal: Principal, patient_id: str) -> dict[str, Any]:
    patient = services.policy.require_resident(principal, patient_id)
    return {
        **page_context(request),
        "resident": services.residents.summaries([patient])[0],
        "items": list_views.resident_prescriptions(services, principal, patient_id),
        "section_url": f"/residents/{patient_id}/prescriptions/section",
    }


@router.get("/residents/{patient_id}/prescriptions")
def resident_prescriptions(
    patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    return render(request, "prescriptions_resident.html", _resident_context(request, services, principal, patient_id))


@router.get("/residents/{patient_id}/prescriptions/section")
def resident_section(patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    context = _resident_context(request, services, principal, patient_id)
    return section(request, "_prescriptions_resident_list.html", context)


@router.post("/prescriptions/tasks/{task_id}/cancel")
def cancel(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    reason: Annotated[str, Form()] = "",
    patient: Annotated[str, Form()] = "",
) -> Response:
    try:
        task = home_flow.cancel(services, principal, task_id, reason)
    except (InvalidInput, Conflict) as exc:
        context = _resident_context(request, services, principal, patient)
        return refused(request, "prescriptions_resident.html", context, exc, task_id, {"reason": reason})
    fhir_context(request, services, principal).audit(AuditKind.UPDATE, f"$cancel Task/{task_id}", [task])
    return RedirectResponse(f"/residents/{patient}/prescriptions", status_code=303)


# --- the nurse's prescriptions in flight -------------------------------------------------------------


def _nurse_context(request: Request, services: Services, principal: Principal) -> dict[str, Any]:
    return {
        **page_context(request),
        "items": list_views.home_in_flight(services, principal),
        "section_url": "/prescriptions/section",
        "received": request.query_params.get("received"),
    }


@router.get("/prescriptions")
def nurse_prescriptions(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return render(request, "prescriptions_nurse.html", _nurse_context(request, services, principal))


@router.get("/prescriptions/section")
def nurse_section(request: Request, principal: PrincipalDep, services: ServicesDep) -> Response:
    return section(request, "_prescriptions_nurse_list.html", _nurse_context(request, services, principal))


@router.post("/prescriptions/tasks/{task_id}/receipt")
def confirm_receipt(
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    quantityReceived: Annotated[str, Form()] = "",  # noqa: N803 - the service's field name, for its errors
    discrepancy: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    typed = {"quantityReceived": quantityReceived, "discrepancy": discrepancy, "note": note}
    try:
        errors: list[FieldError] = []
        received = positive(typed, "quantityReceived", errors, zero=True)
        if errors:
            raise InvalidInput(errors)
        receipt = home_flow.Receipt(received, discrepancy.strip() or None, note.strip() or None)
        task = home_flow.confirm_receipt(services, principal, task_id, receipt)
    except (InvalidInput, Conflict) as exc:
        context = _nurse_context(request, services, principal)
        return refused(request, "prescriptions_nurse.html", context, exc, task_id, typed)
    fhir_context(request, services, principal).audit(AuditKind.UPDATE, f"$confirm-receipt Task/{task_id}", [task])
    return RedirectResponse(f"/prescriptions?received={task_id}", status_code=303)
