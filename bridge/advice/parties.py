"""Who may act on advice, and loading advice and its tasks with the parties they concern.

A caller who may not see the resident is told the record does not exist (existence is sensitive); one
who sees it but is the wrong party (a doctor acknowledging, a nurse sending) is refused.

- sending: a doctor (or the system) of an internet hospital with a telemedicine contract in force
  with the resident's home;
- acknowledging advice and completing its tasks: a nurse (or the system) of the resident's home;
- cancelling a task: a doctor (or the system) of the hospital that sent the advice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select

from bridge.accounts.roles import Role
from bridge.advice.codes import is_advice, is_follow_up
from bridge.auth.principal import Principal
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.residents import home_of
from bridge.errors import AccessDenied, NotFound
from bridge.loops.codes import Step
from bridge.loops.tables import LoopStep
from bridge.loops.tracker import Parties
from bridge.services import Services

logger = logging.getLogger(__name__)


@dataclass
class AdviceRecord:
    """Advice (or one of its tasks) with its resident and the organisations it concerns."""

    resource: dict[str, Any]
    patient: dict[str, Any]
    home_id: str
    hospital_id: str | None

    @property
    def parties(self) -> Parties:
        return Parties(self.patient["id"], self.home_id, hospital_id=self.hospital_id)


def staff_or_system(principal: Principal, role: Role) -> bool:
    return principal.role is role if principal.is_user else True


def require_sender(services: Services, principal: Principal, patient_id: str) -> tuple[dict[str, Any], str]:
    """The resident and home, when the caller may send advice about the resident."""
    if principal.organization_kind is not OrgKind.INTERNET_HOSPITAL or not staff_or_system(principal, Role.DOCTOR):
        logger.warning("%s may not send advice", principal.reference)
        raise AccessDenied("advice.error.doctors_only")
    services.policy.require_scope(principal, "Communication", "c")
    services.policy.require_scope(principal, "Task", "c")
    patient = services.policy.require_resident(principal, patient_id)
    home_id = home_of(patient)
    served = services.contracts.homes_served_by(
        principal.organization_id, ContractKind.TELEMEDICINE, services.now().date()
    )
    if home_id is None or home_id not in served:
        raise NotFound()
    return patient, home_id


def load_advice(services: Services, principal: Principal, communication_id: str) -> AdviceRecord:
    services.policy.require_scope(principal, "Communication", "r")
    return _load(services, principal, "Communication", communication_id)


def load_follow_up(services: Services, principal: Principal, task_id: str) -> AdviceRecord:
    services.policy.require_scope(principal, "Task", "r")
    return _load(services, principal, "Task", task_id)


def require_home_party(principal: Principal, record: AdviceRecord, message_key: str) -> None:
    if principal.organization_id != record.home_id or not staff_or_system(principal, Role.NURSE):
        logger.warning("%s is not a nurse of home %s", principal.reference, record.home_id)
        raise AccessDenied(message_key)


def require_sending_hospital(principal: Principal, record: AdviceRecord) -> None:
    if principal.organization_id != record.hospital_id or not staff_or_system(principal, Role.DOCTOR):
        raise AccessDenied("advice.error.sender_only")


def sending_hospital(services: Services, communication_reference: str) -> str | None:
    """The hospital that sent the advice, as the workflow recorded it (never as a writer claims it)."""
    return services.db.scalar(
        select(LoopStep.hospital_id)
        .where(LoopStep.subject == communication_reference, LoopStep.step == Step.ADVICE_SENT.value)
        .order_by(LoopStep.id)
        .limit(1)
    )


def _load(services: Services, principal: Principal, resource_type: str, resource_id: str) -> AdviceRecord:
    try:
        resource = services.repository.read(resource_type, resource_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not (is_advice(resource) if resource_type == "Communication" else is_follow_up(resource)):
        raise NotFound()
    subject = resource.get("subject" if resource_type == "Communication" else "for") or {}
    patient_id = str(subject.get("reference", "")).removeprefix("Patient/")
    try:
        patient = services.repository.read("Patient", patient_id)
    except OperationOutcomeError as exc:
        raise NotFound() from exc
    if not services.policy.can_see_patient(principal, patient):
        logger.warning("%s asked for %s/%s outside its organisations", principal.reference, resource_type, resource_id)
        raise NotFound()
    home_id = home_of(patient) or ""
    communication = (
        f"Communication/{resource_id}"
        if resource_type == "Communication"
        else str((resource.get("focus") or {}).get("reference", ""))
    )
    return AdviceRecord(resource, patient, home_id, sending_hospital(services, communication))


def is_advice_id(services: Services, communication_id: str) -> bool:
    """Whether the Communication is advice (operations shared with critical alerts dispatch on it)."""
    try:
        return is_advice(services.repository.read("Communication", communication_id))
    except OperationOutcomeError:
        return False


def is_follow_up_id(services: Services, task_id: str) -> bool:
    try:
        return is_follow_up(services.repository.read("Task", task_id))
    except OperationOutcomeError:
        return False
