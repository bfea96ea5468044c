"""Contracts: which internet hospital serves which nursing home, which pharmacy supplies it.

Stored as FHIR OrganizationAffiliation: ``organization`` is the provider (hospital or pharmacy),
``participatingOrganization`` the home, ``period`` the contract term.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_adapter.store.repository import ResourceRepository

from bridge.directory.codes import (
    CONTRACT_ORGANIZATION_ROLE,
    CONTRACT_SYSTEM,
    ORGANIZATION_ROLE_SYSTEM,
    ContractKind,
)


@dataclass(frozen=True)
class Contract:
    id: str
    kind: ContractKind
    provider_id: str
    home_id: str
    start: date | None
    end: date | None

    def in_force(self, on: date) -> bool:
        return (self.start is None or self.start <= on) and (self.end is None or on <= self.end)


def contract_resource(
    kind: ContractKind,
    provider_id: str,
    home_id: str,
    start: date,
    end: date | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    period: dict[str, str] = {"start": start.isoformat()}
    if end:
        period["end"] = end.isoformat()
    resource: dict[str, Any] = {
        "resourceType": "OrganizationAffiliation",
        "active": True,
        "period": period,
        "organization": {"reference": f"Organization/{provider_id}"},
        "participatingOrganization": {"reference": f"Organization/{home_id}"},
        "code": [
            {
                "coding": [
                    {"system": CONTRACT_SYSTEM, "code": kind.value},
                    {"system": ORGANIZATION_ROLE_SYSTEM, "code": CONTRACT_ORGANIZATION_ROLE[kind]},
                ]
            }
        ],
    }
    if resource_id:
        resource["id"] = resource_id
    return resource


class ContractDirectory:
    def __init__(self, repository: ResourceRepository) -> None:
        self._repository = repository

    def contracts(
        self, kind: ContractKind, *, provider_id: str | None = None, home_id: str | None = None
    ) -> list[Contract]:
        criteria: dict[str, str] = {"role": f"{CONTRACT_SYSTEM}|{kind.value}", "active": "true"}
        if provider_id:
            criteria["primary-organization"] = f"Organization/{provider_id}"
        if home_id:
            criteria["participating-organization"] = f"Organization/{home_id}"
        return [_contract(kind, res) for res in self._repository.find("OrganizationAffiliation", criteria)]

    def homes_served_by(self, provider_id: str, kind: ContractKind, on: date) -> set[str]:
        return {c.home_id for c in self.contracts(kind, provider_id=provider_id) if c.in_force(on)}

    def providers_of(self, home_id: str, kind: ContractKind, on: date) -> set[str]:
        return {c.provider_id for c in self.contracts(kind, home_id=home_id) if c.in_force(on)}


def _contract(kind: ContractKind, resource: dict[str, Any]) -> Contract:
    period = resource.get("period", {})
    return Contract(
        id=resource["id"],
        kind=kind,
        provider_id=resource["organization"]["reference"].split("/")[-1],
        home_id=resource["participatingOrganization"]["reference"].split("/")[-1],
        start=date.fromisoformat(period["start"][:10]) if period.get("start") else None,
        end=date.fromisoformat(period["end"][:10]) if period.get("end") else None,
    )
