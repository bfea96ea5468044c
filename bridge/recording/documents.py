"""The DocumentReference of each recording, linking the file to the consult's Encounter.

One DocumentReference per file (one participant over one connection), status `current`:

- `type`: LOINC 85208-7 "Telehealth Consult note" (the LOINC document type of a telehealth
  consult), with the bridge's own `consult-recording` code beside it to say it is the recording, not
  a written note; `category`: `video` from HL7's media-type code system (R4's Media.type).
- `subject`: the resident, `context.encounter`: `Encounter/<consult id>`, `context.period`: the
  file's first and last frame; `custodian`: the hospital that provides the consult (the Encounter's
  serviceProvider); `author`: the recorder, a contained Device.
- `content.attachment`: contentType `video/webm`, `url` where the bridge serves it
  (`<base url>/<consult id>/<file>`), `size`, `hash` (base64 SHA-1, as FHIR defines it), `title`
  (the file name), `creation` (the first frame).
- retention: R4 has no element for it, so the extension `retain-until` (valueDateTime) on the
  DocumentReference says when the file will be deleted. The retention sweep reads the same date
  from the `consult_recording` row written in the same transaction (bridge/recording/tables.py).
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.directory.codes import NAMESPACE
from bridge.recording.tables import ConsultRecording
from bridge.services import Services
from rtc.recorder import RecordedFile

logger = logging.getLogger(__name__)

RETAIN_UNTIL_EXTENSION = f"{NAMESPACE}/StructureDefinition/retain-until"
DELETED_EXTENSION = f"{NAMESPACE}/StructureDefinition/recording-deleted"
RECORDING_IDENTIFIER_SYSTEM = f"{NAMESPACE}/sid/consult-recording"
DOCUMENT_TYPE_SYSTEM = f"{NAMESPACE}/CodeSystem/document-type"
RECORDING_TYPE = {
    "coding": [
        {"system": "http://loinc.org", "code": "85208-7", "display": "Telehealth Consult note"},
        {"system": DOCUMENT_TYPE_SYSTEM, "code": "consult-recording", "display": "Video consult recording"},
    ],
    "text": "会诊录像 (video consult recording)",
}
VIDEO_CATEGORY = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/media-type", "code": "video", "display": "Video"}]
}
_MAX_UNSIGNED_INT = 2**31 - 1  # FHIR unsignedInt; a larger file goes without `size` (the hash still says it)

Json = dict[str, Any]


@dataclass(frozen=True)
class RecordingStore:
    """Where recordings live: `directory` on disk, served under `base_url`, kept for `retention`."""

    directory: Path
    base_url: str
    retention: timedelta

    def relative(self, path: Path) -> str:
        """The file's path under the directory ("<consult id>/<file>"); ValueError outside it."""
        return path.resolve().relative_to(self.directory.resolve()).as_posix()

    def url(self, relative: str) -> str:
        return f"{self.base_url.rstrip('/')}/{relative}"


def store_recordings(
    services: Services, consult_id: str, files: Sequence[RecordedFile], store: RecordingStore
) -> list[str]:
    """A DocumentReference and a bookkeeping row per file, in the caller's transaction; their ids."""
    encounter = services.repository.read("Encounter", consult_id)
    patient_id = str(encounter["subject"]["reference"]).removeprefix("Patient/")
    ids = []
    for file in files:
        document_id = str(uuid.uuid4())
        relative = store.relative(file.path)
        retain_until = file.ended_at + store.retention
        document = recording_document(
            document_id, encounter, file, store.url(relative), created=services.now(), retain_until=retain_until
        )
        services.repository.create(document, document_id)
        services.db.add(
            ConsultRecording(
                id=document_id,
                consult_id=consult_id,
                patient_id=patient_id,
                participant_id=file.participant_id,
                role=file.role,
                path=relative,
                content_type=file.content_type,
                size_bytes=file.size,
                sha256=file.sha256,
                started_at=file.started_at,
                ended_at=file.ended_at,
                retain_until=retain_until,
            )
        )
        ids.append(document_id)
        logger.info("recording %s of consult %s stored as DocumentReference/%s", relative, consult_id, document_id)
    return ids


def recording_document(
    document_id: str, encounter: Json, file: RecordedFile, url: str, *, created: datetime, retain_until: datetime
) -> Json:
    attachment: Json = {
        "contentType": file.content_type,
        "url": url,
        "hash": base64.b64encode(bytes.fromhex(file.sha1)).decode("ascii"),
        "title": file.path.name,
        "creation": instant(file.started_at),
    }
    if file.size <= _MAX_UNSIGNED_INT:
        attachment["size"] = file.size
    who = file.display or file.role
    document: Json = {
        "resourceType": "DocumentReference",
        "id": document_id,
        "contained": [
            {
                "resourceType": "Device",
                "id": "recorder",
                "deviceName": [{"name": "nhbridge consult recorder", "type": "user-friendly-name"}],
            }
        ],
        "extension": [{"url": RETAIN_UNTIL_EXTENSION, "valueDateTime": instant(retain_until)}],
        "identifier": [{"system": RECORDING_IDENTIFIER_SYSTEM, "value": document_id}],
        "status": "current",
        "type": RECORDING_TYPE,
        "category": [VIDEO_CATEGORY],
        "subject": encounter["subject"],
        "date": instant(created),
        "author": [{"reference": "#recorder"}],
        "description": f"Consult recording: {who} ({file.role}, participant {file.participant_id})",
        "content": [{"attachment": attachment}],
        "context": {
            "encounter": [{"reference": f"Encounter/{encounter['id']}"}],
            "period": {"start": instant(file.started_at), "end": instant(file.ended_at)},
        },
    }
    if "serviceProvider" in encounter:
        document["custodian"] = encounter["serviceProvider"]
    return document


def instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
