"""`$check` and `$sign`: a doctor's draft becomes a signed prescription on its way to the pharmacy.

Signing is one transaction: the prescription turns active (with the doctor's override reasons in it),
its signature is stored as a Provenance, a Task goes to the pharmacy that supplies the home, the step
is recorded and the pharmacy's subscriptions get their event (in the outbox). If any part fails, none
of it happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import fhir_instant
from bridge.directory.residents import display_name, home_of
from bridge.errors import AccessDenied, Conflict, FieldError, InvalidInput, NotFound
from bridge.i18n import Translator
from bridge.prescriptions.actors import ActorRef, actor_of
from bridge.prescriptions.codes import TASK_CODE_SYSTEM, Delivery, Step, business_status
from bridge.prescriptions.loop_steps import prescription_links
from bridge.prescriptions.news import announce_prescription
from bridge.prescriptions.overrides import Override, override_extensions
from bridge.prescriptions.refusals import FindingsRefusal
from bridge.prescriptions.routing import pharmacy_for_home
from bridge.prescriptions.safety.check import check_prescription, findings_outcome
from bridge.prescriptions.safety.findings import SafetyFinding
from bridge.prescriptions.signature import sign_prescription
from bridge.prescriptions.steps import record_step, step_extension
from bridge.prescriptions.write_rules import DRAFT, is_reported
from bridge.services import Services
from bridge.subscriptions.events import record_prescription_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signed:
    medication_request: dict[str, Any]
    provenance: dict[str, Any]
    task: dict[str, Any]
    findings: list[SafetyFinding]


def read_prescription(
    services: Services, principal: Principal, request_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The MedicationRequest and its resident, or NotFound when either is absent or not visible."""
    services.policy.require_scope(principal, "MedicationRequest", "r")
    try:
        request = services.repository.read("MedicationRequest", request_id)
    except Exception as exc:  # not found or deleted: the same answer as not visible
        raise NotFound() from exc
    subject = str((request.get("subject") or {}).get("reference", ""))
    if not subject.startswith("Patient/"):
        raise NotFound()
    patient = services.policy.require_resident(principal, subject.removeprefix("Patient/"))
    return request, patient


def check(services: Services, principal: Principal, request_id: str, translator: Translator) -> dict[str, Any]:
    """The OperationOutcome of `$check`: every safety finding for the prescription as it stands."""
    request, _ = read_prescription(services, principal, request_id)
    return findings_outcome(check_prescription(services, request), translator)


def sign(
    services: Services, principal: Principal, request_id: str, overrides: list[Override], translator: Translator
) -> Signed:
    _require_signing_doctor(principal)
    services.policy.require_scope(principal, "MedicationRequest", "u")
    request, patient = read_prescription(services, principal, request_id)
    if request.get("status") != DRAFT or is_reported(request):
        raise Conflict("prescription.error.not_draft", status=str(request.get("status")))
    findings = check_prescription(services, request)
    _require_overrides(findings, overrides, translator)
    home_id = home_of(patient)
    if home_id is None:
        raise Conflict("prescription.error.no_home")
    pharmacy_id = pharmacy_for_home(services, home_id)
    actor = actor_of(principal)
    now = services.now()
    severities = {f.key: f.severity for f in findings}
    activated = {
        **request,
        "status": "active",
        "requester": actor.as_reference(),
        "authoredOn": fhir_instant(now),
        "extension": [
            *(e for e in request.get("extension", []) if not _is_override(e)),
            *override_extensions(overrides, severities),
        ],
        "dispenseRequest": {
            **request.get("dispenseRequest", {}),
            "performer": {"reference": f"Organization/{pharmacy_id}"},
        },
    }
    version = int(request.get("meta", {}).get("versionId", 1))
    stored = services.repository.update(activated, if_match=version)
    assert principal.practitioner_id is not None
    provenance = services.repository.create(sign_prescription(services, principal.practitioner_id, stored))
    task = services.repository.create(
        _task(stored, patient, actor, pharmacy_id, home_id, provenance["id"], now, translator)
    )
    record_step(
        services,
        step=Step.SIGNED,
        actor=actor,
        medication_request_id=stored["id"],
        task_id=task["id"],
        patient_id=patient["id"],
        home_id=home_id,
        hospital_id=principal.organization_id,
        pharmacy_id=pharmacy_id,
        detail={
            "findings": [f.key for f in findings],
            "overrides": [{"finding": o.finding, "reason": o.reason} for o in overrides],
        },
        links=prescription_links(stored),
    )
    record_prescription_event(services, task)
    announce_prescription(services, task, Step.SIGNED.value, home_id=home_id, hospital_id=principal.organization_id)
    logger.info(
        "MedicationRequest/%s signed by %s; Task/%s to %s", stored["id"], actor.reference, task["id"], pharmacy_id
    )
    return Signed(stored, provenance, task, findings)


def _require_signing_doctor(principal: Principal) -> None:
    # A hospital's system has no key of its own to sign with: a prescription is a doctor's act.
    if not principal.is_user or principal.role is not Role.DOCTOR or not principal.practitioner_id:
        raise AccessDenied("prescription.error.not_prescriber")


def _require_overrides(findings: list[SafetyFinding], overrides: list[Override], translator: Translator) -> None:
    keys = {f.key for f in findings}
    unknown = [o.finding for o in overrides if o.finding not in keys]
    if unknown:
        raise InvalidInput(
            [
                FieldError("Parameters.parameter(override)", "prescription.error.override_unknown", {"finding": k})
                for k in unknown
            ]
        )
    overridden = {o.finding for o in overrides}
    absolute = [f for f in findings if f.blocking and not f.overridable]
    missing = [f for f in findings if f.blocking and f.overridable and f.key not in overridden]
    reasons = [translator("prescription.refused.absolute", finding=f.key) for f in absolute]
    reasons += [translator("prescription.refused.override_needed", finding=f.key) for f in missing]
    if reasons:
        raise FindingsRefusal(findings_outcome(findings, translator), reasons)


def _is_override(extension: dict[str, Any]) -> bool:
    from bridge.prescriptions.codes import OVERRIDE_EXTENSION

    return extension.get("url") == OVERRIDE_EXTENSION


def _task(
    request: dict[str, Any],
    patient: dict[str, Any],
    actor: ActorRef,
    pharmacy_id: str,
    home_id: str,
    provenance_id: str,
    now: Any,
    translator: Translator,
) -> dict[str, Any]:
    default = Translator()  # stored text is in the default language; pages translate the code
    return {
        "resourceType": "Task",
        "status": "ready",
        "intent": "order",
        "priority": request.get("priority", "routine"),
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill", "display": "Fulfill the focal request"}]},
        "description": default("prescription.task.description"),
        "focus": {"reference": f"MedicationRequest/{request['id']}"},
        "for": {"reference": f"Patient/{patient['id']}", "display": display_name(patient)},
        "authoredOn": fhir_instant(now),
        "lastModified": fhir_instant(now),
        "requester": actor.as_reference(),
        "owner": {"reference": f"Organization/{pharmacy_id}"},
        "businessStatus": business_status(Delivery.WITH_PHARMACY, default("prescription.delivery.with-pharmacy")),
        "input": [
            {"type": {"text": "signature"}, "valueReference": {"reference": f"Provenance/{provenance_id}"}},
            {"type": {"text": "deliver-to"}, "valueReference": {"reference": f"Organization/{home_id}"}},
        ],
        "extension": [step_extension(Step.SIGNED, actor, now)],
    }
