"""The original files behind a stored ECG: kept whole in the database and described by a
DocumentReference (type LOINC 11524-6 "EKG study"), one `content` per file.

A file's address is its SHA-256 and name (`/ingest/files/<sha256>/<name>`), known before the
DocumentReference has its server-assigned id; the row that holds the bytes records both. Serving it
checks that the caller may see the resident, as the chart does.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fhir_adapter.ecg import EcgRecording
from sqlalchemy import select

from bridge.ingest.residents import Matched
from bridge.ingest.tables import SourceFile
from bridge.services import Services

FILE_ROUTE = "/ingest/files"
CONTENT_TYPES = {
    ".hea": "text/plain",
    ".dat": "application/octet-stream",
    ".atr": "application/octet-stream",
    ".xyz": "application/octet-stream",
    ".xml": "application/xml",
    ".scp": "application/octet-stream",
    ".dcm": "application/dicom",
    ".csv": "text/csv",
}
_MAX_UNSIGNED_INT = 2**31 - 1
EKG_STUDY = {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}], "text": "心电图"}


def content_type_of(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def document_for(
    services: Services, matched: Matched, files: Mapping[str, bytes], recording: EcgRecording
) -> tuple[str, dict[str, Any]]:
    """A transaction entry's fullUrl and the DocumentReference of the files as uploaded."""
    base = services.settings.public_base_url
    created = services.now().isoformat()
    contents = []
    for name, data in files.items():
        attachment: dict[str, Any] = {
            "contentType": content_type_of(name),
            "url": f"{base}{FILE_ROUTE}/{hashlib.sha256(data).hexdigest()}/{quote(name)}",
            "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii"),
            "title": name,
            "creation": created,
        }
        if len(data) <= _MAX_UNSIGNED_INT:
            attachment["size"] = len(data)
        contents.append({"attachment": attachment})
    document = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": EKG_STUDY,
        "subject": {"reference": matched.reference},
        "date": created,
        "description": (
            f"ECG as received ({recording.source_format}, {len(recording.leads)} leads, "
            f"{recording.sampling_rate:g} Hz, {recording.duration_s:.1f} s)"
        ),
        "content": contents,
    }
    return f"urn:uuid:{uuid.uuid4()}", document


def keep_source_files(services: Services, document_id: str, patient_id: str, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        services.db.add(
            SourceFile(
                document_id=document_id,
                patient_id=patient_id,
                name=name[:255],
                content_type=content_type_of(name),
                sha256=hashlib.sha256(data).hexdigest(),
                content=data,
            )
        )
    services.db.flush()


def find_source_file(services: Services, sha256: str, name: str) -> SourceFile | None:
    return services.db.scalar(
        select(SourceFile).where(SourceFile.sha256 == sha256, SourceFile.name == name).order_by(SourceFile.id).limit(1)
    )
