"""Organisations (nursing homes, internet hospitals, pharmacies, ...) as FHIR Organization resources."""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import ResourceRepository

from bridge.directory.codes import ORG_IDENTIFIER_SYSTEM, ORG_KIND_SYSTEM, OrgKind
from bridge.errors import NotFound


def organization_resource(
    kind: OrgKind,
    name: str,
    code: str,
    *,
    resource_id: str | None = None,
    alias: str | None = None,
    phone: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "active": True,
        "identifier": [{"system": ORG_IDENTIFIER_SYSTEM, "value": code}],
        "type": [{"coding": [{"system": ORG_KIND_SYSTEM, "code": kind.value}]}],
        "name": name,
    }
    if resource_id:
        resource["id"] = resource_id
    if alias:
        resource["alias"] = [alias]
    if phone:
        resource["telecom"] = [{"system": "phone", "value": phone, "use": "work"}]
    if address:
        resource["address"] = [{"text": address, "city": "上海市", "country": "CN"}]
    return resource


def organization_kind(organization: dict[str, Any]) -> OrgKind | None:
    for concept in organization.get("type", []):
        for coding in concept.get("coding", []):
            if coding.get("system") == ORG_KIND_SYSTEM:
                try:
                    return OrgKind(coding.get("code"))
                except ValueError:
                    return None
    return None


def organization_code(organization: dict[str, Any]) -> str | None:
    for identifier in organization.get("identifier", []):
        if identifier.get("system") == ORG_IDENTIFIER_SYSTEM:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


class OrganizationDirectory:
    def __init__(self, repository: ResourceRepository) -> None:
        self._repository = repository

    def get(self, organization_id: str) -> dict[str, Any]:
        try:
            return self._repository.read("Organization", organization_id)
        except OperationOutcomeError as exc:
            raise NotFound("error.organization_unknown", org=organization_id) from exc

    def resolve(self, id_or_identifier: str) -> dict[str, Any]:
        """An Organization by id, or by any identifier value (optionally ``system|value``)."""
        matches = self._repository.find("Organization", {"_id": id_or_identifier})
        if not matches:
            matches = self._repository.find("Organization", {"identifier": id_or_identifier})
        if len(matches) != 1:
            raise NotFound("error.organization_unknown", org=id_or_identifier)
        return matches[0]

    def kind_of(self, organization_id: str) -> OrgKind:
        kind = organization_kind(self.get(organization_id))
        if kind is None:
            raise NotFound("error.organization_unknown", org=organization_id)
        return kind

    def all(self) -> list[dict[str, Any]]:
        return self._repository.find("Organization", {"active": "true"})

    def names(self, organization_ids: set[str]) -> dict[str, str]:
        if not organization_ids:
            return {}
        found = self._repository.find("Organization", {"_id": sorted(organization_ids)})
        return {org["id"]: org.get("name", org["id"]) for org in found}
