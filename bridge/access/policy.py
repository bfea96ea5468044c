"""Access rules, enforced here and nowhere else.

- a nurse (or a home's system) sees only her home's residents;
- a doctor (or a hospital's system) sees residents of the homes contracted with her hospital;
- a pharmacist (or a pharmacy's system) sees only residents whose prescriptions are routed to it
  (a Task owned by the pharmacy);
- supervisors see metrics and audit of their organisation, or of every organisation when they belong
  to a supervisory authority; they see no clinical records;
- admins manage accounts and clients of their organisation, or of all when they belong to the operator.

A record the caller may not see is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import ResourceRepository
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.contracts import ContractDirectory
from bridge.directory.residents import ResidentDirectory, home_of
from bridge.errors import AccessDenied, NotFound

logger = logging.getLogger(__name__)

_CLINICAL_ROLES = {Role.NURSE, Role.DOCTOR, Role.PHARMACIST}
# How long after a prescription was signed to it a pharmacy still sees the resident: long enough to
# dispense, deliver and answer questions about it, not a standing view of the resident's record.
ROUTED_DAYS = 180
_CLINICAL_ORG_KINDS = {OrgKind.NURSING_HOME, OrgKind.INTERNET_HOSPITAL, OrgKind.PHARMACY, OrgKind.LABORATORY}


class AccessPolicy:
    def __init__(self, repository: ResourceRepository, today: date, db: Session | None = None) -> None:
        self._repository = repository
        self._db = db
        self._contracts = ContractDirectory(repository)
        self._residents = ResidentDirectory(repository)
        self._today = today

    # --- roles and scopes -------------------------------------------------------------------------

    def require_role(self, principal: Principal, *roles: Role) -> None:
        if principal.role not in roles:
            self._deny(principal, f"role {principal.role} is not one of {[r.value for r in roles]}")

    def require_scope(self, principal: Principal, resource_type: str, permission: str) -> None:
        if not principal.scopes.allows(resource_type, permission):
            self._deny(principal, f"no scope for {resource_type}.{permission}", "error.insufficient_scope")

    # --- residents --------------------------------------------------------------------------------

    def visible_home_ids(self, principal: Principal) -> frozenset[str]:
        """Homes all of whose residents the principal may see."""
        if not self._is_clinical(principal):
            return frozenset()
        if principal.organization_kind is OrgKind.NURSING_HOME:
            return frozenset({principal.organization_id})
        if principal.organization_kind is OrgKind.INTERNET_HOSPITAL:
            return frozenset(
                self._contracts.homes_served_by(principal.organization_id, ContractKind.TELEMEDICINE, self._today)
            )
        if principal.organization_kind is OrgKind.LABORATORY:
            return frozenset(
                self._contracts.homes_served_by(principal.organization_id, ContractKind.LABORATORY_SERVICE, self._today)
            )
        return frozenset()

    def routed_patient_ids(self, principal: Principal) -> frozenset[str]:
        """Residents with a prescription signed to the principal's pharmacy in the last ROUTED_DAYS days.

        Read from the workflow's own record of signatures (`prescription_step`), not from Tasks: only
        `$sign` routes a resident to a pharmacy, never a Task someone wrote.
        """
        if principal.organization_kind is not OrgKind.PHARMACY or not self._is_clinical(principal):
            return frozenset()
        if self._db is None:
            return frozenset()
        from bridge.prescriptions.codes import Step
        from bridge.prescriptions.tables import PrescriptionStep

        since = datetime.combine(self._today - timedelta(days=ROUTED_DAYS), time.min, UTC)
        rows = self._db.scalars(
            select(PrescriptionStep.patient_id)
            .where(
                PrescriptionStep.pharmacy_id == principal.organization_id,
                PrescriptionStep.step == Step.SIGNED.value,
                PrescriptionStep.at >= since,
            )
            .distinct()
        )
        return frozenset(rows)

    def visible_residents(self, principal: Principal) -> list[dict[str, Any]]:
        self.require_scope(principal, "Patient", "s")
        homes = self.visible_home_ids(principal)
        patients = self._residents.patients_of_homes(homes)
        routed = self.routed_patient_ids(principal) - {p["id"] for p in patients}
        return patients + self._residents.patients_by_id(routed)

    def can_see_patient(self, principal: Principal, patient: dict[str, Any]) -> bool:
        home = home_of(patient)
        if home is not None and home in self.visible_home_ids(principal):
            return True
        return patient["id"] in self.routed_patient_ids(principal)

    def require_resident(self, principal: Principal, patient_id: str) -> dict[str, Any]:
        """The resident, or NotFound both when absent and when not visible (existence is sensitive)."""
        self.require_scope(principal, "Patient", "r")
        try:
            patient = self._repository.read("Patient", patient_id)
        except OperationOutcomeError as exc:
            raise NotFound() from exc
        if not self.can_see_patient(principal, patient):
            logger.warning("%s asked for Patient/%s outside its organisations", principal.reference, patient_id)
            raise NotFound()
        return patient

    # --- administration and supervision -----------------------------------------------------------

    def manageable_organization_ids(self, principal: Principal) -> set[str] | None:
        """Organisations whose accounts and clients the admin manages; ``None`` means all."""
        self.require_role(principal, Role.ADMIN)
        if principal.organization_kind is OrgKind.OPERATOR:
            return None
        return {principal.organization_id}

    def require_manage(self, principal: Principal, organization_id: str) -> None:
        manageable = self.manageable_organization_ids(principal)
        if manageable is not None and organization_id not in manageable:
            self._deny(principal, f"cannot manage organization {organization_id}")

    def supervised_organization_ids(self, principal: Principal) -> set[str] | None:
        """Organisations whose metrics and audit the supervisor sees; ``None`` means all."""
        self.require_role(principal, Role.SUPERVISOR)
        if principal.organization_kind in {OrgKind.SUPERVISORY_AUTHORITY, OrgKind.OPERATOR}:
            return None
        return {principal.organization_id}

    # --- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _is_clinical(principal: Principal) -> bool:
        if principal.is_user:
            return principal.role in _CLINICAL_ROLES
        return principal.organization_kind in _CLINICAL_ORG_KINDS

    @staticmethod
    def _deny(principal: Principal, why: str, message_key: str = "error.forbidden") -> None:
        logger.warning("access denied to %s: %s", principal.reference, why)
        raise AccessDenied(message_key)
