"""The bookkeeping of critical-value alerts, one row per alert (and per FHIR Communication).

The Communication is the clinical record of the alert and what FHIR clients search; this row keeps what
the workflow needs and FHIR models poorly: which findings of which Observation were already alerted
(so a corrected version with the same values alerts no one again), whether and when the alert was
escalated to supervisors, who acknowledged it, and how long the result waited for that.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class CriticalAlert(BridgeBase):
    __tablename__ = "critical_alert"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the Communication id
    observation_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    observation_version: Mapped[int] = mapped_column(Integer, nullable=False)
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    home_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    # The internet hospitals contracted with the home when the alert was raised, space-separated.
    hospital_ids: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    # JSON list of the findings ({key, code, analyte, value, limit, ...}); `key` drives idempotence.
    findings: Mapped[str] = mapped_column(Text, nullable=False)
    value_text: Mapped[str] = mapped_column(String(255), nullable=False)  # e.g. "6.8 mmol/L"
    limit_text: Mapped[str] = mapped_column(String(255), nullable=False)  # e.g. "> 6.2 mmol/L"
    result_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # effective, else issued
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))  # Principal reference (account:...)
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(128))
    # From the result's time to the acknowledgement: the figure the issue asks to be recorded.
    seconds_to_acknowledge: Mapped[int | None] = mapped_column(Integer)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
