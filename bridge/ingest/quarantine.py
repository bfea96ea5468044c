"""The quarantine: inbound results that could not be processed, kept whole with the reason.

Nothing is dropped. An entry stays `quarantined` until someone fixes what was wrong (usually by matching
it to a resident by hand) and replays it, which runs it through the same processing as when it arrived;
success marks it `processed` with what it produced, failure keeps it with the new reason. An entry can
also be `discarded` (a test message, a duplicate from another channel), which keeps it and says who did.
Admins see their organisation's entries; the operator's see every organisation's.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from bridge.errors import Conflict, NotFound
from bridge.ingest.tables import QuarantinedFile, QuarantinedInput
from bridge.services import Services

logger = logging.getLogger(__name__)


class QuarantineStatus(StrEnum):
    QUARANTINED = "quarantined"
    PROCESSED = "processed"
    DISCARDED = "discarded"


class InputKind(StrEnum):
    HL7V2 = "hl7v2"
    ECG = "ecg"


@dataclass(frozen=True)
class Rejection:
    """Why an input could not be processed: a stable code for programs and a reason for people."""

    code: str
    reason: str


@dataclass(frozen=True)
class QuarantineEntry:
    row: QuarantinedInput
    files: dict[str, bytes]

    @property
    def parameters(self) -> dict[str, Any]:
        loaded = json.loads(self.row.parameters or "{}")
        return loaded if isinstance(loaded, dict) else {}


class Quarantine:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db

    def keep(
        self,
        kind: InputKind,
        *,
        sender: str,
        organization_id: str,
        channel: str,
        rejection: Rejection,
        files: Mapping[str, bytes],
        parameters: Mapping[str, Any] | None = None,
    ) -> str:
        entry_id = str(uuid.uuid4())
        self.db.add(
            QuarantinedInput(
                id=entry_id,
                kind=kind.value,
                sender=sender,
                organization_id=organization_id,
                channel=channel,
                received_at=self.services.now(),
                reason_code=rejection.code,
                reason=rejection.reason[:4000],
                parameters=json.dumps(dict(parameters or {}), ensure_ascii=False),
                status=QuarantineStatus.QUARANTINED.value,
                attempts=1,
            )
        )
        self.db.flush()  # the files refer to it, and no relationship tells the unit of work the order
        for name, content in files.items():
            self.db.add(QuarantinedFile(input_id=entry_id, name=name[:255], content=content))
        self.db.flush()
        logger.warning("quarantined %s input %s from %s: %s", kind.value, entry_id, sender, rejection.reason)
        return entry_id

    def listing(
        self, organization_ids: set[str] | None, status: QuarantineStatus | None = None
    ) -> list[QuarantinedInput]:
        """Newest first; ``organization_ids`` None means every organisation."""
        query = select(QuarantinedInput).order_by(QuarantinedInput.received_at.desc())
        if organization_ids is not None:
            query = query.where(QuarantinedInput.organization_id.in_(sorted(organization_ids)))
        if status is not None:
            query = query.where(QuarantinedInput.status == status.value)
        return list(self.db.scalars(query.limit(500)))

    def get(self, entry_id: str, organization_ids: set[str] | None = None) -> QuarantineEntry:
        row = self.db.get(QuarantinedInput, entry_id)
        if row is None or (organization_ids is not None and row.organization_id not in organization_ids):
            raise NotFound()
        files = {
            f.name: f.content
            for f in self.db.scalars(
                select(QuarantinedFile).where(QuarantinedFile.input_id == entry_id).order_by(QuarantinedFile.id)
            )
        }
        return QuarantineEntry(row, files)

    def open_entry(self, entry_id: str, organization_ids: set[str] | None = None) -> QuarantineEntry:
        entry = self.get(entry_id, organization_ids)
        if entry.row.status != QuarantineStatus.QUARANTINED.value:
            raise Conflict("error.quarantine_closed")
        return entry

    def match_resident(self, entry_id: str, patient_id: str, by: str, organization_ids: set[str] | None) -> None:
        entry = self.open_entry(entry_id, organization_ids)
        entry.row.patient_id = patient_id
        entry.row.resolved_by = by
        logger.info("quarantined input %s matched to Patient/%s by %s", entry_id, patient_id, by)

    def processed(self, entry_id: str, outcome: str, by: str) -> None:
        row = self._row(entry_id)
        row.status = QuarantineStatus.PROCESSED.value
        row.resolved_at = self.services.now()
        row.resolved_by = by
        row.outcome = outcome
        logger.info("quarantined input %s replayed by %s: %s", entry_id, by, outcome)

    def failed_again(self, entry_id: str, rejection: Rejection) -> None:
        row = self._row(entry_id)
        row.attempts += 1
        row.reason_code = rejection.code
        row.reason = rejection.reason[:4000]
        row.outcome = None

    def discard(self, entry_id: str, by: str, why: str, organization_ids: set[str] | None) -> None:
        entry = self.open_entry(entry_id, organization_ids)
        entry.row.status = QuarantineStatus.DISCARDED.value
        entry.row.resolved_at = self.services.now()
        entry.row.resolved_by = by
        entry.row.outcome = why[:4000]
        logger.info("quarantined input %s discarded by %s: %s", entry_id, by, why)

    def _row(self, entry_id: str) -> QuarantinedInput:
        row = self.db.get(QuarantinedInput, entry_id)
        if row is None:
            raise NotFound()
        return row
