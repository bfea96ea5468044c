"""HL7 v2 laboratory results in: from raw bytes to stored DiagnosticReports and Observations, or to the
quarantine, and always to an ACK.

The same path serves `POST /ingest/hl7v2`, the MLLP listener and replays from the quarantine:

1. a message sent before by the same sender (same MSH-10) gets the ACK it got then, nothing new;
2. a message that does not parse is quarantined and answered AR or AE with the reason;
3. the resident is matched by PID-3 among the residents of the homes the sender delivers for;
   no match: quarantined, AE;
4. the results are stored in one transaction as the sender (checked like any FHIR write); failure:
   quarantined, AE, nothing stored;
5. AA, and the receipt remembers the ACK and what was created.

The quarantine, the receipt and the results are written in the caller's transaction: all or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.hl7v2 import Hl7Error, OruMessage, build_ack, parse_oru
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bridge.auth.principal import Principal
from bridge.fhir_api.context import FhirContext
from bridge.ingest.quarantine import InputKind, Quarantine, Rejection
from bridge.ingest.residents import GivenIdentifier, Matched, match_resident
from bridge.ingest.storing import after_storing, outcome_text, references, store_transaction, transaction_of
from bridge.ingest.tables import Hl7Receipt
from bridge.services import Services

logger = logging.getLogger(__name__)


@dataclass
class Hl7Answer:
    ack: bytes
    code: str  # AA | AE | AR
    quarantine_id: str | None = None
    created: list[str] = field(default_factory=list)
    duplicate: bool = False
    # Why it was not stored (also when nothing was quarantined: a replay keeps its own entry).
    rejection: Rejection | None = None


class Hl7Ingestion:
    def __init__(self, services: Services, sender: Principal, *, channel: str, client_address: str | None) -> None:
        self.services = services
        self.sender = sender
        self.channel = channel
        self.client_address = client_address
        self.quarantine = Quarantine(services)

    def receive(self, raw: bytes) -> Hl7Answer:
        """Never loses the message: a failure of the bridge's own (a bug, a constraint) rolls back what
        was done and keeps the message in the quarantine to be replayed, answered AE."""
        savepoint = self.services.db.begin_nested()
        try:
            answer = self._receive(raw)
        except OperationalError:
            raise  # the database itself (locked, gone): the caller's transaction is lost; the sender resends
        except Exception as exc:
            logger.exception("HL7 message from %s could not be processed; keeping it", self.sender.reference)
            savepoint.rollback()
            rejection = Rejection("processing_failed", f"the bridge failed while processing it ({type(exc).__name__})")
            entry = self._keep(raw, rejection)
            ack = build_ack(raw, "AE", rejection.reason, error=Hl7Error(rejection.code, rejection.reason, "AE"))
            return Hl7Answer(ack.encode("utf-8", "replace"), "AE", entry, rejection=rejection)
        savepoint.commit()
        return answer

    def _receive(self, raw: bytes) -> Hl7Answer:
        settings = self.services.settings
        if len(raw) > settings.hl7_max_message_bytes:
            return self._refuse(raw, Hl7Error.too_large(len(raw), settings.hl7_max_message_bytes))
        try:
            message = parse_oru(raw, default_encoding=settings.hl7_default_encoding)
        except Hl7Error as error:
            return self._refuse(raw, error)
        earlier = self._receipt(message.control_id)
        if earlier is not None:
            logger.info("HL7 %s from %s was received before; same ACK", message.control_id, self.sender.reference)
            return Hl7Answer(
                earlier.ack.encode(message.encoding),
                earlier.ack_code,
                earlier.quarantine_id,
                earlier.created.split(),
                duplicate=True,
            )
        answer = self.process(raw, message, patient_id=None)
        self._remember(message, answer)
        return answer

    def process(self, raw: bytes, message: OruMessage, *, patient_id: str | None, quarantine: bool = True) -> Hl7Answer:
        """Steps 3 to 5. A replay comes in here, with the resident matched by hand, and without
        `quarantine`: its input is in the quarantine already."""
        homes = self.services.policy.visible_home_ids(self.sender)
        if patient_id is not None:
            matched: Matched | Rejection = self._chosen(patient_id, homes)
        else:
            given = [GivenIdentifier(i.value, i.authority) for i in message.patient.identifiers]
            matched = match_resident(self.services, given, homes)
        if isinstance(matched, Rejection):
            return self._quarantined(raw, message, matched, quarantine)
        entries = message.to_fhir(matched.reference, performer_reference=self._performer())
        ctx = FhirContext(self.services, self.sender, self.services.settings.public_base_url, self.client_address)
        savepoint = self.services.db.begin_nested()
        try:
            stored = store_transaction(
                ctx, transaction_of(self.services, entries), self.services.settings.fhir_max_bundle_entries
            )
        except OperationOutcomeError as error:
            savepoint.rollback()
            return self._quarantined(raw, message, Rejection("not_storable", outcome_text(error)), quarantine)
        savepoint.commit()
        after_storing(self.services, matched.patient, stored, "lab", self.sender)
        created = references(stored)
        logger.info(
            "HL7 %s from %s: %d resources for %s",
            message.control_id,
            self.sender.reference,
            len(created),
            matched.reference,
        )
        ack = build_ack(message, "AA", f"{len(created)} resources stored")
        return Hl7Answer(ack.encode(message.encoding), "AA", created=created)

    # --- helpers ----------------------------------------------------------------------------------

    def _refuse(self, raw: bytes, error: Hl7Error) -> Hl7Answer:
        """Input that is not a processable message at all: kept, and answered as the error says."""
        rejection = Rejection(error.code, error.reason)
        entry = self._keep(raw, rejection)
        ack = build_ack(raw, error.ack_code, error.reason, error=error)
        return Hl7Answer(ack.encode(error.encoding or "utf-8", "replace"), error.ack_code, entry, rejection=rejection)

    def _quarantined(self, raw: bytes, message: OruMessage, rejection: Rejection, keep: bool) -> Hl7Answer:
        entry = self._keep(raw, rejection) if keep else None
        error = Hl7Error(rejection.code, rejection.reason, "AE")
        ack = build_ack(message, "AE", rejection.reason, error=error)
        return Hl7Answer(ack.encode(message.encoding, "replace"), "AE", entry, rejection=rejection)

    def _keep(self, raw: bytes, rejection: Rejection) -> str:
        return self.quarantine.keep(
            InputKind.HL7V2,
            sender=self.sender.reference,
            organization_id=self.sender.organization_id,
            channel=self.channel,
            rejection=rejection,
            files={"message.hl7": raw},
        )

    def _chosen(self, patient_id: str, homes: frozenset[str]) -> Matched | Rejection:
        try:
            patient = self.services.repository.read("Patient", patient_id)
        except OperationOutcomeError:
            return Rejection("unknown_patient", f"Patient/{patient_id} does not exist")
        if patient.get("managingOrganization", {}).get("reference", "").removeprefix("Organization/") not in homes:
            return Rejection("unknown_patient", f"Patient/{patient_id} is not a resident of the sender's homes")
        return Matched(patient)

    def _performer(self) -> str:
        return f"Organization/{self.sender.organization_id}"

    def _receipt(self, control_id: str) -> Hl7Receipt | None:
        return self.services.db.scalar(
            select(Hl7Receipt).where(Hl7Receipt.sender == self.sender.reference, Hl7Receipt.control_id == control_id)
        )

    def _remember(self, message: OruMessage, answer: Hl7Answer) -> None:
        self.services.db.add(
            Hl7Receipt(
                sender=self.sender.reference,
                control_id=message.control_id,
                received_at=self.services.now(),
                ack_code=answer.code,
                ack=answer.ack.decode(message.encoding, "replace"),
                quarantine_id=answer.quarantine_id,
                created=" ".join(answer.created),
            )
        )
        self.services.db.flush()
