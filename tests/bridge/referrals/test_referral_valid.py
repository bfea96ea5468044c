"""What the referral operations emit is valid R4 for Medplum's independent validator: the ServiceRequest
and its Task at each state, and the OperationOutcome of a refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.bridge.referrals.support import (
    Network,
    fhir,
    observation,
    parameters,
    recent,
    refer_body,
    reference,
    resident,
)
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass


def test_referral_resources_pass_medplum(bridge: Bridge, network: Network, medplum: MedplumValidator) -> None:
    patient = resident(bridge, network.home)
    glucose = observation(bridge, patient, recent(bridge))
    doctor = fhir(bridge, network.doctor_a)
    request = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body(supportingInfo=reference(glucose))).json()
    path = f"/fhir/ServiceRequest/{request['id']}"
    emitted: list[dict[str, Any]] = [request]
    refused = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body(urgency="soon"))
    assert refused.status_code == 422
    emitted.append(refused.json())
    appointment = {"valueDateTime": (bridge.clock.now() + timedelta(days=1)).isoformat()}
    emitted.append(doctor.post(f"{path}/$accept", json=parameters(appointment=appointment, note="门诊")).json())
    emitted.append(doctor.post(f"{path}/$complete", json=parameters(outcome="已就诊")).json())
    emitted.append(doctor.get("/fhir/Task", params={"focus": f"ServiceRequest/{request['id']}"}).json())
    assert [r["resourceType"] for r in emitted] == [
        "ServiceRequest",
        "OperationOutcome",
        "ServiceRequest",
        "ServiceRequest",
        "Bundle",
    ]
    assert_all_pass(medplum.validate(emitted))
