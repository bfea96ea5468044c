"""Access rules for FHIR interactions: SMART scopes, then organisation rules per kind of resource.

- patient data (a type linked to a Patient, and Patient itself): the caller must see the resident
  (``AccessPolicy``); searches are filtered in SQL, so totals and pages never count hidden records;
- Provenance: visible through its targets; a search must name them;
- directory data (organisations, clinicians, places, medications): readable by every signed-in
  participant; written only for organisations the caller manages;
- AuditEvent: supervisors of the organisations an event names; never written through the API;
- Subscription: owned by the caller's organisation (a server-set meta.tag).

A resource the caller may not see is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from fhir_adapter.compartment import PATIENT_LINK, linked_patient_ids
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.references import iter_references, relative_target
from fhir_adapter.search.query import SearchQuery
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.searching import MemberOf, Restriction, ValueIn

from bridge.access.policy import AccessPolicy
from bridge.auth.principal import Principal
from bridge.directory.codes import NAMESPACE, OrgKind
from bridge.errors import AccessDenied, NotFound

logger = logging.getLogger(__name__)

OWNER_TAG_SYSTEM = f"{NAMESPACE}/CodeSystem/owning-organization"
DIRECTORY_TYPES = frozenset(
    {"Organization", "OrganizationAffiliation", "Practitioner", "PractitionerRole", "Location", "Medication"}
)
READ_ONLY_TYPES = frozenset({"AuditEvent"})
_ALL_ORGANIZATIONS = None


class FhirAccess:
    def __init__(self, policy: AccessPolicy, repository: SqlResourceRepository, principal: Principal) -> None:
        self._policy = policy
        self._repository = repository
        self.principal = principal
        self._patient_visible: dict[str, bool] = {}

    # --- scopes -----------------------------------------------------------------------------------

    def require(self, resource_type: str, permission: str) -> None:
        self._policy.require_scope(self.principal, resource_type, permission)

    def may(self, resource_type: str, permission: str) -> bool:
        return self.principal.scopes.allows(resource_type, permission)

    # --- reading ----------------------------------------------------------------------------------

    @cached_property
    def _homes(self) -> frozenset[str]:
        return self._policy.visible_home_ids(self.principal)

    @cached_property
    def _routed(self) -> frozenset[str]:
        return self._policy.routed_patient_ids(self.principal)

    def patient_visible(self, patient_id: str) -> bool:
        if patient_id not in self._patient_visible:
            try:
                patient = self._repository.read("Patient", patient_id)
            except OperationOutcomeError:
                visible = False
            else:
                visible = self._policy.can_see_patient(self.principal, patient)
            self._patient_visible[patient_id] = visible
        return self._patient_visible[patient_id]

    def readable(self, resource: dict[str, Any]) -> bool:
        resource_type = resource.get("resourceType", "")
        if resource_type in PATIENT_LINK:
            return any(self.patient_visible(pid) for pid in linked_patient_ids(resource))
        if resource_type in DIRECTORY_TYPES:
            return True
        if resource_type == "Provenance":
            return any(self._target_readable(ref) for ref in _targets(resource))
        if resource_type == "AuditEvent":
            return self._audit_event_readable(resource)
        if resource_type == "Subscription":
            return self._owner_of(resource) == self.principal.organization_id
        return False

    def search_restrictions(self, query: SearchQuery) -> list[Restriction]:
        resource_type = query.resource_type
        if resource_type in PATIENT_LINK:
            named = _named_patients(query)
            if named is not None:
                # The search names its residents: checking those few is far cheaper than joining
                # through every record of every home the caller sees, and selects the same rows.
                visible = frozenset(pid for pid in named if self.patient_visible(pid))
                if visible == named:
                    # The search's own criterion confines it to these residents; repeating it as a
                    # restriction only misleads PostgreSQL's planner (it squares the selectivity).
                    return []
                link = PATIENT_LINK[resource_type]
                return [ValueIn(link, visible if link == "_id" else frozenset(f"Patient/{pid}" for pid in visible))]
            return [
                MemberOf(
                    link_param=PATIENT_LINK[resource_type],
                    target_type="Patient",
                    target_param="organization",
                    target_values=frozenset(f"Organization/{home}" for home in self._homes),
                    target_ids=self._routed,
                )
            ]
        if resource_type == "Provenance":
            targets = [v for c in query.clauses if c.name == "target" and c.modifier is None for v in c.values]
            if not targets:
                raise OperationOutcomeError.single(
                    400, "required", "a Provenance search must name its target (target=Type/id)", "target"
                )
            if not all(self._target_readable(t) for t in targets):
                raise NotFound()
            return []
        if resource_type == "AuditEvent":
            organizations = self._audit_organizations()
            if organizations is _ALL_ORGANIZATIONS:
                return []
            return [ValueIn("entity", frozenset(f"Organization/{org}" for org in organizations))]
        if resource_type == "Subscription":
            return [ValueIn("_tag", frozenset({self.principal.organization_id}))]
        return []

    # --- writing ----------------------------------------------------------------------------------

    def check_write(self, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
        """Raise unless the caller may turn ``old`` into ``new`` (either may be None: create, delete)."""
        resource_type = (new or old or {}).get("resourceType", "")
        if resource_type in READ_ONLY_TYPES:
            raise OperationOutcomeError.single(405, "not-supported", f"{resource_type} is read-only through this API")
        if old is not None and not self.readable(old):
            raise NotFound()
        if new is None:
            return
        if resource_type in PATIENT_LINK:
            self._check_patient_link(new)
        elif resource_type in DIRECTORY_TYPES and resource_type != "Medication":
            # Medications are a shared catalogue entry, not any one organisation's record.
            self._check_directory_owner(new)
            if old is not None:
                self._check_directory_owner(old)
        elif resource_type == "Provenance":
            targets = _targets(new)
            if not targets or not all(self._target_readable(t) for t in targets):
                raise _unresolvable("Provenance.target", "resources you may see")

    def with_owner(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A Subscription is stamped with its owner; other types are returned unchanged. Its status is
        the bridge's to set (bridge/subscriptions/state.py, called from writes.py)."""
        if resource.get("resourceType") != "Subscription":
            return resource
        meta = dict(resource.get("meta", {}))
        tags = [t for t in meta.get("tag", []) if t.get("system") != OWNER_TAG_SYSTEM]
        meta["tag"] = [*tags, {"system": OWNER_TAG_SYSTEM, "code": self.principal.organization_id}]
        return {**resource, "meta": meta}

    def _check_patient_link(self, resource: dict[str, Any]) -> None:
        resource_type = resource["resourceType"]
        if resource_type == "Patient":
            home = (resource.get("managingOrganization") or {}).get("reference", "")
            if home.removeprefix("Organization/") not in self._homes:
                raise _unresolvable("Patient.managingOrganization", "a home whose residents you care for")
            return
        patients = linked_patient_ids(resource)
        if not patients:
            raise OperationOutcomeError.single(
                422, "required", f"a {resource_type} must name the resident (Patient) it is about", resource_type
            )
        if not all(self.patient_visible(pid) for pid in patients):
            raise _unresolvable(f"{resource_type} patient", "a resident you may see")

    def _check_directory_owner(self, resource: dict[str, Any]) -> None:
        managed = self._managed_organizations()
        if managed is _ALL_ORGANIZATIONS:
            return
        owners = _directory_owners(resource)
        if not owners or not owners & managed:
            logger.warning("%s may not write %s for %s", self.principal.reference, resource["resourceType"], owners)
            raise AccessDenied()

    def _managed_organizations(self) -> set[str] | None:
        if not self.principal.is_user:
            return {self.principal.organization_id}
        return self._policy.manageable_organization_ids(self.principal) if self.principal.role == "admin" else set()

    def _audit_organizations(self) -> set[str] | None:
        if self.principal.is_user:
            return self._policy.supervised_organization_ids(self.principal)
        if self.principal.organization_kind in {OrgKind.SUPERVISORY_AUTHORITY, OrgKind.OPERATOR}:
            return _ALL_ORGANIZATIONS
        return {self.principal.organization_id}

    def _audit_event_readable(self, event: dict[str, Any]) -> bool:
        try:
            organizations = self._audit_organizations()
        except AccessDenied:
            return False
        if organizations is _ALL_ORGANIZATIONS:
            return True
        named = {ref.removeprefix("Organization/") for _, ref in iter_references(event.get("entity", []))}
        return bool(named & organizations)

    def _target_readable(self, reference: str) -> bool:
        target = relative_target(reference)
        if target is None or target[0] in {"Provenance", "AuditEvent"}:
            return False
        try:
            resource = self._repository.read(*target)
        except OperationOutcomeError:
            return False
        return self.readable(resource)

    @staticmethod
    def _owner_of(resource: dict[str, Any]) -> str | None:
        for tag in resource.get("meta", {}).get("tag", []):
            if tag.get("system") == OWNER_TAG_SYSTEM:
                return str(tag.get("code"))
        return None


def _named_patients(query: SearchQuery) -> set[str] | None:
    """Patient ids a search is restricted to by its own criteria (``patient=`` or, on Patient,
    ``_id=``), or None when it names none. Several such clauses are AND-ed: their intersection."""
    link = PATIENT_LINK[query.resource_type]
    named: set[str] | None = None
    for clause in query.clauses:
        if clause.name != link or clause.modifier is not None:
            continue
        ids = set()
        for value in clause.values:
            target = relative_target(value) if "/" in value else ("Patient", value)
            if target is None or target[0] != "Patient":
                return None  # a form this shortcut does not read: use the general restriction
            ids.add(target[1])
        named = ids if named is None else named & ids
    return named


def _targets(provenance: dict[str, Any]) -> list[str]:
    return [t["reference"] for t in provenance.get("target", []) if isinstance(t.get("reference"), str)]


def _directory_owners(resource: dict[str, Any]) -> set[str]:
    resource_type = resource["resourceType"]
    if resource_type == "Organization":
        return {str(resource.get("id", ""))}
    fields = {
        "Location": ("managingOrganization",),
        "PractitionerRole": ("organization",),
        "OrganizationAffiliation": ("organization", "participatingOrganization"),
    }.get(resource_type, ())
    return {
        ref.removeprefix("Organization/")
        for name in fields
        if isinstance(ref := (resource.get(name) or {}).get("reference"), str) and ref.startswith("Organization/")
    }


def _unresolvable(expression: str, what: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(
        422,
        "processing",
        f"{expression} must reference {what}; this one does not exist or is not visible to you",
        expression,
    )
