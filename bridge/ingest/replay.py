"""Replaying a quarantined input: the same processing as when it arrived, as the same sender, with
what was fixed meanwhile (a resident matched by hand, a sender configured, a mapping added).

Success marks the entry processed with what it produced; failure keeps it quarantined with the new
reason and one more attempt counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_adapter.hl7v2 import Hl7Error, parse_oru

from bridge.auth.principal import Principal
from bridge.auth.resolve import client_principal, user_principal
from bridge.auth.scopes import ScopeSet
from bridge.db.tables import Account, ApiClient
from bridge.errors import NotFound
from bridge.ingest.hl7_service import Hl7Ingestion
from bridge.ingest.quarantine import InputKind, Quarantine, QuarantineEntry, Rejection
from bridge.services import Services


@dataclass(frozen=True)
class ReplayResult:
    entry_id: str
    processed: bool
    detail: str  # what was created, or why it failed again


def replay(services: Services, entry_id: str, by: str, organization_ids: set[str] | None) -> ReplayResult:
    quarantine = Quarantine(services)
    entry = quarantine.open_entry(entry_id, organization_ids)
    sender = sender_principal(services, entry)
    if isinstance(sender, Rejection):
        outcome: list[str] | Rejection = sender
    elif entry.row.kind == InputKind.HL7V2.value:
        outcome = _replay_hl7(services, entry, sender)
    else:
        from bridge.ingest.ecg_service import replay_ecg

        outcome = replay_ecg(services, entry, sender)
    if isinstance(outcome, Rejection):
        quarantine.failed_again(entry_id, outcome)
        return ReplayResult(entry_id, False, outcome.reason)
    detail = " ".join(outcome)
    quarantine.processed(entry_id, detail, by)
    return ReplayResult(entry_id, True, detail)


def sender_principal(services: Services, entry: QuarantineEntry) -> Principal | Rejection:
    """The original sender; an MLLP message no facility mapping knew is attributed by its MSH-4 now."""
    sender = entry.row.sender
    kind, _, subject = sender.partition(":")
    if kind == "mllp":
        from bridge.ingest.mllp_service import attributed_client

        client = attributed_client(services, entry.files.get("message.hl7", b""))
        if client is None:
            return Rejection("unknown_sender", "its sending facility (MSH-4) is still not a known MLLP sender")
        return client_principal(services, client, ScopeSet.parse(client.scopes))
    if kind == "client":
        api_client = services.db.get(ApiClient, subject)
        if api_client is None or not api_client.active:
            return Rejection("unknown_sender", f"the client {subject} no longer exists or is inactive")
        return client_principal(services, api_client, ScopeSet.parse(api_client.scopes))
    account = services.db.get(Account, subject)
    if account is None or not account.active:
        return Rejection("unknown_sender", f"the account {subject} no longer exists or is inactive")
    return user_principal(services, account)


def _replay_hl7(services: Services, entry: QuarantineEntry, sender: Principal) -> list[str] | Rejection:
    raw = entry.files.get("message.hl7")
    if raw is None:
        raise NotFound()
    try:
        message = parse_oru(raw, default_encoding=services.settings.hl7_default_encoding)
    except Hl7Error as error:
        return Rejection(error.code, error.reason)
    ingestion = Hl7Ingestion(services, sender, channel="replay", client_address=None)
    answer = ingestion.process(raw, message, patient_id=entry.row.patient_id, quarantine=False)
    if answer.rejection is not None:
        return answer.rejection
    return answer.created
