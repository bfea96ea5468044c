"""The outbox and the hospitals' own FHIR endpoints.

Every outbound delivery is an `outbox_message` row written in the same transaction as the change that
caused it, so a delivery can never be lost between "stored" and "sent": the worker (worker.py) sends it
later, retries with backoff, and records what happened in the row, which anyone allowed can query.

`hospital_endpoint` is the configuration of the one destination kind built so far: an internet
hospital's FHIR server, to which new results are pushed (bridge/results/hospital_push.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class OutboxMessage(BridgeBase):
    __tablename__ = "outbox_message"
    __table_args__ = (
        # The same content is enqueued once per destination (a replayed input, a retried request).
        UniqueConstraint("destination_kind", "destination_id", "dedupe_key", name="uq_outbox_message_dedupe"),
        # The worker's question: what is due now (pending, or sending with an expired lease).
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        # A destination's deliveries, and the earlier messages of the same ordering key.
        Index("ix_outbox_message_destination", "destination_kind", "destination_id", "ordering_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destination_kind: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. hospital-fhir
    destination_id: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. the hospital's Organization id
    dedupe_key: Mapped[str] = mapped_column(String(128), nullable=False)
    # Messages with the same key to the same destination are delivered in the order they were enqueued
    # (a corrected result must not be overtaken by the original it corrects); None: no order.
    ordering_key: Mapped[str | None] = mapped_column(String(128))
    # What it is, for people looking at the queue: never clinical content (admins see it).
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # JSON text, as the sender sends it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Pending: when it is due. Sending: when the claim lapses (the sender's instance died mid-send) and
    # another worker may take it over.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_summary: Mapped[str | None] = mapped_column(Text)  # e.g. the locations the receiver gave


class HospitalEndpoint(BridgeBase):
    """An internet hospital's own FHIR server; its bearer token is sent with every push, never shown."""

    __tablename__ = "hospital_endpoint"

    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500), nullable=False)
    # Stored as given, because it must be sent as given; logged nowhere and shown only as its last
    # characters (endpoints.py).
    bearer_token: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(80), nullable=False)  # a Principal reference or cli:<user>
