"""Relational state of prescribing: doctors' signing keys and the steps each prescription went through.

The prescription itself (MedicationRequest), its signature (Provenance) and the pharmacy's work (Task,
MedicationDispense) are FHIR resources. `prescription_step` is a flat log of who did what when, one row
per workflow step, because the loop tracker and supervisors ask "how long did step X take" across many
prescriptions, which the resources' version histories answer only slowly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class SigningKey(BridgeBase):
    """A doctor's key pair for signing prescriptions. The public half is published in the JWKS (with
    retired keys too, so old signatures stay verifiable); the private half is sealed (bridge/sealing.py)."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False)  # JWS alg, e.g. ES256
    public_jwk: Mapped[str] = mapped_column(Text, nullable=False)  # JSON text
    private_key_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PrescriptionStep(BridgeBase):
    __tablename__ = "prescription_step"
    __table_args__ = (Index("ix_prescription_step_request", "medication_request_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    medication_request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    task_id: Mapped[str | None] = mapped_column(String(64), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    hospital_id: Mapped[str | None] = mapped_column(String(64))
    pharmacy_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # drafted | signed | rejected | accepted | dispensed | dispatched | delivered | received | cancelled
    step: Mapped[str] = mapped_column(String(24), nullable=False)
    actor_reference: Mapped[str] = mapped_column(String(128), nullable=False)  # Practitioner/x, Device/x, ...
    actor_display: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON: reasons, tracking, quantities
