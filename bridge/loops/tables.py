"""The loop tracker's tables: steps that happened, clocks awaiting the next one, and deadline settings.

`loop_id` groups everything about one care episode: the reference of the resource that opened it
(a DiagnosticReport or Observation that came up, a consult's Encounter, advice, a prescription).
Later steps join the loop of the resources they name (bridge/loops/tracker.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class LoopStep(BridgeBase):
    __tablename__ = "loop_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loop_id: Mapped[str] = mapped_column(String(140), nullable=False, index=True)
    step: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(140), nullable=False, index=True)  # e.g. "Task/12"
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    hospital_id: Mapped[str | None] = mapped_column(String(64), index=True)
    pharmacy_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_reference: Mapped[str] = mapped_column(String(128), nullable=False)
    actor_display: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class LoopClock(BridgeBase):
    __tablename__ = "loop_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loop_id: Mapped[str] = mapped_column(String(140), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(140), nullable=False, index=True)  # what is awaited on
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    hospital_id: Mapped[str | None] = mapped_column(String(64), index=True)
    pharmacy_id: Mapped[str | None] = mapped_column(String(64), index=True)
    responsible_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # an Organization id
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    done_by: Mapped[str | None] = mapped_column(String(128))
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoopDeadline(BridgeBase):
    """An administrator's deadline for a kind of clock, in force from `updated_at` for clocks started after."""

    __tablename__ = "loop_deadline"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(128), nullable=False)
