"""What an ORU^R01 says, read and checked, before any FHIR: the patient, the orders (OBR) and their
results (OBX) with notes (NTE). Frozen: a parsed message is a value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fhir_adapter.hl7v2.codes import CodedElement
from fhir_adapter.hl7v2.header import MessageHeader
from fhir_adapter.hl7v2.ranges import ReferenceRange
from fhir_adapter.hl7v2.timestamps import Hl7Time
from fhir_adapter.hl7v2.units import Unit
from fhir_adapter.hl7v2.values import ResultValue

if TYPE_CHECKING:
    from fhir_adapter.hl7v2.loinc_map import CodeMap
    from fhir_adapter.hl7v2.to_fhir import FhirEntry

GENDERS = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}


@dataclass(frozen=True)
class PatientIdentifier:
    value: str
    authority: str | None  # PID-3.4 assigning authority: namespace, else universal id
    type_code: str | None  # PID-3.5, e.g. MR


@dataclass(frozen=True)
class PatientIdentity:
    identifiers: tuple[PatientIdentifier, ...]
    family: str
    given: tuple[str, ...]
    birth_date: str | None  # FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)
    sex: str | None  # PID-8 as sent (table 0001)

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.family, *self.given) if part)

    @property
    def gender(self) -> str | None:
        return GENDERS.get(self.sex or "")


@dataclass(frozen=True)
class Note:
    text: str
    source: str = ""  # NTE-2: L laboratory, P placer, O other


@dataclass(frozen=True)
class Result:
    """One OBX."""

    set_id: str
    value_type: str
    code: CodedElement
    sub_id: str
    value: ResultValue | None
    unit: Unit | None
    reference_range: ReferenceRange | None
    flags: tuple[str, ...]
    status: str  # OBX-11 as sent
    effective: Hl7Time | None
    notes: tuple[Note, ...]
    key: str  # identifies this result within its order, across corrections
    line: int


@dataclass(frozen=True)
class Order:
    """One OBR with what follows it."""

    set_id: str
    placer: str
    filler: str
    service: CodedElement
    observed: Hl7Time | None  # OBR-7
    reported: Hl7Time | None  # OBR-22
    status: str  # OBR-25 as sent
    notes: tuple[Note, ...]
    results: tuple[Result, ...]
    line: int

    @property
    def key(self) -> str:
        """The order's number at the laboratory (filler), else at the orderer (placer), else its place,
        with the service code: several OBR of one requisition often share the order numbers."""
        if self.filler:
            number = self.filler
        elif self.placer:
            number = f"placer:{self.placer}"
        else:
            number = f"obr:{self.set_id or self.line}"
        return f"{number}/{self.service.key}"


@dataclass(frozen=True)
class OruMessage:
    header: MessageHeader
    patient: PatientIdentity
    orders: tuple[Order, ...]
    message_time: datetime | None  # aware when MSH-7 carried a time zone or a default zone was given
    warnings: tuple[str, ...]  # what was read leniently or left out, for the log or a reviewer

    @property
    def control_id(self) -> str:
        return self.header.control_id

    @property
    def version(self) -> str:
        return self.header.version

    @property
    def sending_application(self) -> str:
        return self.header.hd(3)

    @property
    def sending_facility(self) -> str:
        return self.header.hd(4)

    @property
    def processing_id(self) -> str:
        """MSH-11: P production, T training, D debugging; what to do with T and D is the caller's call."""
        return self.header.component(11)

    @property
    def encoding(self) -> str:
        """The Python codec the message was decoded with (and its ACK should be encoded with)."""
        return self.header.codec

    @property
    def sender_key(self) -> str:
        return self.header.sender_key

    def to_fhir(
        self,
        subject_reference: str,
        *,
        performer_reference: str | None = None,
        code_map: CodeMap | None = None,
    ) -> list[FhirEntry]:
        """(fullUrl, resource) pairs: per order a DiagnosticReport and its Observations, linked by
        ``urn:uuid`` fullUrls, without ids, ready for one transaction Bundle."""
        from fhir_adapter.hl7v2.to_fhir import message_entries  # to_fhir imports this module

        return message_entries(self, subject_reference, performer_reference, code_map)
