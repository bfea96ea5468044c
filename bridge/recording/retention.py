"""Deleting recordings whose retention has passed.

What is deleted and what is kept: the file goes; its DocumentReference stays, status `current`, with
the attachment's `url`, `size` and `hash` removed and the extension `recording-deleted` (the time of
deletion) added, so the Encounter still shows that the consult was recorded and when the recording
was destroyed, and no link points at a file that no longer exists. (`entered-in-error` would say
the recording should never have existed; `superseded` needs a successor; deleting the
DocumentReference would hide the fact in its history.) Every earlier version, with the old URL,
stays in the resource's history, as FHIR's versioning requires.

Order: the DocumentReference and the row are changed first, then the file is removed, inside the
caller's transaction. If the transaction then fails to commit, the file is already gone and the
row still due: the next sweep finds it again, tolerates the missing file and records the deletion.
The opposite order could leave a file on disk past its retention for good, which is the worse error.
Two instances sweeping at once are kept apart by a conditional UPDATE of the row.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select, update

from bridge.recording.documents import DELETED_EXTENSION, instant
from bridge.recording.tables import ConsultRecording
from bridge.services import Services

logger = logging.getLogger(__name__)


def sweep_expired_recordings(services: Services, directory: Path, *, limit: int = 200) -> list[str]:
    """Delete up to `limit` recordings whose retention has passed; the ids of their DocumentReferences."""
    now = services.now()
    due = services.db.scalars(
        select(ConsultRecording)
        .where(ConsultRecording.deleted_at.is_(None), ConsultRecording.retain_until <= now)
        .order_by(ConsultRecording.retain_until)
        .limit(limit)
    ).all()
    deleted = []
    for row in due:
        claimed = services.db.execute(
            update(ConsultRecording)
            .where(ConsultRecording.id == row.id, ConsultRecording.deleted_at.is_(None))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # another instance's sweep took it
        _mark_document(services, row.id)
        services.db.flush()
        path = (directory / row.path).resolve()
        if not path.is_relative_to(directory.resolve()):
            logger.error("recording %s: path %r is outside the recordings directory; not deleted", row.id, row.path)
            continue
        path.unlink(missing_ok=True)
        logger.info("recording %s deleted (retention ended %s)", row.path, row.retain_until)
        deleted.append(row.id)
    return deleted


def _mark_document(services: Services, document_id: str) -> None:
    try:
        # A deep copy: the repository hands out the stored JSON itself, which must not change under it.
        document: dict[str, Any] = copy.deepcopy(services.repository.read("DocumentReference", document_id))
    except OperationOutcomeError:
        logger.warning("DocumentReference/%s is gone; deleting its recording file anyway", document_id)
        return
    removed = instant(services.now())
    for content in document.get("content", []):
        attachment = content.get("attachment", {})
        content["attachment"] = {k: v for k, v in attachment.items() if k not in ("url", "size", "hash", "data")}
    extensions = [e for e in document.get("extension", []) if e.get("url") != DELETED_EXTENSION]
    document["extension"] = [*extensions, {"url": DELETED_EXTENSION, "valueDateTime": removed}]
    document["description"] = f"{document.get('description', 'Consult recording')} (deleted {removed})"
    services.repository.update(document)
