"""Which pharmacy supplies a home: the pharmacy-supply contract in force (OrganizationAffiliation).

With several contracts in force the one that began first is used, so the choice is stable from one
prescription to the next; a home with none cannot receive prescriptions, which is said plainly.
"""

from __future__ import annotations

from bridge.directory.codes import ContractKind
from bridge.errors import Conflict
from bridge.services import Services


def pharmacy_for_home(services: Services, home_id: str) -> str:
    today = services.now().date()
    contracts = [
        c for c in services.contracts.contracts(ContractKind.PHARMACY_SUPPLY, home_id=home_id) if c.in_force(today)
    ]
    if not contracts:
        raise Conflict("prescription.error.no_pharmacy")
    contracts.sort(key=lambda c: (c.start or today, c.provider_id))
    return contracts[0].provider_id
