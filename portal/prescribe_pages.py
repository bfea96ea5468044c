"""The doctor's prescribing form: a draft is written, checked and shown with its findings, revised,
signed with override reasons, or discarded.

A draft goes through the FHIR write path (bridge/fhir_api/writes.py, so the same validation and audit
apply), signing through bridge/prescriptions/signing_flow.py; the form's fields map to a draft in
bridge/prescriptions/drafts.py.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fhir_adapter.errors import OperationOutcomeError
from starlette.concurrency import run_in_threadpool

from bridge.accounts.roles import Role
from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.api.errors import request_translator
from bridge.audit import AuditKind
from bridge.auth.principal import Principal
from bridge.errors import Conflict, FieldError, InvalidInput, NotFound
from bridge.fhir_api import writes
from bridge.i18n import Translator
from bridge.prescriptions import drafts, signing_flow
from bridge.prescriptions.overrides import MIN_REASON_CHARS, Override
from bridge.prescriptions.refusals import FindingsRefusal
from bridge.prescriptions.safety.check import check_prescription, validate_draft
from bridge.prescriptions.safety.findings import SafetyFinding
from bridge.services import Services
from portal.prescription_forms import QUANTITY_UNITS, Errors, fhir_context, field_errors, page_context, positive
from portal.rendering import render

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# UCUM code -> how the form shows it (the catalogue's dose units).
DOSE_UNITS = ("mg", "g", "ug", "mL", "[iU]", "{puff}")
OVERRIDE_FIELD = "override:"


def _prescribe_page(
    request: Request,
    services: Services,
    principal: Principal,
    patient_id: str,
    *,
    draft_id: str | None = None,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    reasons: dict[str, str] | None = None,
    refused: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    patient = services.policy.require_resident(principal, patient_id)
    findings: list[SafetyFinding] = []
    if draft_id:
        draft = _own_draft(services, principal, patient_id, draft_id)
        form = form if form is not None else drafts.draft_form(draft)
        findings = check_prescription(services, draft, request_translator(request))
    if refused:
        # Each finding that needed a reason and got none is marked at its own field.
        given = reasons or {}
        errors = {
            **(errors or {}),
            **{
                f.key: ("rx.error.override_needed", {})
                for f in findings
                if f.blocking and f.overridable and not given.get(f.key)
            },
        }
    query = request.query_params.get("q", "")
    context = {
        **page_context(request),
        "resident": services.residents.summaries([patient])[0],
        "drugs": drafts.drug_choices(services, query),
        "query": query,
        "form": form or {"per_day": "1", "quantity_unit": Translator()("rx.qunit.tablet")},
        "errors": errors or {},
        "dose_units": DOSE_UNITS,
        "quantity_units": [Translator()(f"rx.qunit.{unit}") for unit in QUANTITY_UNITS],
        "draft_id": draft_id,
        "findings": findings,
        "reasons": reasons or {},
        "refused": refused or [],
        "can_sign": draft_id is not None and not any(f.blocking and not f.overridable for f in findings),
    }
    return render(request, "prescribe.html", context, status_code)


def _own_draft(services: Services, principal: Principal, patient_id: str, draft_id: str) -> dict[str, Any]:
    """The draft being revised, when it is a draft of this resident (a signed one is not revised here)."""
    draft, _ = signing_flow.read_prescription(services, principal, draft_id)
    if draft.get("status") != "draft" or draft.get("subject", {}).get("reference") != f"Patient/{patient_id}":
        raise NotFound()
    return draft


@router.get("/residents/{patient_id}/prescribe")
def prescribe_form(
    patient_id: str, request: Request, principal: PrincipalDep, services: ServicesDep, draft: str = ""
) -> Response:
    return _prescribe_page(request, services, principal, patient_id, draft_id=draft or None)


@router.post("/residents/{patient_id}/prescribe")
def check_draft(
    patient_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    drug: Annotated[str, Form()] = "",
    dose: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    per_day: Annotated[str, Form()] = "",
    quantity: Annotated[str, Form()] = "",
    quantity_unit: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
    instructions: Annotated[str, Form()] = "",
    draft: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "drug": drug,
        "dose": dose,
        "unit": unit,
        "per_day": per_day,
        "quantity": quantity,
        "quantity_unit": quantity_unit,
        "days": days,
        "instructions": instructions,
        "draft": draft,
    }
    return _save_draft(request, services, principal, patient_id, form)


def _save_draft(
    request: Request, services: Services, principal: Principal, patient_id: str, form: dict[str, str]
) -> Response:
    """Store the form as a draft (new, or the one being revised), then show it with its findings."""
    services.policy.require_role(principal, Role.DOCTOR)
    services.policy.require_resident(principal, patient_id)
    draft_id = form.get("draft") or None
    try:
        given = _draft_input(services, form)
        resource = drafts.draft_resource(patient_id, principal.practitioner_id, given)
        # The write checks this too, in English for systems; here it answers in the doctor's language.
        validate_draft(services, resource, request_translator(request))
        ctx = fhir_context(request, services, principal)
        with services.db.begin_nested():
            if draft_id:
                current = _own_draft(services, principal, patient_id, draft_id)
                version = str(current.get("meta", {}).get("versionId", ""))
                stored = writes.update(
                    ctx, "MedicationRequest", draft_id, {**resource, "id": draft_id}, version
                ).resource
            else:
                stored = writes.create(ctx, resource).resource
    except InvalidInput as exc:
        return _prescribe_page(
            request, services, principal, patient_id, form=form, errors=field_errors(exc), status_code=422
        )
    except OperationOutcomeError as exc:
        if exc.status in {403, 404}:
            raise NotFound() from exc
        logger.info("draft for Patient/%s refused: %s", patient_id, exc)
        errors: Errors = {"draft": ("rx.error.draft_refused", {"detail": str(exc)})}  # already translated
        return _prescribe_page(request, services, principal, patient_id, form=form, errors=errors, status_code=422)
    return RedirectResponse(f"/residents/{patient_id}/prescribe?draft={stored['id']}", status_code=303)


def _draft_input(services: Services, form: dict[str, str]) -> drafts.DraftInput:
    errors: list[FieldError] = []
    drug = form.get("drug", "").strip()
    if not drug or drug not in {d.medication_id for d in drafts.drug_choices(services)}:
        errors.append(FieldError("drug", "rx.error.drug"))
    dose = positive(form, "dose", errors)
    if form.get("unit") not in DOSE_UNITS:
        errors.append(FieldError("unit", "rx.error.required"))
    per_day = positive(form, "per_day", errors, whole=True)
    quantity = positive(form, "quantity", errors)
    days = positive(form, "days", errors, whole=True)
    if errors:
        raise InvalidInput(errors)
    quantity_unit = form.get("quantity_unit", "").strip() or Translator()("rx.qunit.tablet")
    return drafts.DraftInput(
        drug, dose, form["unit"], int(per_day), quantity, quantity_unit, int(days), form.get("instructions", "").strip()
    )


@router.post("/residents/{patient_id}/prescribe/{draft_id}/sign")
async def sign(
    patient_id: str, draft_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    submitted = await request.form()
    reasons = {
        k.removeprefix(OVERRIDE_FIELD): str(v).strip() for k, v in submitted.items() if k.startswith(OVERRIDE_FIELD)
    }
    return await run_in_threadpool(_sign, request, services, principal, patient_id, draft_id, reasons)


def _sign(
    request: Request, services: Services, principal: Principal, patient_id: str, draft_id: str, reasons: dict[str, str]
) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    current, _ = signing_flow.read_prescription(services, principal, draft_id)
    if current.get("subject", {}).get("reference") != f"Patient/{patient_id}":
        raise NotFound()
    if current.get("status") != "draft":
        # Signed already (a second click, another tab): show where it went.
        return RedirectResponse(f"/residents/{patient_id}/prescriptions", status_code=303)
    t = request_translator(request)
    short = {
        k: ("rx.error.override_short", {"n": MIN_REASON_CHARS})
        for k, v in reasons.items()
        if 0 < len(v) < MIN_REASON_CHARS
    }
    overrides = [Override(k, v) for k, v in reasons.items() if len(v) >= MIN_REASON_CHARS]
    try:
        if short:
            raise InvalidInput([FieldError(k, key, params) for k, (key, params) in short.items()])
        signed = signing_flow.sign(services, principal, draft_id, overrides, t)
    except FindingsRefusal as exc:
        return _prescribe_page(
            request,
            services,
            principal,
            patient_id,
            draft_id=draft_id,
            reasons=reasons,
            refused=exc.reasons,
            status_code=422,
        )
    except (InvalidInput, Conflict) as exc:
        errors = field_errors(exc) if isinstance(exc, InvalidInput) else {"draft": (exc.message_key, exc.params)}
        return _prescribe_page(
            request, services, principal, patient_id, draft_id=draft_id, errors=errors, reasons=reasons, status_code=422
        )
    fhir_context(request, services, principal).audit(
        AuditKind.UPDATE,
        f"$sign MedicationRequest/{draft_id}",
        [signed.medication_request, signed.provenance, signed.task],
    )
    return RedirectResponse(f"/residents/{patient_id}/prescriptions?signed={draft_id}", status_code=303)


@router.post("/residents/{patient_id}/prescribe/{draft_id}/discard")
def discard(
    patient_id: str, draft_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    services.policy.require_role(principal, Role.DOCTOR)
    _own_draft(services, principal, patient_id, draft_id)
    writes.delete(fhir_context(request, services, principal), "MedicationRequest", draft_id)
    return RedirectResponse(f"/residents/{patient_id}/prescriptions", status_code=303)
