"""The recording files on disk, one row per file and DocumentReference.

The DocumentReference is the clinical record of a recording; this row is the bridge's bookkeeping of
the file behind it: where it is (relative to the recordings directory), until when it is kept, and
when it was deleted. The retention sweep finds due files by `retain_until` here rather than by
reading every DocumentReference.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.db.tables import BridgeBase


class ConsultRecording(BridgeBase):
    __tablename__ = "consult_recording"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the DocumentReference id
    consult_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # = the Encounter id
    patient_id: Mapped[str] = mapped_column(String(64), nullable=False)
    participant_id: Mapped[str] = mapped_column(String(32), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str] = mapped_column(String(255), nullable=False)  # relative to the recordings directory
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retain_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
