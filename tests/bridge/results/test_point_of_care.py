"""Point-of-care entries become vital-signs and laboratory Observations, checked field by field.

The range checks are pure (`check_entry`); storing runs against the seeded bridge on both backends,
as the demo nurses, and Medplum's validator reads what was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.auth.principal import Principal
from bridge.auth.resolve import user_principal
from bridge.errors import AccessDenied, InvalidInput, NotFound
from bridge.results.point_of_care import (
    CHINA_STANDARD_TIME,
    PointOfCare,
    PointOfCareEntry,
    RecordedEntry,
    check_entry,
)
from bridge.results.vital_signs import MEASURES
from bridge.services import Services
from tests.bridge.api.fhir_support import resident_of
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in the homes
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EVERYTHING = {
    "systolic": "142",
    "diastolic": "88",
    "pulse": "76",
    "spo2": "96",
    "temperature": "36.8",
    "weight": "52.5",
    "glucose": "6.4",
}


def errors_of(entry: PointOfCareEntry, now: datetime = NOW) -> dict[str, tuple[str, dict[str, Any]]]:
    with pytest.raises(InvalidInput) as raised:
        check_entry(entry, now)
    return {e.field: (e.message_key, e.params) for e in raised.value.errors}


# --- the checks, without a database ----------------------------------------------------------------


@pytest.mark.parametrize("measure", MEASURES, ids=lambda m: m.field)
def test_each_range_is_checked_on_both_sides_and_its_bounds_are_accepted(measure: Any) -> None:
    step = 1 if measure.decimals == 0 else 0.1
    # Blood pressure fields come in pairs: give the partner a value that keeps systolic > diastolic.
    partner = {"systolic": {"diastolic": "20"}, "diastolic": {"systolic": "260"}}.get(measure.field, {})
    for value in (measure.low, measure.high):
        if measure.field == "systolic" and value == measure.low:
            checked = check_entry(PointOfCareEntry({"systolic": str(value), "diastolic": "40"}), NOW)
        else:
            checked = check_entry(PointOfCareEntry({measure.field: str(value), **partner}), NOW)
        assert checked.values[measure.field] == value
    for value in (float(measure.low) - step, float(measure.high) + step):
        text = f"{value:.{measure.decimals}f}"
        errors = errors_of(PointOfCareEntry({measure.field: text, **partner}))
        key, params = errors[measure.field]
        assert key == "vitals.error.range", (measure.field, text)
        assert params == {
            "low": format(measure.low.normalize(), "f"),
            "high": format(measure.high.normalize(), "f"),
            "unit": measure.unit_display,
        }


def test_numbers_are_read_as_typed_on_a_chinese_keyboard_and_nonsense_is_refused() -> None:
    checked = check_entry(PointOfCareEntry({"temperature": "３６．５", "glucose": "5,8"}), NOW)
    assert str(checked.values["temperature"]) == "36.5" and str(checked.values["glucose"]) == "5.8"
    assert check_entry(PointOfCareEntry({"temperature": "36.50"}), NOW).values["temperature"] == 36.5
    errors = errors_of(PointOfCareEntry({"temperature": "abc", "pulse": "-5", "weight": "1e2", "spo2": "97.5"}))
    assert errors["temperature"][0] == errors["pulse"][0] == errors["weight"][0] == "vitals.error.number"
    assert errors["spo2"] == ("vitals.error.decimals", {"n": 0})


def test_blood_pressure_needs_both_values_and_systolic_above_diastolic() -> None:
    assert errors_of(PointOfCareEntry({"systolic": "120"})) == {"diastolic": ("vitals.error.bp_pair", {})}
    assert errors_of(PointOfCareEntry({"diastolic": "80"})) == {"systolic": ("vitals.error.bp_pair", {})}
    assert errors_of(PointOfCareEntry({"systolic": "80", "diastolic": "80"})) == {
        "systolic": ("vitals.error.bp_order", {})
    }


def test_the_time_defaults_to_now_and_may_not_lie_in_the_future() -> None:
    assert check_entry(PointOfCareEntry({"pulse": "70"}), NOW).effective == NOW.astimezone(CHINA_STANDARD_TIME)
    typed = check_entry(PointOfCareEntry({"pulse": "70"}, "2026-12-01T09:30"), NOW).effective
    assert typed.isoformat() == "2026-12-01T09:30:00+08:00"
    # A form opened a few minutes ago, a clock slightly ahead: still accepted.
    assert check_entry(PointOfCareEntry({"pulse": "70"}, "2026-12-01T10:03"), NOW)
    assert errors_of(PointOfCareEntry({"pulse": "70"}, "2026-12-01T11:00")) == {
        "effective": ("vitals.error.time_future", {})
    }
    assert errors_of(PointOfCareEntry({"pulse": "70"}, "yesterday")) == {"effective": ("vitals.error.time_format", {})}


def test_an_empty_entry_is_refused_and_every_wrong_field_is_named_at_once() -> None:
    assert errors_of(PointOfCareEntry({"pulse": " ", "weight": ""})) == {"values": ("vitals.error.nothing", {})}
    errors = errors_of(PointOfCareEntry({"pulse": "300", "spo2": "40", "temperature": "29"}, "2030-01-01T00:00"))
    assert set(errors) == {"pulse", "spo2", "temperature", "effective"}


# --- storing, on the seeded bridge --------------------------------------------------------------------


@pytest.fixture
def services(bridge: Bridge) -> Iterator[Services]:
    with bridge.services() as services:
        yield services


def principal(services: Services, username: str) -> Principal:
    account = services.accounts.by_username(username)
    assert account is not None
    return user_principal(services, account)


def coded(observation: dict[str, Any]) -> set[str]:
    return {c["code"] for c in observation["code"]["coding"] if c["system"] == LOINC}


def record(bridge: Bridge, username: str, patient_id: str, entry: PointOfCareEntry) -> RecordedEntry:
    with bridge.services() as services:
        return PointOfCare(services, principal(services, username), "127.0.0.1").record(patient_id, entry)


def test_each_value_is_stored_as_the_vital_signs_profile_says(bridge: Bridge, medplum: MedplumValidator) -> None:
    patient = resident_of(bridge, "demo-home-1", 2)
    recorded = record(bridge, "nurse1", patient, PointOfCareEntry(EVERYTHING, "2026-11-30T21:15"))
    assert len(recorded.references) == 6
    with bridge.services() as services:
        stored = [services.repository.read(*r.split("/")) for r in recorded.references]
        audited = services.repository.find("AuditEvent", {"entity": recorded.references[0]})
    by_code = {min(coded(o)): o for o in stored}
    assert set(by_code) == {"85354-9", "8867-4", "2708-6", "8310-5", "29463-7", "14743-9"}
    for observation in stored:
        assert observation["status"] == "final"
        assert observation["subject"]["reference"] == f"Patient/{patient}"
        assert observation["performer"][0]["reference"] == "Practitioner/demo-nurse-wang"
        assert observation["effectiveDateTime"] == "2026-11-30T21:15:00+08:00"
        category = observation["category"][0]["coding"][0]
        assert category["system"] == "http://terminology.hl7.org/CodeSystem/observation-category"
        assert category["code"] == ("laboratory" if "14743-9" in coded(observation) else "vital-signs")

    bp = by_code["85354-9"]
    assert "valueQuantity" not in bp and bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert components == {
        "8480-6": {"value": 142, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        "8462-4": {"value": 88, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    }
    quantities = {
        code: (o["valueQuantity"]["value"], o["valueQuantity"]["code"])
        for code, o in by_code.items()
        if code != "85354-9"
    }
    assert quantities == {
        "8867-4": (76, "/min"),
        "2708-6": (96, "%"),
        "8310-5": (36.8, "Cel"),
        "29463-7": (52.5, "kg"),
        "14743-9": (6.4, "mmol/L"),
    }
    assert coded(by_code["2708-6"]) == {"2708-6", "59408-5"}
    assert audited and audited[0]["subtype"][0]["code"] == "create"
    assert_all_pass(medplum.validate(stored))


def test_a_wrong_entry_stores_nothing(bridge: Bridge, services: Services) -> None:
    patient = resident_of(bridge, "demo-home-1", 2)
    before = len(services.repository.find("Observation", {"subject": f"Patient/{patient}"}))
    with pytest.raises(InvalidInput):
        PointOfCare(services, principal(services, "nurse1")).record(
            patient, PointOfCareEntry({"pulse": "80", "temperature": "48"})
        )
    assert len(services.repository.find("Observation", {"subject": f"Patient/{patient}"})) == before


def test_only_the_nurses_of_the_residents_home_may_enter(bridge: Bridge, services: Services) -> None:
    patient = resident_of(bridge, "demo-home-1", 2)
    entry = PointOfCareEntry({"pulse": "80"})
    with pytest.raises(NotFound):
        PointOfCare(services, principal(services, "nurse2")).record(patient, entry)
    for username in ("doctor", "admin", "pharmacist"):
        with pytest.raises(AccessDenied):
            PointOfCare(services, principal(services, username)).record(patient, entry)


def test_a_critical_value_raises_an_alert_with_the_entry(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 3)
    recorded = record(bridge, "nurse1", patient, PointOfCareEntry({"pulse": "32", "temperature": "36.6"}))
    assert len(recorded.alerts) == 1 and recorded.alerts[0].startswith("Communication/")
    with bridge.services() as services:
        communication = services.repository.read(*recorded.alerts[0].split("/"))
    assert communication["about"] == [{"reference": recorded.references[0]}]  # the pulse, not the temperature


def test_news_for_open_pages_names_the_entry(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1", 2)
    with bridge.services() as services:
        announced: list[tuple[str, dict[str, Any]]] = []
        services.announce = lambda topic, message: announced.append((topic, message))
        recorded = PointOfCare(services, principal(services, "nurse1")).record(
            patient, PointOfCareEntry({"weight": "50"})
        )
    assert ("results:demo-home-1", "vitals") in {(t, m["kind"]) for t, m in announced}
    assert any(m["resources"] == recorded.references for _, m in announced)
