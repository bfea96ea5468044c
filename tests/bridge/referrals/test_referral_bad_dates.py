"""An appointment that exists in no time zone's UTC is a 422 naming the field, and the referral stays as it was."""

from __future__ import annotations

import pytest

from tests.bridge.referrals.support import fhir, parameters, refer_body, resident
from tests.conftest import Bridge


@pytest.mark.parametrize("appointment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_an_appointment_beyond_the_calendar_is_refused(bridge: Bridge, appointment: str) -> None:
    patient = resident(bridge, "demo-home-1")
    doctor = fhir(bridge, "doctor")
    referred = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body())
    assert referred.status_code == 201, referred.text
    request = referred.json()
    answer = fhir(bridge, "doctor2").post(
        f"/fhir/ServiceRequest/{request['id']}/$accept", json=parameters(appointment={"valueDateTime": appointment})
    )
    assert answer.status_code == 422, answer.text
    assert "appointment" in answer.text
    after = doctor.get(f"/fhir/ServiceRequest/{request['id']}").json()
    assert after["meta"]["versionId"] == request["meta"]["versionId"] and "occurrenceDateTime" not in after
