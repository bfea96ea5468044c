"""What the pages show of referrals (the portal maps no FHIR): lists for a resident, for the receiving
hospital and the referring doctor, for a home's nurses, and the choices of the doctor's form.

Every list goes through the access policy: a referral of a resident the viewer may not see is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.chart import concept_text
from bridge.directory.residents import display_name, home_of
from bridge.referrals.codes import APPOINTMENT_INPUT, OUTCOME_OUTPUT, Urgency, is_referral
from bridge.referrals.context import hospital_of, is_referral_task, may_act, reference_id
from bridge.referrals.service import HIDDEN_STATUSES, contracted_hospitals
from bridge.referrals.states import allowed_operations
from bridge.results.chart_results import instant as taken_at
from bridge.results.chart_results import number_text
from bridge.services import Services

PRESELECT_DAYS = 7
MAX_CHOICES = 40
Json = dict[str, Any]


@dataclass(frozen=True)
class ReferralItem:
    request_id: str
    status: str  # the Task's: requested, accepted, rejected, completed, cancelled
    urgency: str
    reason: str
    patient_id: str
    patient_name: str
    home_name: str
    hospital_name: str
    requester: str
    authored_on: datetime | None
    appointment: datetime | None
    outcome: str | None
    status_reason: str | None
    notes: list[str]
    supporting: list[str]
    operations: list[str]  # what this viewer may do now
    version: str = ""  # of the ServiceRequest and its Task: what a live page compares


@dataclass(frozen=True)
class ResultChoice:
    reference: str
    text: str
    date: str
    recent: bool


@dataclass(frozen=True)
class HospitalChoice:
    id: str
    name: str
    own: bool


@dataclass(frozen=True)
class ReferralForm:
    hospitals: list[HospitalChoice]
    results: list[ResultChoice]
    urgencies: list[str]


def resident_referrals(services: Services, principal: Principal, patient_id: str) -> list[ReferralItem]:
    services.policy.require_resident(principal, patient_id)
    requests = services.repository.find("ServiceRequest", {"patient": f"Patient/{patient_id}"})
    return _items(services, principal, requests)


def hospital_referrals(services: Services, principal: Principal) -> list[ReferralItem]:
    """Referrals to the viewer's hospital, and those the viewer sent elsewhere."""
    received = services.repository.find("ServiceRequest", {"performer": f"Organization/{principal.organization_id}"})
    sent = (
        services.repository.find("ServiceRequest", {"requester": f"Practitioner/{principal.practitioner_id}"})
        if principal.practitioner_id
        else []
    )
    unique = {r["id"]: r for r in [*received, *sent]}
    return _items(services, principal, list(unique.values()))


def home_referrals(services: Services, principal: Principal) -> list[ReferralItem]:
    """Referrals of the residents of the homes the viewer cares for (a nurse: her home's)."""
    patients = services.residents.patients_of_homes(services.policy.visible_home_ids(principal))
    if not patients:
        return []
    requests = services.repository.find("ServiceRequest", {"patient": [f"Patient/{p['id']}" for p in patients]})
    return _items(services, principal, requests)


def referral_form(services: Services, principal: Principal, patient_id: str) -> ReferralForm:
    patient = services.policy.require_resident(principal, patient_id)
    home = home_of(patient) or ""
    hospitals = contracted_hospitals(services, home)
    names = services.organizations.names(hospitals)
    choices = [HospitalChoice(h, names.get(h, h), h == principal.organization_id) for h in hospitals]
    choices.sort(key=lambda c: (not c.own, c.name))
    return ReferralForm(choices, recent_results(services, patient_id), [u.value for u in Urgency])


def recent_results(services: Services, patient_id: str) -> list[ResultChoice]:
    """Reports, and results no report lists, newest first; those of the last PRESELECT_DAYS days marked."""
    subject = f"Patient/{patient_id}"
    reports = services.repository.find("DiagnosticReport", {"patient": subject})
    observations = services.repository.find("Observation", {"patient": subject})
    in_reports = {str(r.get("reference")) for report in reports for r in report.get("result", [])}
    since = as_utc(services.now()) - timedelta(days=PRESELECT_DAYS)
    choices: list[tuple[float, ResultChoice]] = []
    for resource in [*reports, *observations]:
        reference = f"{resource['resourceType']}/{resource['id']}"
        if reference in in_reports or resource.get("status") in HIDDEN_STATUSES:
            continue
        _, date, sort = taken_at(resource)
        recent = sort >= since.timestamp()
        choices.append((sort, ResultChoice(reference, _result_text(resource), date, recent)))
    choices.sort(key=lambda c: -c[0])
    return [choice for _, choice in choices[:MAX_CHOICES]]


def _result_text(resource: Json) -> str:
    name = concept_text(resource.get("code"))
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        return f"{name} {number_text(quantity['value'])} {quantity.get('unit') or quantity.get('code') or ''}".strip()
    if isinstance(resource.get("valueString"), str):
        return f"{name} {resource['valueString']}"
    return name


def _items(services: Services, principal: Principal, requests: list[Json]) -> list[ReferralItem]:
    referrals = [r for r in requests if is_referral(r)]
    if not referrals:
        return []
    focus = [f"ServiceRequest/{r['id']}" for r in referrals]
    tasks = {
        str(t["focus"]["reference"]).removeprefix("ServiceRequest/"): t
        for t in services.repository.find("Task", {"focus": focus})
        if is_referral_task(t)
    }
    patient_ids = {reference_id(r.get("subject"), "Patient") for r in referrals}
    patients = {p["id"]: p for p in services.residents.patients_by_id(patient_ids)}
    visible = {pid: p for pid, p in patients.items() if services.policy.can_see_patient(principal, p)}
    organizations = {hospital_of(r) for r in referrals} | {home_of(p) or "" for p in visible.values()}
    names = services.organizations.names(organizations - {""})
    items = []
    for request in referrals:
        task = tasks.get(request["id"])
        patient = visible.get(reference_id(request.get("subject"), "Patient"))
        if task is None or patient is None:
            continue
        items.append(_item(principal, request, task, patient, names))
    items.sort(key=lambda i: i.authored_on or datetime.min.replace(tzinfo=UTC), reverse=True)
    return items


def _item(principal: Principal, request: Json, task: Json, patient: Json, names: dict[str, str]) -> ReferralItem:
    hospital = hospital_of(request)
    requester = str((request.get("requester") or {}).get("reference", ""))
    outputs = {str((o.get("type") or {}).get("text")): o for o in task.get("output", [])}
    appointment = (outputs.get(APPOINTMENT_INPUT) or {}).get("valueDateTime")
    operations = [op.value for op in allowed_operations(task) if may_act(principal, op, hospital, requester)]
    reasons = [c.get("text") or concept_text(c) for c in request.get("reasonCode", [])]
    version = f"{(request.get('meta') or {}).get('versionId', '')}-{(task.get('meta') or {}).get('versionId', '')}"
    return ReferralItem(
        version=version,
        request_id=request["id"],
        status=str(task.get("status")),
        urgency=str(request.get("priority", "routine")),
        reason="; ".join(r for r in reasons if r),
        patient_id=patient["id"],
        patient_name=display_name(patient),
        home_name=names.get(home_of(patient) or "", ""),
        hospital_name=names.get(hospital, hospital),
        requester=str((request.get("requester") or {}).get("display", "")),
        authored_on=_moment(request.get("authoredOn")),
        appointment=_moment(appointment),
        outcome=(outputs.get(OUTCOME_OUTPUT) or {}).get("valueString"),
        status_reason=(task.get("statusReason") or {}).get("text"),
        notes=[str(n.get("text")) for n in request.get("note", []) if n.get("text")],
        supporting=[str(s.get("reference")) for s in request.get("supportingInfo", [])],
        operations=operations,
    )


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(moment)
