"""`refer`: a doctor refers a resident for an in-person visit; the ServiceRequest, its Task, the loop
step and clock, the news and the hospital push are written in one unit of work, or nothing is.

Who may refer: a doctor (a staff account with a Practitioner: the referral is a clinician's act, not a
system's) of an internet hospital contracted with the resident's home; anyone else is refused (403),
and a resident the doctor may not see does not exist (404). The receiving hospital must be one of the
home's contracted internet hospitals (by default the doctor's own); the attached results must be the
resident's own Observations or DiagnosticReports. Every wrong field is reported at once (422).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.residents import home_of
from bridge.errors import AccessDenied, Conflict, FieldError, InvalidInput
from bridge.loops.codes import Clock, Step
from bridge.prescriptions.actors import actor_of
from bridge.referrals.codes import MAX_NOTE_CHARS, MAX_REASON_CHARS, MAX_SUPPORTING, Urgency
from bridge.referrals.records import Referral, ReferralDetails, service_request, tracking_task
from bridge.referrals.tracking import record_step
from bridge.services import Services

logger = logging.getLogger(__name__)

SUPPORTING_TYPES = ("Observation", "DiagnosticReport")
HIDDEN_STATUSES = frozenset({"entered-in-error", "cancelled"})
_REFERENCE = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")


def refer(services: Services, principal: Principal, patient_id: str, details: ReferralDetails) -> Referral:
    _require_referring_doctor(principal)
    services.policy.require_scope(principal, "ServiceRequest", "c")
    patient = services.policy.require_resident(principal, patient_id)
    home_id = home_of(patient)
    if home_id is None:
        raise Conflict("referral.error.no_home")
    checked = checked_details(services, principal, patient, home_id, details)
    actor = actor_of(principal)
    now = services.now()
    hospital_id = checked.hospital_id or principal.organization_id
    request = services.repository.create(service_request(checked, patient, actor, hospital_id, now))
    task = services.repository.create(tracking_task(request, actor, hospital_id, now))
    record_step(
        services,
        step=Step.REFERRAL_REQUESTED,
        patient=patient,
        home_id=home_id,
        request=request,
        task=task,
        actor=actor,
        links=checked.supporting,
        starts=[Clock.REFERRAL_RESPONSE],
        detail={"priority": checked.urgency, "hospital": hospital_id, "supporting": checked.supporting},
    )
    logger.info(
        "ServiceRequest/%s: %s referred Patient/%s to %s (%s)",
        request["id"],
        actor.reference,
        patient_id,
        hospital_id,
        checked.urgency,
    )
    return Referral(request, task)


def checked_details(
    services: Services, principal: Principal, patient: dict[str, Any], home_id: str, details: ReferralDetails
) -> ReferralDetails:
    """The details with text trimmed and the hospital filled in; InvalidInput naming every wrong field."""
    errors: list[FieldError] = []
    reason = (details.reason or "").strip()
    if not reason:
        errors.append(FieldError("reason", "referral.error.reason_required"))
    elif len(reason) > MAX_REASON_CHARS:
        errors.append(FieldError("reason", "referral.error.too_long", {"n": MAX_REASON_CHARS}))
    urgency = (details.urgency or "").strip()
    if urgency not in {u.value for u in Urgency}:
        errors.append(FieldError("urgency", "referral.error.urgency", {"urgency": urgency}))
    hospital_id = (details.hospital_id or "").strip().removeprefix("Organization/") or principal.organization_id
    if hospital_id not in contracted_hospitals(services, home_id):
        errors.append(FieldError("hospital", "referral.error.hospital_not_contracted"))
    note = (details.note or "").strip() or None
    if note and len(note) > MAX_NOTE_CHARS:
        errors.append(FieldError("note", "referral.error.too_long", {"n": MAX_NOTE_CHARS}))
    supporting = list(dict.fromkeys(r.strip() for r in details.supporting if r.strip()))
    if len(supporting) > MAX_SUPPORTING:
        errors.append(FieldError("supportingInfo", "referral.error.too_many_results", {"n": MAX_SUPPORTING}))
    else:
        errors += [
            FieldError("supportingInfo", "referral.error.result_not_of_resident", {"reference": reference})
            for reference in supporting
            if not _result_of(services, reference, patient["id"])
        ]
    if errors:
        raise InvalidInput(errors)
    return ReferralDetails(
        reason=reason,
        urgency=urgency,
        supporting=supporting,
        hospital_id=hospital_id,
        note=note,
        reason_codes=details.reason_codes,
        service=details.service,
    )


def contracted_hospitals(services: Services, home_id: str) -> set[str]:
    return services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, services.now().date())


def _result_of(services: Services, reference: str, patient_id: str) -> bool:
    """The reference names a current Observation or DiagnosticReport about this resident."""
    match = _REFERENCE.match(reference)
    if match is None or match["type"] not in SUPPORTING_TYPES:
        return False
    try:
        resource = services.repository.read(match["type"], match["id"])
    except OperationOutcomeError:
        return False
    subject = str((resource.get("subject") or {}).get("reference", ""))
    return subject == f"Patient/{patient_id}" and resource.get("status") not in HIDDEN_STATUSES


def _require_referring_doctor(principal: Principal) -> None:
    if (
        not principal.is_user
        or principal.role is not Role.DOCTOR
        or not principal.practitioner_id
        or principal.organization_kind is not OrgKind.INTERNET_HOSPITAL
    ):
        raise AccessDenied("referral.error.not_referrer")
