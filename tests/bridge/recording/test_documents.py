"""A recording's DocumentReference: what it says, that it is valid FHIR, and how it is found."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from fhir_adapter.validation import validate_resource

from bridge.recording.documents import RETAIN_UNTIL_EXTENSION, RecordingStore, store_recordings
from bridge.recording.tables import ConsultRecording
from tests.bridge.recording.support import HOSPITAL, encounter, fake_recording, new_resident
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

BASE_URL = "http://testserver/recordings"


def test_each_recording_gets_a_document_reference_on_the_encounter(
    bridge: Bridge, tmp_path: Path, medplum: MedplumValidator
) -> None:
    store = RecordingStore(tmp_path, BASE_URL, timedelta(days=1096))
    with bridge.services() as services:
        patient_id = new_resident(services)
        consult_id = encounter(services, patient_id)
        file = fake_recording(tmp_path, consult_id, services.now() - timedelta(minutes=2))
        [document_id] = store_recordings(services, consult_id, [file], store)
    with bridge.services() as services:
        document = services.repository.read("DocumentReference", document_id)
        row = services.db.get(ConsultRecording, document_id)
        found = services.repository.find("DocumentReference", {"encounter": f"Encounter/{consult_id}"})
        by_patient = services.repository.find("DocumentReference", {"patient": f"Patient/{patient_id}"})

    assert [d["id"] for d in found] == [d["id"] for d in by_patient] == [document_id]
    assert document["status"] == "current"
    assert document["subject"]["reference"] == f"Patient/{patient_id}"
    assert document["context"]["encounter"] == [{"reference": f"Encounter/{consult_id}"}]
    assert document["custodian"] == {"reference": f"Organization/{HOSPITAL}"}
    assert {c["code"] for c in document["type"]["coding"]} == {"85208-7", "consult-recording"}
    assert document["category"][0]["coding"][0]["code"] == "video"
    attachment = document["content"][0]["attachment"]
    data = file.path.read_bytes()
    assert attachment["contentType"] == "video/webm"
    assert attachment["url"] == f"{BASE_URL}/{consult_id}/{file.path.name}"
    assert attachment["size"] == len(data)
    assert base64.b64decode(attachment["hash"]) == hashlib.sha1(data).digest()  # noqa: S324 - FHIR's choice
    [retention] = [e for e in document["extension"] if e["url"] == RETAIN_UNTIL_EXTENSION]
    assert retention["valueDateTime"].startswith(str((file.ended_at + timedelta(days=1096)).date()))

    assert row is not None and row.path == f"{consult_id}/{file.path.name}" and row.deleted_at is None
    assert (row.consult_id, row.patient_id, row.participant_id) == (consult_id, patient_id, file.participant_id)
    assert row.sha256 == file.sha256 and row.size_bytes == len(data)

    validate_resource(document)
    assert_all_pass(medplum.validate([document]))


def test_a_file_outside_the_recordings_directory_is_refused(bridge: Bridge, tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "recordings", BASE_URL, timedelta(days=1))
    with pytest.raises(ValueError, match="subpath"), bridge.services() as services:  # and rolled back
        consult_id = encounter(services, new_resident(services))
        file = fake_recording(tmp_path / "elsewhere", consult_id, services.now())
        store_recordings(services, consult_id, [file], store)
