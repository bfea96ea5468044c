"""The demo clinical records: valid FHIR, stable ids, a coherent picture of each resident, and an ECG
that is byte-for-byte the MIT-BIH excerpt it claims to be."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir_adapter.store.repository import SqlResourceRepository
from fhir_adapter.store.tables import FhirBase, StoredResource
from fhir_adapter.validation import validate_resource
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bridge.demo.clinical import (
    RESIDENTS_WITHOUT_FIRST_VISIT,
    DemoClinicalContext,
    DemoHome,
    demo_clinical_resources,
    load_ecg_excerpt,
)
from bridge.directory.codes import RESIDENT_BED_EXTENSION, RESIDENT_NUMBER_SYSTEM

ECG_RECORD = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg" / "100"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

HOMES = (DemoHome("demo-home-1", "H1", "康乐养老院"), DemoHome("demo-home-2", "H2", "福寿护理院"))
MDC = "urn:oid:2.16.840.1.113883.6.24"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def make_context(today: date = date(2026, 3, 15)) -> DemoClinicalContext:
    return DemoClinicalContext(
        homes=HOMES,
        hospital_id="hospital-x",
        doctor_practitioner_ids=("doc-a", "doc-b"),
        nurse_practitioner_ids={"demo-home-1": "nurse-1", "demo-home-2": "nurse-2"},
        today=today,
    )


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return demo_clinical_resources(make_context())


def by_type(resources: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == resource_type]


def index(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - int((day.month, day.day) < (birth.month, birth.day))


def codes_of(concept: dict[str, Any], system: str) -> set[str]:
    return {c["code"] for c in concept.get("coding", []) if c.get("system") == system}


def test_every_resource_is_valid_fhir(resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        validate_resource(resource)  # raises OperationOutcomeError, naming the fault


def test_ids_are_short_unique_and_demo_prefixed(resources: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in resources]
    assert len(ids) == len(set(ids))
    assert all(FHIR_ID.match(i) and i.startswith("demo-") for i in ids)


def test_same_context_gives_the_same_resources() -> None:
    assert demo_clinical_resources(make_context()) == demo_clinical_resources(make_context())


def test_another_day_keeps_the_ids_and_moves_the_dates() -> None:
    first = demo_clinical_resources(make_context(date(2026, 3, 15)))
    later = demo_clinical_resources(make_context(date(2026, 9, 1)))
    assert [r["id"] for r in first] == [r["id"] for r in later]
    assert first != later


def test_references_resolve_to_earlier_resources_or_the_context(resources: list[dict[str, Any]]) -> None:
    context = make_context()
    organizations = (*(h.organization_id for h in context.homes), context.hospital_id)
    practitioners = (*context.doctor_practitioner_ids, *context.nurse_practitioner_ids.values())
    known = {f"Organization/{o}" for o in organizations} | {f"Practitioner/{p}" for p in practitioners}
    seen: set[str] = set()
    for resource in resources:
        for reference in references(resource):
            assert reference in known or reference in seen, f"{resource['id']} -> {reference}"
        seen.add(f"{resource['resourceType']}/{resource['id']}")


def test_repository_seeding_twice_writes_each_resource_once(resources: list[dict[str, Any]]) -> None:
    engine = create_engine("sqlite://")
    FhirBase.metadata.create_all(engine)
    with Session(engine) as session:
        repository = SqlResourceRepository(session)
        for _ in range(2):
            for resource in demo_clinical_resources(make_context()):
                repository.update(resource)
            session.flush()
        versions = session.scalars(select(func.max(StoredResource.version_id))).one()
        assert versions == 1
        assert session.scalars(select(func.count()).select_from(StoredResource)).one() == len(resources)


@pytest.mark.parametrize("today", [date(2026, 3, 15), date(2024, 2, 29), date(2025, 1, 1), date(2030, 12, 1)])
def test_residents_are_elderly_and_split_over_both_homes(today: date) -> None:
    patients = by_type(demo_clinical_resources(make_context(today)), "Patient")
    assert len(patients) == 12
    for patient in patients:
        assert 70 <= age_on(date.fromisoformat(patient["birthDate"]), today) <= 95, patient["id"]
    homes = {p["managingOrganization"]["reference"] for p in patients}
    assert homes == {f"Organization/{h.organization_id}" for h in HOMES}


def test_each_resident_lies_in_a_bed_of_a_room_of_their_own_home(resources: list[dict[str, Any]]) -> None:
    found = index(resources)
    beds_taken = []
    for patient in by_type(resources, "Patient"):
        home_ref = patient["managingOrganization"]["reference"]
        home = next(h for h in HOMES if f"Organization/{h.organization_id}" == home_ref)
        assert patient["identifier"][0]["system"] == f"{RESIDENT_NUMBER_SYSTEM}/{home.code}"
        assert re.fullmatch(rf"{home.code}-\d{{4}}", patient["identifier"][0]["value"])
        assert patient["active"] is True and patient["name"][0]["text"]
        bed_ext = [e for e in patient["extension"] if e["url"] == RESIDENT_BED_EXTENSION]
        assert len(bed_ext) == 1
        bed = found[bed_ext[0]["valueReference"]["reference"]]
        assert bed["physicalType"]["coding"][0]["code"] == "bd"
        room = found[bed["partOf"]["reference"]]
        assert room["physicalType"]["coding"][0]["code"] == "ro" and "partOf" not in room
        assert bed["managingOrganization"]["reference"] == home_ref
        assert room["managingOrganization"]["reference"] == home_ref
        beds_taken.append(bed["id"])
    assert len(beds_taken) == len(set(beds_taken))


def test_clinical_content_per_resident(resources: list[dict[str, Any]]) -> None:
    per_patient: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for resource in resources:
        subject = resource.get("subject") or resource.get("patient")
        if subject:
            per_patient[subject["reference"]][resource["resourceType"]] += 1
    patients = by_type(resources, "Patient")
    for patient in patients:
        counts = per_patient[f"Patient/{patient['id']}"]
        assert 1 <= counts["Condition"] <= 4
        assert 2 <= counts["MedicationRequest"] <= 5
    with_allergies = sum(1 for p in patients if per_patient[f"Patient/{p['id']}"]["AllergyIntolerance"])
    assert with_allergies >= len(patients) // 2
    for condition in by_type(resources, "Condition"):
        assert codes_of(condition["code"], ICD10) and condition["code"]["text"]
    for request in by_type(resources, "MedicationRequest"):
        assert codes_of(request["medicationCodeableConcept"], "http://www.whocc.no/atc")
        assert request["status"] == "active" and request["intent"] == "order"


def first_visits(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Patient reference -> a finished ambulatory Encounter whose diagnosis is one of their Conditions."""
    found = index(resources)
    visits = {}
    for encounter in by_type(resources, "Encounter"):
        if encounter["status"] != "finished" or encounter["class"]["code"] != "AMB":
            continue
        patient = encounter["subject"]["reference"]
        diagnosed = [found.get(d["condition"]["reference"]) for d in encounter.get("diagnosis", [])]
        if any(c and c["resourceType"] == "Condition" and c["subject"]["reference"] == patient for c in diagnosed):
            visits[patient] = encounter
    return visits


def test_exactly_the_named_residents_lack_a_first_visit(resources: list[dict[str, Any]]) -> None:
    patients = {f"Patient/{p['id']}" for p in by_type(resources, "Patient")}
    without = {f"Patient/{p}" for p in RESIDENTS_WITHOUT_FIRST_VISIT}
    assert len(without) == 2 and without <= patients
    assert set(first_visits(resources)) == patients - without


def test_first_visits_are_by_hospital_doctors_in_the_past_months(resources: list[dict[str, Any]]) -> None:
    context = make_context()
    for encounter in first_visits(resources).values():
        assert encounter["serviceProvider"]["reference"] == f"Organization/{context.hospital_id}"
        doctor = encounter["participant"][0]["individual"]["reference"]
        assert doctor.removeprefix("Practitioner/") in context.doctor_practitioner_ids
        days_ago = (context.today - datetime.fromisoformat(encounter["period"]["start"]).date()).days
        assert 14 <= days_ago <= 200


def test_no_hospital_prescription_predates_the_first_visit(resources: list[dict[str, Any]]) -> None:
    visits = first_visits(resources)
    for request in by_type(resources, "MedicationRequest"):
        patient = request["subject"]["reference"]
        requester = request["requester"].get("reference")
        if patient.removeprefix("Patient/") in RESIDENTS_WITHOUT_FIRST_VISIT:
            assert requester is None and request["reportedBoolean"] is True
        else:
            assert requester is not None
            assert request["authoredOn"] >= visits[patient]["period"]["start"]


def lab_observations(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in by_type(resources, "Observation")
        if any(c["coding"][0]["code"] == "laboratory" for c in o["category"])
    ]


def test_lab_interpretations_agree_with_values_and_ranges(resources: list[dict[str, Any]]) -> None:
    labs = lab_observations(resources)
    assert labs
    flagged = 0
    for observation in labs:
        value = observation["valueQuantity"]["value"]
        (reference_range,) = observation["referenceRange"]
        low, high = reference_range.get("low"), reference_range.get("high")
        for limit in (low, high):
            if limit:
                assert limit["code"] == observation["valueQuantity"]["code"]
        (flag,) = set().union(*(codes_of(i, INTERPRETATION) for i in observation["interpretation"]))
        below = low is not None and value < low["value"]
        above = high is not None and value > high["value"]
        assert flag == ("L" if below else "H" if above else "N"), observation["id"]
        flagged += flag != "N"
    assert flagged >= 1


def test_lab_reports_hold_their_residents_observations(resources: list[dict[str, Any]]) -> None:
    found = index(resources)
    reports = by_type(resources, "DiagnosticReport")
    assert len({r["subject"]["reference"] for r in reports}) >= 5
    for report in reports:
        assert codes_of(report["category"][0], "http://terminology.hl7.org/CodeSystem/v2-0074") == {"LAB"}
        for result in report["result"]:
            assert found[result["reference"]]["subject"] == report["subject"]


def ecg_observation(resources: list[dict[str, Any]]) -> dict[str, Any]:
    (ecg,) = [o for o in by_type(resources, "Observation") if "131328" in codes_of(o["code"], MDC)]
    return ecg


def samples(component: dict[str, Any]) -> list[int]:
    return [int(v) for v in component["valueSampledData"]["data"].split(" ")]


def test_ecg_follows_the_fhir_sampled_data_pattern(resources: list[dict[str, Any]]) -> None:
    ecg = ecg_observation(resources)
    assert ecg["status"] == "final" and ecg["category"][0]["coding"][0]["code"] == "procedure"
    leads = [c["code"]["coding"][0]["code"] for c in ecg["component"]]
    assert leads == ["131330", "131335"]  # MDC lead II (for MLII) and V5
    for component in ecg["component"]:
        sampled = component["valueSampledData"]
        assert sampled["period"] == pytest.approx(1000 / 360, abs=1e-4)
        assert sampled["dimensions"] == 1 and sampled["origin"]["code"] == "uV"
        values = samples(component)
        assert len(values) == 3600
        assert all(sampled["lowerLimit"] <= v * sampled["factor"] <= sampled["upperLimit"] for v in values)
    conditions = [c for c in by_type(resources, "Condition") if c["subject"] == ecg["subject"]]
    # heart failure or atrial fibrillation
    assert {"I50.0", "I48.0", "I48.1"} & set().union(*(codes_of(c["code"], ICD10) for c in conditions))


def test_ecg_starts_at_the_initial_values_named_in_the_record_header(resources: list[dict[str, Any]]) -> None:
    # 100.hea lists each signal's first sample (field 6) and ADC baseline (field 5): readable without wfdb.
    lines = ECG_RECORD.with_suffix(".hea").read_text().splitlines()
    signals = [line.split() for line in lines if line.startswith("100.dat")]
    for component, fields in zip(ecg_observation(resources)["component"], signals, strict=True):
        assert samples(component)[0] == int(fields[5]) - int(fields[4])


def test_ecg_equals_what_wfdb_reads_from_the_record(resources: list[dict[str, Any]]) -> None:
    wfdb = pytest.importorskip("wfdb")
    record = wfdb.rdrecord(str(ECG_RECORD), sampto=3600, physical=False)
    physical = wfdb.rdrecord(str(ECG_RECORD), sampto=3600)
    excerpt = load_ecg_excerpt()
    assert [lead["name"] for lead in excerpt["leads"]] == record.sig_name
    for i, component in enumerate(ecg_observation(resources)["component"]):
        sampled = component["valueSampledData"]
        assert samples(component) == [int(v) - record.baseline[i] for v in record.d_signal[:, i]]
        millivolts = [v * sampled["factor"] / 1000 for v in samples(component)]
        assert millivolts == pytest.approx(list(physical.p_signal[:, i]), abs=1e-9)


@pytest.mark.parametrize(
    ("homes", "doctors", "nurses", "message"),
    [
        (HOMES[:1], ("doc-a",), {"demo-home-1": "n"}, "exactly 2 homes"),
        (HOMES, (), {"demo-home-1": "n", "demo-home-2": "n"}, "at least one"),
        (HOMES, ("doc-a",), {"demo-home-1": "n"}, "no nurse"),
        (
            (HOMES[0], DemoHome("demo-home-2", "H 2", "x")),
            ("doc-a",),
            {"demo-home-1": "n", "demo-home-2": "n"},
            "letters or digits",
        ),
    ],
)
def test_an_unusable_context_is_refused(
    homes: tuple[DemoHome, ...], doctors: tuple[str, ...], nurses: dict[str, str], message: str
) -> None:
    context = DemoClinicalContext(homes, "hospital-x", doctors, nurses, date(2026, 3, 15))
    with pytest.raises(ValueError, match=message):
        demo_clinical_resources(context)
