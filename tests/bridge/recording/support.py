"""Residents, consents and Encounters of their own for the recording tests (the demo's stay as they are)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.recording.consent import recording_consent
from bridge.services import Services
from rtc.recorder import RecordedFile

HOSPITAL = "demo-hospital"


def new_resident(services: Services) -> str:
    patient_id = f"rec-{uuid.uuid4().hex[:12]}"
    services.repository.create(
        {
            "resourceType": "Patient",
            "name": [{"text": "录像测试", "family": "录", "given": ["像测试"]}],
            "managingOrganization": {"reference": "Organization/demo-home-1"},
        },
        patient_id,
    )
    return patient_id


def consent(services: Services, patient_id: str, **overrides: Any) -> dict[str, Any]:
    """A stored recording Consent; keyword arguments replace top-level fields of the built one."""
    options = {k: overrides.pop(k) for k in ("guardian_name", "valid_until", "granted_at") if k in overrides}
    now = services.now()
    built = recording_consent(
        patient_id,
        consent_id=f"consent-{uuid.uuid4().hex[:12]}",
        granted_at=options.pop("granted_at", now - timedelta(days=1)),
        organization_id="demo-home-1",
        **options,
    )
    built.update(overrides)
    return services.repository.create(built, built["id"])


def encounter(services: Services, patient_id: str, status: str = "in-progress") -> str:
    consult_id = f"c-{uuid.uuid4().hex[:12]}"
    services.repository.create(
        {
            "resourceType": "Encounter",
            "status": status,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": f"Patient/{patient_id}", "display": "录像测试"},
            "serviceProvider": {"reference": f"Organization/{HOSPITAL}"},
        },
        consult_id,
    )
    return consult_id


def fake_recording(directory: Path, consult_id: str, started_at: datetime, *, seconds: int = 60) -> RecordedFile:
    """A file with arbitrary bytes standing in for a recording (documents and retention do not read it)."""
    path = directory / consult_id / "p-0123456789ab-1.webm"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = uuid.uuid4().bytes * 64
    path.write_bytes(data)
    return RecordedFile(
        path=path,
        participant_id="p-0123456789ab",
        role="station",
        display="101房1床",
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=seconds),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324 - FHIR's Attachment.hash
        content_type="video/webm",
        video_frames=900,
        audio_seconds=float(seconds),
    )
