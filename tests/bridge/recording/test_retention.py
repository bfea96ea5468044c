"""The retention sweep on an advanced clock: files go, DocumentReferences stay and say so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bridge.recording.documents import DELETED_EXTENSION, RecordingStore, store_recordings
from bridge.recording.retention import sweep_expired_recordings
from bridge.recording.tables import ConsultRecording
from tests.bridge.recording.support import encounter, fake_recording, new_resident
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

THREE_YEARS = timedelta(days=1096)


def stored(bridge: Bridge, store: RecordingStore) -> tuple[str, Path]:
    with bridge.services() as services:
        consult_id = encounter(services, new_resident(services))
        file = fake_recording(store.directory, consult_id, services.now() - timedelta(minutes=5), seconds=120)
        [document_id] = store_recordings(services, consult_id, [file], store)
    return document_id, file.path


def sweep(bridge: Bridge, directory: Path) -> list[str]:
    with bridge.services() as services:
        return sweep_expired_recordings(services, directory)


def test_recordings_are_deleted_once_their_retention_has_passed(
    bridge: Bridge, tmp_path: Path, medplum: MedplumValidator
) -> None:
    long_kept = RecordingStore(tmp_path, "http://testserver/recordings", THREE_YEARS)
    short_kept = RecordingStore(tmp_path, "http://testserver/recordings", timedelta(days=30))
    old_id, old_file = stored(bridge, long_kept)
    short_id, short_file = stored(bridge, short_kept)

    assert not {old_id, short_id} & set(sweep(bridge, tmp_path))  # nothing is due yet
    with bridge.clock.advanced(timedelta(days=31)):
        assert short_id in sweep(bridge, tmp_path)
        assert short_id not in sweep(bridge, tmp_path)  # once
    assert not short_file.exists() and old_file.exists()

    with bridge.clock.advanced(THREE_YEARS - timedelta(days=1)):
        assert old_id not in sweep(bridge, tmp_path)  # a day short of it
    with bridge.clock.advanced(THREE_YEARS + timedelta(minutes=1)):
        assert old_id in sweep(bridge, tmp_path)
    assert not old_file.exists()

    with bridge.services() as services:
        document = services.repository.read("DocumentReference", short_id)
        history = services.repository.history("DocumentReference", short_id)
        row = services.db.get(ConsultRecording, short_id)
    assert document["status"] == "current"
    attachment = document["content"][0]["attachment"]
    assert not {"url", "size", "hash"} & attachment.keys()
    assert attachment["contentType"] == "video/webm" and attachment["title"] == short_file.name
    assert [e for e in document["extension"] if e["url"] == DELETED_EXTENSION]
    assert "deleted" in document["description"]
    assert [v["meta"]["versionId"] for v in history] == ["2", "1"]
    assert "url" in history[1]["content"][0]["attachment"]  # the earlier version keeps what it said
    assert row is not None and row.deleted_at is not None
    assert_all_pass(medplum.validate([document]))


def test_a_file_already_missing_is_still_recorded_as_deleted(bridge: Bridge, tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, "http://testserver/recordings", timedelta(days=1))
    document_id, path = stored(bridge, store)
    path.unlink()
    with bridge.clock.advanced(timedelta(days=2)):
        assert document_id in sweep(bridge, tmp_path)
    with bridge.services() as services:
        attachment = services.repository.read("DocumentReference", document_id)["content"][0]["attachment"]
    assert "url" not in attachment


def test_a_deleted_document_reference_does_not_keep_the_file(bridge: Bridge, tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, "http://testserver/recordings", timedelta(days=1))
    document_id, path = stored(bridge, store)
    with bridge.services() as services:
        services.repository.delete("DocumentReference", document_id)
    with bridge.clock.advanced(timedelta(days=2)):
        assert document_id in sweep(bridge, tmp_path)
    assert not path.exists()
