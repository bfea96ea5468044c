"""Recording files over HTTP: the resident's care team downloads them (audited); nobody else does."""

from __future__ import annotations

from datetime import timedelta

from bridge.recording.documents import store_recordings
from bridge.recording.tables import ConsultRecording
from bridge.recording.worker import recording_store
from tests.bridge.recording.support import encounter, fake_recording
from tests.bridge.signalling.support import resident_of
from tests.conftest import Bridge


def test_the_care_team_downloads_a_recording_others_get_404_or_403(bridge: Bridge) -> None:
    patient_id = resident_of(bridge)["id"]  # a resident of demo-home-1
    settings = bridge.runtime.settings
    with bridge.services() as services:
        consult_id = encounter(services, patient_id)
        recorded = fake_recording(settings.recording_dir, consult_id, services.now() - timedelta(minutes=5))
        (document_id,) = store_recordings(services, consult_id, [recorded], recording_store(settings))
        row = services.db.get(ConsultRecording, document_id)
        assert row is not None
        path = f"/recordings/{row.path}"
        document = services.repository.read("DocumentReference", document_id)
    assert document["content"][0]["attachment"]["url"].endswith(path)

    for username in ("doctor", "nurse1"):
        response = bridge.bearer(username).get(path)
        assert response.status_code == 200, response.text
        assert response.content == recorded.path.read_bytes()
        assert response.headers["content-type"] == "video/webm"
    assert bridge.bearer("nurse2").get(path).status_code == 404  # another home's nurse
    assert bridge.bearer("supervisor").get(path).status_code == 403  # no clinical records
    assert bridge.client().get(path).status_code == 401
    assert bridge.bearer("doctor").get(f"/recordings/{consult_id}/../../etc/passwd").status_code == 404
    with bridge.services() as services:
        audited = services.repository.find("AuditEvent", {"entity": [f"DocumentReference/{document_id}"]})
    assert len(audited) >= 2
