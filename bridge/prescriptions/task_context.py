"""Loading a prescription Task with what every operation on it needs, and checking who may act.

A caller who may not see the resident is told the Task does not exist (existence is sensitive); one
who sees it but is the wrong party (a nurse trying to dispense, another hospital's doctor) is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import fhir_instant
from bridge.directory.residents import home_of
from bridge.errors import AccessDenied, Conflict, NotFound
from bridge.prescriptions.actors import ActorRef, actor_of
from bridge.prescriptions.codes import Step
from bridge.prescriptions.news import announce_prescription
from bridge.prescriptions.steps import record_step, with_step
from bridge.prescriptions.tables import PrescriptionStep
from bridge.prescriptions.task_states import Operation, TaskState, transition
from bridge.prescriptions.write_rules import is_prescription_task
from bridge.services import Services

logger = logging.getLogger(__name__)


@dataclass
class TaskContext:
    services: Services
    principal: Principal
    task: dict[str, Any]
    request: dict[str, Any]
    patient: dict[str, Any]
    home_id: str
    hospital_id: str | None

    @property
    def pharmacy_id(self) -> str:
        return str((self.task.get("owner") or {}).get("reference", "")).removeprefix("Organization/")

    @property
    def actor(self) -> ActorRef:
        return actor_of(self.principal)

    @property
    def now(self) -> datetime:
        return self.services.now()

    def save_task(self, changes: dict[str, Any], step: Step, note: str | None = None) -> dict[str, Any]:
        """Write the Task's next version (the version read, or 409: someone else acted meanwhile)."""
        updated = with_step(
            {**self.task, **changes, "lastModified": fhir_instant(self.now)}, step, self.actor, self.now, note
        )
        version = int(self.task.get("meta", {}).get("versionId", 1))
        self.task = self.services.repository.update(updated, if_match=version)
        return self.task

    def save_request(self, changes: dict[str, Any]) -> dict[str, Any]:
        version = int(self.request.get("meta", {}).get("versionId", 1))
        self.request = self.services.repository.update({**self.request, **changes}, if_match=version)
        return self.request

    def record(self, step: Step, detail: dict[str, Any] | None = None) -> None:
        record_step(
            self.services,
            step=step,
            actor=self.actor,
            medication_request_id=self.request["id"],
            task_id=self.task["id"],
            patient_id=self.patient["id"],
            home_id=self.home_id,
            hospital_id=self.hospital_id,
            pharmacy_id=self.pharmacy_id,
            detail=detail,
        )
        announce_prescription(self.services, self.task, step.value, home_id=self.home_id, hospital_id=self.hospital_id)


def load_task(services: Services, principal: Principal, task_id: str) -> TaskContext:
    services.policy.require_scope(principal, "Task", "r")
    try:
        task = services.repository.read("Task", task_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not is_prescription_task(task):
        raise NotFound()
    patient_id = str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/")
    # The Task's scope governs an operation on it; reading the resident's record is another scope.
    try:
        patient = services.repository.read("Patient", patient_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not services.policy.can_see_patient(principal, patient):
        raise NotFound()
    request_id = str(task["focus"]["reference"]).removeprefix("MedicationRequest/")
    request = services.repository.read("MedicationRequest", request_id)
    home_id = home_of(patient) or ""
    return TaskContext(services, principal, task, request, patient, home_id, _hospital_of(services, request_id))


def begin(
    services: Services, principal: Principal, task_id: str, operation: Operation
) -> tuple[TaskContext, TaskState]:
    """The Task ready for `operation` by this caller: found, the caller the right party, the state right."""
    ctx = load_task(services, principal, task_id)
    services.policy.require_scope(principal, "Task", "u")
    _require_party(ctx, operation)
    target = transition(ctx.task, operation)
    if operation in SIGNATURE_CHECKED:
        _require_valid_signature(ctx)
    return ctx, target


# The pharmacy accepts and dispenses only what the doctor signed: a prescription changed since, or a
# signature that does not verify, stops there.
SIGNATURE_CHECKED = frozenset({Operation.ACCEPT, Operation.DISPENSE})


def _require_valid_signature(ctx: TaskContext) -> None:
    from bridge.prescriptions.signature import signature_status

    status = signature_status(ctx.services, ctx.request["id"])
    if status is None or not status.ok:
        reason = "unsigned" if status is None else f"{status.reason}: {status.detail}"
        logger.warning("Task/%s: MedicationRequest/%s signature: %s", ctx.task["id"], ctx.request["id"], reason)
        raise Conflict("prescription.error.signature_invalid", reason=reason)


def _require_party(ctx: TaskContext, operation: Operation) -> None:
    principal = ctx.principal
    if operation is Operation.CONFIRM_RECEIPT:
        allowed = principal.organization_id == ctx.home_id and _staff_or_system(principal, Role.NURSE)
    elif operation is Operation.CANCEL:
        # The prescribing hospital's doctors only: a home contracted with two hospitals is served by both.
        allowed = principal.organization_id == ctx.hospital_id and _staff_or_system(principal, Role.DOCTOR)
    else:
        allowed = principal.organization_id == ctx.pharmacy_id and _staff_or_system(principal, Role.PHARMACIST)
    if not allowed:
        raise AccessDenied("prescription.error.wrong_party", operation=f"${operation.value}")


def _staff_or_system(principal: Principal, role: Role) -> bool:
    return principal.role is role if principal.is_user else True


def _hospital_of(services: Services, request_id: str) -> str | None:
    return services.db.scalar(
        select(PrescriptionStep.hospital_id)
        .where(PrescriptionStep.medication_request_id == request_id, PrescriptionStep.step == Step.SIGNED.value)
        .order_by(PrescriptionStep.id.desc())
        .limit(1)
    )
