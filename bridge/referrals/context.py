"""Loading a referral (its ServiceRequest, Task and resident) and checking who may act on it.

Who may act:
- accept, decline, complete: staff doctors, or the system clients, of the receiving hospital (the
  ServiceRequest's performer); not its supervisors or admins;
- cancel: the referring doctor (the requester), while the referral is open;
- the home's nurses and the other contracted hospitals' doctors see the referral but change nothing.
A caller who may not see the resident is told the referral does not exist (existence is sensitive);
one who sees it but is the wrong party is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.residents import home_of
from bridge.errors import AccessDenied, NotFound
from bridge.prescriptions.actors import ActorRef, actor_of
from bridge.referrals.codes import TASK_CODE_SYSTEM, Status, is_referral
from bridge.referrals.states import Operation, transition
from bridge.services import Services

HOSPITAL_OPERATIONS = frozenset({Operation.ACCEPT, Operation.DECLINE, Operation.COMPLETE})


def reference_id(reference: object, resource_type: str) -> str:
    text = str((reference or {}).get("reference", "")) if isinstance(reference, dict) else ""
    return text.removeprefix(f"{resource_type}/") if text.startswith(f"{resource_type}/") else ""


def hospital_of(request: dict[str, Any]) -> str:
    performers = request.get("performer") or [{}]
    return reference_id(performers[0], "Organization")


def is_referral_task(task: dict[str, Any], request_id: str | None = None) -> bool:
    codes = {(c.get("system"), c.get("code")) for c in (task.get("code") or {}).get("coding", [])}
    focus = str((task.get("focus") or {}).get("reference", ""))
    expected = f"ServiceRequest/{request_id}" if request_id else "ServiceRequest/"
    matches = focus == expected if request_id else focus.startswith(expected)
    return (TASK_CODE_SYSTEM, "fulfill") in codes and matches


def tracking_task_of(services: Services, request_id: str) -> dict[str, Any] | None:
    found = services.repository.find("Task", {"focus": f"ServiceRequest/{request_id}"})
    tasks = [t for t in found if is_referral_task(t, request_id)]
    return tasks[0] if tasks else None


def may_act(principal: Principal, operation: Operation, hospital_id: str, requester: str) -> bool:
    if operation in HOSPITAL_OPERATIONS:
        staff_or_system = principal.role is Role.DOCTOR if principal.is_user else True
        return principal.organization_id == hospital_id and staff_or_system
    return (
        principal.is_user
        and principal.role is Role.DOCTOR
        and principal.practitioner_id is not None
        and requester == f"Practitioner/{principal.practitioner_id}"
    )


@dataclass
class ReferralContext:
    services: Services
    principal: Principal
    request: dict[str, Any]
    task: dict[str, Any]
    patient: dict[str, Any]
    home_id: str

    @property
    def hospital_id(self) -> str:
        return hospital_of(self.request)

    @property
    def requester(self) -> str:
        return str((self.request.get("requester") or {}).get("reference", ""))

    @property
    def subject(self) -> str:
        return f"ServiceRequest/{self.request['id']}"

    @property
    def actor(self) -> ActorRef:
        return actor_of(self.principal)

    @property
    def now(self) -> datetime:
        return self.services.now()

    def save_task(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The Task's next version, on the version read (409 if someone else acted meanwhile)."""
        from bridge.clock import fhir_instant

        version = int(self.task.get("meta", {}).get("versionId", 1))
        updated = {**self.task, **changes, "lastModified": fhir_instant(self.now)}
        self.task = self.services.repository.update(updated, if_match=version)
        return self.task

    def save_request(self, changes: dict[str, Any]) -> dict[str, Any]:
        version = int(self.request.get("meta", {}).get("versionId", 1))
        self.request = self.services.repository.update({**self.request, **changes}, if_match=version)
        return self.request


def load_referral(services: Services, principal: Principal, request_id: str) -> ReferralContext:
    services.policy.require_scope(principal, "ServiceRequest", "r")
    try:
        request = services.repository.read("ServiceRequest", request_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not is_referral(request):
        raise NotFound()
    patient_id = reference_id(request.get("subject"), "Patient")
    try:
        patient = services.repository.read("Patient", patient_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not services.policy.can_see_patient(principal, patient):
        raise NotFound()
    task = tracking_task_of(services, request_id)
    if task is None:
        raise NotFound()
    return ReferralContext(services, principal, request, task, patient, home_of(patient) or "")


def begin(
    services: Services, principal: Principal, request_id: str, operation: Operation
) -> tuple[ReferralContext, Status, str]:
    """The referral ready for `operation`: found, the caller the right party, the state right; the
    Task's and the ServiceRequest's next status."""
    ctx = load_referral(services, principal, request_id)
    services.policy.require_scope(principal, "Task", "u")
    if not may_act(principal, operation, ctx.hospital_id, ctx.requester):
        raise AccessDenied("referral.error.wrong_party", operation=f"${operation.value}")
    target, request_status = transition(ctx.task, operation)
    return ctx, target, request_status
