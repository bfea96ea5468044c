"""Which Consents let a resident's consults be recorded, read from the store on both backends."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir_adapter.validation import validate_resource

from bridge.recording.consent import recording_consent, recording_consented
from bridge.services import Services
from tests.bridge.recording.support import consent, new_resident
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

Setup = Callable[[Services, str], None]


def _nested_deny(services: Services, patient_id: str) -> None:
    built = recording_consent(patient_id, consent_id="x", granted_at=services.now() - timedelta(days=1))
    built["provision"]["provision"] = [
        {"type": "deny", "action": [{"coding": [{"system": CONSENT_ACTION, "code": "collect"}]}]}
    ]
    consent(services, patient_id, provision=built["provision"])


def _collect_only(services: Services, patient_id: str) -> None:
    built = recording_consent(patient_id, consent_id="x", granted_at=services.now() - timedelta(days=1))
    built["provision"]["action"][0]["coding"] = built["provision"]["action"][0]["coding"][1:]
    consent(services, patient_id, provision=built["provision"])


def _permit_and_separate_refusal(services: Services, patient_id: str) -> None:
    consent(services, patient_id)
    refusal = recording_consent(patient_id, consent_id="x", granted_at=services.now() - timedelta(hours=1))
    refusal["provision"]["type"] = "deny"
    consent(services, patient_id, provision=refusal["provision"])


def _other_residents_consent(services: Services, patient_id: str) -> None:
    consent(services, new_resident(services))


CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
RESEARCH = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]}


def given(**fields: Any) -> Setup:
    """A setup storing one recording Consent for the resident, changed by `fields`."""

    def setup(services: Services, patient_id: str) -> None:
        dates = {k: v(services) if callable(v) else v for k, v in fields.items()}
        consent(services, patient_id, **dates)

    return setup


def nothing(services: Services, patient_id: str) -> None:
    pass


CASES: dict[str, tuple[Setup, bool]] = {
    "none on record": (nothing, False),
    "the resident permits": (given(), True),
    "the guardian permits": (given(guardian_name="录建国"), True),
    "a guardian by reference": (given(performer=[{"reference": "RelatedPerson/g1"}]), True),
    "expired": (given(valid_until=lambda s: s.now() - timedelta(minutes=1)), False),
    "not yet in force": (given(granted_at=lambda s: s.now() + timedelta(days=1)), False),
    "inactive": (given(status="inactive"), False),
    "rejected": (given(status="rejected"), False),
    "proposed": (given(status="proposed"), False),
    "a nested deny": (_nested_deny, False),
    "a separate refusal": (_permit_and_separate_refusal, False),
    "only the generic collect action": (_collect_only, False),
    "another resident's consent": (_other_residents_consent, False),
    "staff as the only performer": (given(performer=[{"reference": "Practitioner/demo-doctor"}]), False),
    "a research consent": (given(scope=RESEARCH), False),
}


@pytest.mark.parametrize("case", CASES)
def test_recording_needs_an_active_permit_of_the_resident_or_guardian(bridge: Bridge, case: str) -> None:
    setup, expected = CASES[case]
    with bridge.services() as services:
        patient_id = new_resident(services)
        setup(services, patient_id)
    with bridge.services() as services:
        assert recording_consented(services, patient_id) is expected


def test_a_consent_stops_counting_when_its_period_ends(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient_id = new_resident(services)
        consent(services, patient_id, valid_until=services.now() + timedelta(days=365))
    with bridge.services() as services:
        assert recording_consented(services, patient_id)
    with bridge.clock.advanced(timedelta(days=366)), bridge.services() as services:
        assert not recording_consented(services, patient_id)


def test_withdrawing_consent_by_making_it_inactive(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient_id = new_resident(services)
        given = consent(services, patient_id)
    with bridge.services() as services:
        assert recording_consented(services, patient_id)
        services.repository.update({**copy.deepcopy(given), "status": "inactive"})
    with bridge.services() as services:
        assert not recording_consented(services, patient_id)


def test_nonsense_patient_ids_are_never_consented(bridge: Bridge) -> None:
    with bridge.services() as services:
        assert not recording_consented(services, "../x")
        assert not recording_consented(services, "no-such-resident")


@pytest.mark.parametrize("guardian", [None, "录建国"], ids=["resident", "guardian"])
def test_the_built_consent_is_valid_fhir(medplum: MedplumValidator, guardian: str | None) -> None:
    built: dict[str, Any] = recording_consent(
        "demo-resident-01",
        consent_id="recording-consent-1",
        granted_at=datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        valid_until=datetime(2029, 11, 1, tzinfo=UTC),
        guardian_name=guardian,
        organization_id="demo-home-1",
    )
    assert validate_resource(built) == built  # the project's own validation changes nothing
    assert_all_pass(medplum.validate([built]))
