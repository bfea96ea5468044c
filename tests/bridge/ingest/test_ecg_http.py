"""`POST /ingest/ecg` on the live server, as the first home's analyser client: every sample ECG becomes
an Observation (valid for Medplum, with automated measurements) whose original files are kept and
served to the care team; bad uploads are refused with a reason and kept in the quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.demo.laboratory import DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET
from bridge.ingest.quarantine import Quarantine
from tests.bridge.api.fhir_support import fhir_client
from tests.bridge.ingest.support import ECG_DIR, ingest_resident, lab_token, resident_identifier
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

SAMPLES = {
    "wfdb-12-lead": ["s0010_re.hea", "s0010_re.dat", "s0010_re.xyz"],
    "wfdb-30-minutes": ["100.hea", "100.dat"],
    "aecg": ["aecg/Example_aECG.xml"],
    "aecg-subject": ["aecg/subject1_0.xml"],
    "scp": ["scp/Example.scp"],
}
MDC = "urn:oid:2.16.840.1.113883.6.24"


def analyser(bridge: Bridge) -> httpx.Client:
    token = lab_token(bridge, DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET)
    return bridge.client(headers={"Authorization": f"Bearer {token}"})


def upload(client: httpx.Client, patient: str, files: dict[str, bytes], **data: str) -> httpx.Response:
    parts = [("file", (name, content, "application/octet-stream")) for name, content in files.items()]
    return client.post("/ingest/ecg", data={"patient": patient, **data}, files=parts)


def sample(names: list[str]) -> dict[str, bytes]:
    return {Path(name).name: (ECG_DIR / name).read_bytes() for name in names}


def lead_components(observation: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in observation["component"] if "valueSampledData" in c]


def test_every_sample_ecg_becomes_a_valid_observation_with_its_files(bridge: Bridge, medplum: MedplumValidator) -> None:
    patient = ingest_resident(bridge)
    client = analyser(bridge)
    observations = []
    for label, names in SAMPLES.items():
        response = upload(client, patient, sample(names))
        assert response.status_code == 201, (label, response.text)
        observation = response.json()
        assert response.headers["location"].endswith(f"/fhir/Observation/{observation['id']}")
        assert observation["subject"]["reference"] == f"Patient/{patient}"
        assert len(lead_components(observation)) >= 2, label
        measured = [c for c in observation["component"] if "valueQuantity" in c]
        assert measured, f"{label}: no automated measurements"
        observations.append(observation)
        # The original files are kept whole and served to the home's nurse.
        document_ref = observation["derivedFrom"][0]["reference"]
        nurse = fhir_client(bridge, "nurse1")
        document = nurse.get(f"/fhir/{document_ref}").json()
        for content in document["content"]:
            url = content["attachment"]["url"].replace("http://testserver", "")
            served = nurse.get(url)
            assert served.status_code == 200
            assert served.content == sample(names)[content["attachment"]["title"]]
        # ...and not to the other home's nurse.
        other = fhir_client(bridge, "nurse2")
        url = document["content"][0]["attachment"]["url"].replace("http://testserver", "")
        assert other.get(url).status_code == 404
    assert_all_pass(medplum.validate(observations))


def test_a_long_recording_is_shown_as_ten_seconds_and_kept_whole(bridge: Bridge) -> None:
    patient = ingest_resident(bridge)
    observation = upload(analyser(bridge), patient, sample(SAMPLES["wfdb-30-minutes"])).json()
    for component in lead_components(observation):
        data = component["valueSampledData"]
        samples = len(data["data"].split())
        assert samples * float(data["period"]) / 1000 == pytest.approx(10, abs=0.1)


def test_the_patient_may_be_named_by_an_identifier(bridge: Bridge) -> None:
    patient = ingest_resident(bridge)
    response = upload(analyser(bridge), resident_identifier(bridge, patient), sample(SAMPLES["scp"]))
    assert response.status_code == 201
    assert response.json()["subject"]["reference"] == f"Patient/{patient}"


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({"notes.txt": b"not an ECG"}, "ecg_"),
        ({"s0010_re.hea": (ECG_DIR / "s0010_re.hea").read_bytes()}, "ecg_"),  # no .dat
        ({"s0010_re.hea": (ECG_DIR / "s0010_re.hea").read_bytes(), "s0010_re.dat": b"\x00" * 100}, "ecg_"),
        ({"broken.xml": b"<AnnotatedECG><unclosed>"}, "ecg_"),
        ({"Example.scp": (ECG_DIR / "scp" / "Example.scp").read_bytes()[:500]}, "ecg_"),
    ],
)
def test_unreadable_ecgs_are_refused_and_kept(bridge: Bridge, files: dict[str, bytes], code: str) -> None:
    patient = ingest_resident(bridge)
    response = upload(analyser(bridge), patient, files)
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["diagnostics"]
    entry_id = response.headers["X-Bridge-Quarantine"]
    with bridge.services() as services:
        entry = Quarantine(services).get(entry_id)
        assert entry.row.reason_code.startswith(code)
        assert entry.files == files


def test_csv_needs_a_sampling_rate_and_nans_are_refused(bridge: Bridge) -> None:
    patient = ingest_resident(bridge)
    rows = "\n".join(f"{(i % 50) * 10},{(i % 50) * 12}" for i in range(2500))
    csv = f"I,II\n{rows}\n".encode()
    client = analyser(bridge)
    assert upload(client, patient, {"ecg.csv": csv}).status_code == 422
    assert upload(client, patient, {"ecg.csv": csv}, sampling_rate="500").status_code == 201
    assert (
        upload(
            client, patient, {"ecg.csv": csv.replace(b"\n10,12\n", b"\nnan,12\n", 1)}, sampling_rate="500"
        ).status_code
        == 422
    )
    assert upload(client, patient, {"ecg.csv": csv}, sampling_rate="fast").status_code == 400


def test_uploads_for_another_home_or_too_large_are_refused(bridge: Bridge) -> None:
    client = analyser(bridge)
    elsewhere = ingest_resident(bridge, "demo-home-2")
    refused = upload(client, elsewhere, sample(SAMPLES["scp"]))
    assert refused.status_code == 422  # not a resident it may file results for: kept, not stored
    too_big = client.post(
        "/ingest/ecg",
        content=b"x" * (51 * 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert too_big.status_code == 413 and too_big.json()["resourceType"] == "OperationOutcome"
