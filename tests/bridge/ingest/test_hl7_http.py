"""`POST /ingest/hl7v2` on the live server, as the demo laboratory's LIS: real sample messages aimed at
demo residents are stored (or kept in the quarantine with a reason), duplicates answered alike,
corrections stored as new versions, bad input answered with a clear ACK and kept."""

from __future__ import annotations

from typing import Any

import hl7
import httpx
import pytest

from bridge.ingest.quarantine import Quarantine, QuarantineStatus
from bridge.ingest.replay import replay
from tests.bridge.ingest.support import (
    aimed_at,
    ingest_resident,
    lab_client,
    oru,
    resident_identifier,
    sample_messages,
)
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")


def ack_of(response: httpx.Response) -> tuple[str, str]:
    """(MSA-1, MSA-3) of the ACK in the response."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("x-application/hl7-v2+er7")
    message = hl7.parse(response.content.decode("utf-8").replace("\n", "\r"))
    msa = message.segment("MSA")
    return str(msa[1]), str(msa[3]) if len(msa) > 3 else ""


def send(client: httpx.Client, message: bytes) -> httpx.Response:
    return client.post("/ingest/hl7v2", content=message, headers={"Content-Type": "x-application/hl7-v2+er7"})


def stored(bridge: Bridge, references: list[str]) -> list[dict[str, Any]]:
    with bridge.services() as services:
        return [services.repository.read(*reference.split("/", 1)) for reference in references]


def created_by(bridge: Bridge, control_id: str) -> list[str]:
    from sqlalchemy import select

    from bridge.ingest.tables import Hl7Receipt

    with bridge.services() as services:
        receipt = services.db.scalar(select(Hl7Receipt).where(Hl7Receipt.control_id == control_id))
        assert receipt is not None
        return receipt.created.split()


def control_id_of(message: bytes) -> str:
    return message.split(b"\r", 1)[0].split(b"|")[9].decode()


def test_every_sample_message_is_stored_or_kept_with_a_reason(bridge: Bridge, medplum: MedplumValidator) -> None:
    patient = ingest_resident(bridge)
    identifier = resident_identifier(bridge, patient)
    client = lab_client(bridge)
    written: list[dict[str, Any]] = []
    outcomes: dict[str, str] = {}
    for path in sample_messages():
        message = aimed_at(path.read_bytes(), identifier)
        response = send(client, message)
        code, text = ack_of(response)
        outcomes[path.name] = f"{code} {text}"
        if code == "AA":
            resources = stored(bridge, created_by(bridge, control_id_of(message)))
            assert resources, path.name
            for resource in resources:
                assert resource["subject"]["reference"] == f"Patient/{patient}", path.name
            written += resources
        else:
            assert code in {"AE", "AR"} and text, (path.name, text)
            assert response.headers.get("X-Bridge-Quarantine"), path.name
    # Most of the samples are ordinary laboratory results: they must be stored, not refused.
    refused = {name: outcome for name, outcome in outcomes.items() if not outcome.startswith("AA")}
    assert len(refused) <= 3, "\n".join(f"{k}: {v}" for k, v in refused.items())
    assert_all_pass(medplum.validate(written))


def test_a_message_sent_twice_gets_the_same_ack_and_creates_nothing_new(bridge: Bridge) -> None:
    identifier = resident_identifier(bridge, ingest_resident(bridge))
    message = oru(identifier, "NM|2823-3^Potassium^LN||4.1|mmol/L|3.5-5.5|N|||F|||20261201080000+0800")
    client = lab_client(bridge)
    first = send(client, message)
    assert ack_of(first)[0] == "AA"
    second = send(client, message)
    assert second.content == first.content
    assert len(created_by(bridge, control_id_of(message))) == 2  # the report and its one result


def test_an_unknown_resident_is_kept_then_matched_by_hand_and_replayed(bridge: Bridge) -> None:
    message = oru("NOBODY-0001", "NM|2951-2^Sodium^LN||139|mmol/L|135-145|N|||F")
    response = send(lab_client(bridge), message)
    code, text = ack_of(response)
    assert code == "AE" and "NOBODY-0001" in text
    entry_id = response.headers["X-Bridge-Quarantine"]
    patient = ingest_resident(bridge, "demo-home-2")
    with bridge.services() as services:
        entry = Quarantine(services).get(entry_id)
        assert entry.row.reason_code == "unknown_patient"
        assert entry.files["message.hl7"] == message  # kept whole
        Quarantine(services).match_resident(entry_id, patient, "test", None)
        result = replay(services, entry_id, "test", None)
    assert result.processed, result.detail
    with bridge.services() as services:
        assert Quarantine(services).get(entry_id).row.status == QuarantineStatus.PROCESSED.value
    resources = stored(bridge, result.detail.split())
    assert {r["resourceType"] for r in resources} == {"DiagnosticReport", "Observation"}
    assert all(r["subject"]["reference"] == f"Patient/{patient}" for r in resources)


def test_a_correction_becomes_a_new_version_of_the_same_result(bridge: Bridge) -> None:
    identifier = resident_identifier(bridge, ingest_resident(bridge))
    client = lab_client(bridge)
    first = oru(identifier, "NM|2345-7^Glucose^LN||6.1|mmol/L|3.9-6.1|N|||P", order="G-1")
    corrected = oru(identifier, "NM|2345-7^Glucose^LN||7.4|mmol/L|3.9-6.1|H|||C", order="G-1")
    assert ack_of(send(client, first))[0] == "AA"
    assert ack_of(send(client, corrected))[0] == "AA"
    before = [r for r in stored(bridge, created_by(bridge, control_id_of(first))) if r["resourceType"] == "Observation"]
    after = [
        r for r in stored(bridge, created_by(bridge, control_id_of(corrected))) if r["resourceType"] == "Observation"
    ]
    assert [r["id"] for r in before] == [r["id"] for r in after]
    assert after[0]["status"] == "corrected" and after[0]["valueQuantity"]["value"] == 7.4
    assert int(after[0]["meta"]["versionId"]) >= 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not HL7 at all", "MSH"),
        (b"", ""),
        (b"MSH|^~\\&|LIS|DEMOLAB|||20261201||ADT^A01|X1|P|2.5.1\rPID|1||H1-0001\r", "ORU"),
        (b"MSH|^~\\&|LIS|DEMOLAB|||20261201||ORU^R01|X2|P|2.5.1\rOBR|1\rOBX|1|NM|2345-7^Glucose^LN||5|mmol/L\r", "PID"),
    ],
)
def test_bad_messages_get_a_clear_ack_and_are_kept(bridge: Bridge, body: bytes, reason: str) -> None:
    response = send(lab_client(bridge), body)
    code, text = ack_of(response)
    assert code in {"AE", "AR"}
    assert reason.lower() in text.lower()
    entry_id = response.headers["X-Bridge-Quarantine"]
    with bridge.services() as services:
        assert Quarantine(services).get(entry_id).files["message.hl7"] == body


def test_a_number_that_does_not_parse_is_refused_and_nothing_is_stored(bridge: Bridge) -> None:
    identifier = resident_identifier(bridge, ingest_resident(bridge))
    message = oru(
        identifier,
        "NM|2823-3^Potassium^LN||4.0|mmol/L|3.5-5.5|N|||F",
        "NM|2951-2^Sodium^LN||abc|mmol/L|135-145|N|||F",
    )
    code, text = ack_of(send(lab_client(bridge), message))
    assert code == "AE" and "abc" in text


def test_a_home_analyser_cannot_file_results_for_another_homes_resident(bridge: Bridge) -> None:
    from bridge.demo.laboratory import DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET
    from tests.bridge.ingest.support import lab_token

    token = lab_token(bridge, DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET)
    analyser = bridge.client(headers={"Authorization": f"Bearer {token}"})
    elsewhere = resident_identifier(bridge, ingest_resident(bridge, "demo-home-2"))
    code, text = ack_of(send(analyser, oru(elsewhere, "NM|2345-7^Glucose^LN||5.5|mmol/L|3.9-6.1|N|||F")))
    assert (code == "AE" and "unknown" in text.lower()) or "no resident" in text.lower()


def test_transport_errors_are_operation_outcomes(bridge: Bridge) -> None:
    anonymous = bridge.client()
    assert anonymous.post("/ingest/hl7v2", content=b"MSH|").status_code == 401
    from bridge.demo.stations import DEMO_STATION_CLIENT_ID, DEMO_STATION_SECRET
    from tests.bridge.ingest.support import lab_token

    station = bridge.client(
        headers={"Authorization": f"Bearer {lab_token(bridge, DEMO_STATION_CLIENT_ID, DEMO_STATION_SECRET)}"}
    )
    refused = station.post("/ingest/hl7v2", content=b"MSH|")
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    too_big = send(lab_client(bridge), b"MSH|" + b"x" * (3 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.json()["resourceType"] == "OperationOutcome"


def test_a_failure_of_the_bridge_itself_keeps_the_message_and_stores_nothing(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live server runs in this process: a fault injected after the results were written must roll
    # them back and leave the whole message in the quarantine, answered AE (a real ACK, not a 500).
    from bridge.ingest import storing

    def broken(*_: object) -> list[str]:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(storing, "raise_critical_alerts", broken)
    patient = ingest_resident(bridge)
    message = oru(resident_identifier(bridge, patient), "NM|2823-3^Potassium^LN||4.2|mmol/L|3.5-5.5|N|||F")
    response = send(lab_client(bridge), message)
    code, text = ack_of(response)
    assert code == "AE" and "RuntimeError" in text
    with bridge.services() as services:
        entry = Quarantine(services).get(response.headers["X-Bridge-Quarantine"])
        assert entry.row.reason_code == "processing_failed" and entry.files["message.hl7"] == message
        from sqlalchemy import select

        from bridge.ingest.tables import Hl7Receipt

        assert services.db.scalar(select(Hl7Receipt).where(Hl7Receipt.control_id == control_id_of(message))) is None
        found = services.repository.find("Observation", {"subject": f"Patient/{patient}"})
        assert not [o for o in found if o.get("valueQuantity", {}).get("value") == 4.2 and "2823-3" in str(o["code"])]
