"""Relational bookkeeping of inbound results: the quarantine and the receipts of HL7 messages.

The clinical content, once processed, lives in the FHIR store; these rows keep what FHIR does not
model: the raw input that could not be processed (kept whole, never dropped) and, per sender and
message control id, the acknowledgement already given, so that a message sent twice gets the same
answer and creates nothing new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class QuarantinedInput(BridgeBase):
    __tablename__ = "quarantined_input"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # hl7v2 | ecg
    # Who sent it (a Principal reference such as client:lab-1) and for which organisation.
    sender: Mapped[str] = mapped_column(String(80), nullable=False)
    organization_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # http | mllp | upload
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason_code: Mapped[str] = mapped_column(String(48), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    # Parameters that came with the input (ECG: patient, device, sampling rate) as JSON text.
    parameters: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)  # quarantined | processed | discarded
    # A resident matched by hand (the usual fix for an unknown resident), used on replay.
    patient_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    # What processing produced once it succeeded (references), or the last replay's failure.
    outcome: Mapped[str | None] = mapped_column(Text)


class QuarantinedFile(BridgeBase):
    """The input's bytes, exactly as received; an ECG upload may be several files (.hea and .dat)."""

    __tablename__ = "quarantined_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    input_id: Mapped[str] = mapped_column(
        ForeignKey("quarantined_input.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Hl7Receipt(BridgeBase):
    """One processed (or quarantined) HL7 message per sender and control id, with the ACK it got."""

    __tablename__ = "hl7_receipt"
    __table_args__ = (UniqueConstraint("sender", "control_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(80), nullable=False)
    control_id: Mapped[str] = mapped_column(String(199), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ack_code: Mapped[str] = mapped_column(String(2), nullable=False)
    ack: Mapped[str] = mapped_column(Text, nullable=False)
    quarantine_id: Mapped[str | None] = mapped_column(String(64))
    # The DiagnosticReport and Observation references created, space-separated.
    created: Mapped[str] = mapped_column(Text, nullable=False, default="")


class SourceFile(BridgeBase):
    """An original file behind a stored result (an ECG as uploaded), served to the care team through
    its DocumentReference. Kept in the database, the store of record every instance shares."""

    __tablename__ = "source_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # DocumentReference id
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
