"""The quarantine as admins work with it: their organisations' entries as view items, the residents an
entry may be matched to, and the fixes (match, replay, discard) with their checks.

An admin sees the entries of the organisations she manages (an operator admin: all). She may match an
entry to a resident of the homes her organisation deals with: a home admin her home's residents, a
laboratory's or hospital's admin the residents of the homes under contract, an operator admin anyone.
Replay then decides whether the sender may deliver for that resident, as when it first arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.db.tables import Account, ApiClient
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.organizations import organization_kind
from bridge.directory.residents import ResidentSummary, display_name
from bridge.errors import FieldError, InvalidInput
from bridge.ingest.quarantine import Quarantine, QuarantineStatus
from bridge.ingest.replay import ReplayResult, replay
from bridge.ingest.tables import QuarantinedInput
from bridge.services import Services

logger = logging.getLogger(__name__)

# Which contracted homes an organisation of each kind deals with.
_CONTRACTS = {OrgKind.LABORATORY: ContractKind.LABORATORY_SERVICE, OrgKind.INTERNET_HOSPITAL: ContractKind.TELEMEDICINE}
MAX_WHY = 500


@dataclass(frozen=True)
class QuarantineItem:
    id: str
    kind: str  # hl7v2 | ecg
    status: str  # quarantined | processed | discarded
    received_at: datetime
    sender: str  # the principal reference (account:..., client:..., mllp:...)
    sender_name: str
    organization_name: str
    channel: str
    reason_code: str
    reason: str
    attempts: int
    patient_id: str | None
    patient_name: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    outcome: str | None

    @property
    def open(self) -> bool:
        return self.status == QuarantineStatus.QUARANTINED.value


@dataclass(frozen=True)
class QuarantineFile:
    name: str
    size: int
    text: str | None  # an HL7 message as text, segments on lines; None for binary files


@dataclass(frozen=True)
class QuarantineDetail:
    item: QuarantineItem
    files: list[QuarantineFile]
    parameters: dict[str, object]


class QuarantineReview:
    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal
        # Raises 403 for anyone but an admin.
        self.organizations = services.policy.manageable_organization_ids(principal)
        self.quarantine = Quarantine(services)

    def items(self, status: QuarantineStatus | None) -> list[QuarantineItem]:
        rows = self.quarantine.listing(self.organizations, status)
        return self._items(rows)

    def detail(self, entry_id: str) -> QuarantineDetail:
        entry = self.quarantine.get(entry_id, self.organizations)
        files = [
            QuarantineFile(
                name,
                len(content),
                content.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
                if entry.row.kind == "hl7v2"
                else None,
            )
            for name, content in entry.files.items()
        ]
        return QuarantineDetail(self._items([entry.row])[0], files, entry.parameters)

    def residents(self) -> list[ResidentSummary]:
        """The residents an entry may be matched to."""
        return self.services.residents.summaries(self._matchable_patients())

    def match(self, entry_id: str, patient_id: str) -> None:
        patient_id = patient_id.strip()
        if not patient_id or patient_id not in {p["id"] for p in self._matchable_patients()}:
            raise InvalidInput([FieldError("patient", "quarantine.error.resident_unknown")])
        self.quarantine.match_resident(entry_id, patient_id, self.principal.reference, self.organizations)

    def replay(self, entry_id: str) -> ReplayResult:
        result = replay(self.services, entry_id, self.principal.reference, self.organizations)
        logger.info("%s replayed quarantined input %s: %s", self.principal.reference, entry_id, result.processed)
        return result

    def discard(self, entry_id: str, why: str) -> None:
        why = why.strip()
        if not why:
            raise InvalidInput([FieldError("why", "quarantine.error.why_required")])
        self.quarantine.discard(entry_id, self.principal.reference, why[:MAX_WHY], self.organizations)

    # --- helpers ----------------------------------------------------------------------------------

    def _homes(self) -> set[str] | None:
        """Homes whose residents the admin may choose from; None: every home."""
        if self.organizations is None:
            return None
        homes: set[str] = set()
        today = self.services.now().date()
        for organization_id in self.organizations:
            kind = self.services.organizations.kind_of(organization_id)
            if kind is OrgKind.NURSING_HOME:
                homes.add(organization_id)
            elif kind in _CONTRACTS:
                homes |= self.services.contracts.homes_served_by(organization_id, _CONTRACTS[kind], today)
        return homes

    def _matchable_patients(self) -> list[dict[str, Any]]:
        homes = self._homes()
        if homes is None:
            homes = {o["id"] for o in self.services.organizations.all() if organization_kind(o) is OrgKind.NURSING_HOME}
        return self.services.residents.patients_of_homes(homes)

    def _items(self, rows: list[QuarantinedInput]) -> list[QuarantineItem]:
        org_names = self.services.organizations.names({row.organization_id for row in rows})
        patients = {
            p["id"]: p for p in self.services.residents.patients_by_id({r.patient_id for r in rows if r.patient_id})
        }
        senders: dict[str, str] = {}
        items = []
        for row in rows:
            patient = patients.get(row.patient_id or "")
            if row.sender not in senders:
                senders[row.sender] = self._sender_name(row.sender)
            items.append(
                QuarantineItem(
                    id=row.id,
                    kind=row.kind,
                    status=row.status,
                    received_at=as_utc(row.received_at),
                    sender=row.sender,
                    sender_name=senders[row.sender],
                    organization_name=org_names.get(row.organization_id, row.organization_id),
                    channel=row.channel,
                    reason_code=row.reason_code,
                    reason=row.reason,
                    attempts=row.attempts,
                    patient_id=row.patient_id,
                    patient_name=display_name(patient) if patient else None,
                    resolved_by=row.resolved_by,
                    resolved_at=as_utc(row.resolved_at) if row.resolved_at else None,
                    outcome=row.outcome,
                )
            )
        return items

    def _sender_name(self, sender: str) -> str:
        kind, _, subject = sender.partition(":")
        if kind == "account":
            account = self.services.db.get(Account, subject)
            return account.display_name if account else sender
        if kind == "client":
            client = self.services.db.get(ApiClient, subject)
            return client.name if client else sender
        return sender
