"""Demo clinical records for two nursing homes: rooms and beds, residents and their problems,
allergies, current drugs, first visits, recent labs and one bedside ECG, as FHIR R4 JSON.

Everything is derived from the context and the table in ``residents_data``, with fixed ids, so
seeding twice writes the same resources (the repository's update is a no-op then).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources as package_files
from typing import Any

from bridge.demo import residents_data as data
from bridge.demo.residents_data import LabOrder, LabResult, Resident
from bridge.directory import codes

Json = dict[str, Any]

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
MDC = "urn:oid:2.16.840.1.113883.6.24"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
SHANGHAI_OFFSET = "+08:00"

# Patient ids of the residents who have had no in-person first visit by a hospital doctor:
# demo-resident-04 (陈志明, first home) and demo-resident-10 (孙凤英, second home). Their current drugs
# are recorded as reported from their community doctor, so no hospital prescription predates the visit.
RESIDENTS_WITHOUT_FIRST_VISIT: frozenset[str] = frozenset(
    f"demo-resident-{r.key}" for r in data.RESIDENTS if r.first_visit_days_ago is None
)

_SAFE_CODE = re.compile(r"^[A-Za-z0-9]{1,16}$")


@dataclass(frozen=True)
class DemoHome:
    organization_id: str  # FHIR Organization id of the nursing home, e.g. "demo-home-1"
    code: str  # short code used in ids and resident numbers, e.g. "H1"
    name: str


@dataclass(frozen=True)
class DemoClinicalContext:
    homes: tuple[DemoHome, ...]  # two homes
    hospital_id: str  # Organization id of the internet hospital
    doctor_practitioner_ids: tuple[str, ...]  # Practitioner ids of hospital doctors (at least 1)
    nurse_practitioner_ids: dict[str, str]  # home organization_id -> a nurse Practitioner id there
    today: date  # "now" for relative dates (visits in the past months, labs recent)


def demo_clinical_resources(context: DemoClinicalContext) -> list[dict[str, Any]]:
    """All demo clinical FHIR resources, in an order where referenced resources come first."""
    _check(context)
    out: list[Json] = []
    for index, home in enumerate(context.homes):
        out.extend(_home_locations(home, data.HOME_ROOMS[index]))
    for resident in data.RESIDENTS:
        out.extend(_resident_records(context, resident))
    return out


def _check(context: DemoClinicalContext) -> None:
    if len(context.homes) != len(data.HOME_ROOMS):
        raise ValueError(f"the demo needs exactly {len(data.HOME_ROOMS)} homes, got {len(context.homes)}")
    if not context.doctor_practitioner_ids:
        raise ValueError("the demo needs at least one hospital doctor")
    for home in context.homes:
        # The code goes into resource ids, which allow only [A-Za-z0-9-.].
        if not _SAFE_CODE.match(home.code):
            raise ValueError(f"home code {home.code!r} must be 1-16 letters or digits")
        if home.organization_id not in context.nurse_practitioner_ids:
            raise ValueError(f"no nurse given for home {home.organization_id}")


def _ref(resource_type: str, resource_id: str, display: str | None = None) -> Json:
    return {"reference": f"{resource_type}/{resource_id}", **({"display": display} if display else {})}


def _concept(system: str, code: str, display: str, text: str | None = None) -> Json:
    coding = {"system": system, "code": code, "display": display}
    return {"coding": [coding], **({"text": text} if text else {})}


def _hl7(code_system: str, code: str, display: str, text: str | None = None) -> Json:
    """A concept from one of HL7's own code systems at terminology.hl7.org."""
    return _concept(f"{TERMINOLOGY}/{code_system}", code, display, text)


def _at(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}:00{SHANGHAI_OFFSET}"


def _quantity(value: float, ucum: str) -> Json:
    return {"value": value, "unit": data.UNIT_DISPLAY.get(ucum, ucum), "system": UCUM, "code": ucum}


def _bed_id(home: DemoHome, bed: str) -> str:
    return f"demo-{home.code.lower()}-bed-{bed}"


def _home_locations(home: DemoHome, rooms: tuple[tuple[int, str, int], ...]) -> list[Json]:
    managing = _ref("Organization", home.organization_id, home.name)

    def location(location_id: str, code: str, name: str, kind: str, display: str) -> Json:
        return {
            "resourceType": "Location",
            "id": location_id,
            "identifier": [{"system": codes.LOCATION_CODE_SYSTEM, "value": f"{home.code}-{code}"}],
            "status": "active",
            "name": name,
            "mode": "instance",
            "physicalType": _concept(codes.LOCATION_PHYSICAL_TYPE_SYSTEM, kind, display),
            "managingOrganization": managing,
        }

    out: list[Json] = []
    for floor, room, beds in rooms:
        room_id = f"demo-{home.code.lower()}-room-{room}"
        room_name = f"{floor}楼 {room}室"
        out.append(location(room_id, room, room_name, "ro", "Room"))
        for n in range(1, beds + 1):
            bed = location(_bed_id(home, f"{room}-{n}"), f"{room}-{n}", f"{room}-{n}床", "bd", "Bed")
            out.append({**bed, "partOf": _ref("Location", room_id, room_name)})
    return out


def _resident_records(context: DemoClinicalContext, r: Resident) -> list[Json]:
    home = context.homes[r.home]
    pid = f"demo-resident-{r.key}"
    subject = _ref("Patient", pid, r.family + r.given)
    admitted = context.today - timedelta(days=r.admitted_days_ago)
    doctor = context.doctor_practitioner_ids[(int(r.key) - 1) % len(context.doctor_practitioner_ids)]
    nurse = context.nurse_practitioner_ids[home.organization_id]

    out = [_patient(context, home, r, pid)]
    conditions = [_condition(pid, subject, admitted, key, n) for n, key in enumerate(r.conditions)]
    out += conditions
    out += [_allergy(pid, subject, admitted, nurse, key, n) for n, key in enumerate(r.allergies, 1)]
    encounter = None
    if r.first_visit_days_ago is not None:
        visit_day = context.today - timedelta(days=r.first_visit_days_ago)
        encounter = _first_visit(context, pid, subject, doctor, visit_day, conditions)
        out.append(encounter)
    for n, key in enumerate(r.drugs, 1):
        out.append(_medication_request(pid, subject, admitted, doctor, encounter, key, n))
    for order in r.labs:
        out += _lab_report(context, pid, subject, order)
    if r.key == data.ECG_RESIDENT:
        out.append(_ecg(pid, subject, nurse, context.today - timedelta(days=data.ECG_DAYS_AGO)))
    return out


def _birth_date(today: date, age: int, offset_days: int) -> date:
    # A birthday offset_days before this year's anniversary makes the age exactly `age` today.
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    return today.replace(year=today.year - age, day=day) - timedelta(days=offset_days)


def _patient(context: DemoClinicalContext, home: DemoHome, r: Resident, pid: str) -> Json:
    c = r.contact
    return {
        "resourceType": "Patient",
        "id": pid,
        "extension": [
            {
                "url": codes.RESIDENT_BED_EXTENSION,
                "valueReference": _ref("Location", _bed_id(home, r.bed), f"{r.bed}床"),
            }
        ],
        "identifier": [
            {"system": f"{codes.RESIDENT_NUMBER_SYSTEM}/{home.code}", "value": f"{home.code}-{r.number:04d}"}
        ],
        "active": True,
        "name": [{"use": "official", "text": r.family + r.given, "family": r.family, "given": [r.given]}],
        "gender": r.gender,
        "birthDate": _birth_date(context.today, r.age, r.birthday_offset).isoformat(),
        "communication": [
            {"language": _concept("urn:ietf:bcp:47", "zh-CN", "Chinese (China)", "中文"), "preferred": True}
        ],
        "contact": [
            {
                "relationship": [_hl7("v2-0131", "N", "Next-of-Kin", c.relation)],
                "name": {"text": c.family + c.given, "family": c.family, "given": [c.given]},
                "telecom": [{"system": "phone", "value": c.phone, "use": "mobile"}],
            }
        ],
        "managingOrganization": _ref("Organization", home.organization_id, home.name),
    }


def _condition(pid: str, subject: Json, admitted: date, key: str, n: int) -> Json:
    code = data.CONDITIONS[key]
    # Older problems first: the main diagnosis is the longest standing one.
    onset_year = admitted.year - (8, 5, 3, 2)[min(n, 3)]
    return {
        "resourceType": "Condition",
        "id": f"{pid}-condition-{n + 1}",
        "clinicalStatus": _hl7("condition-clinical", "active", "Active"),
        "verificationStatus": _hl7("condition-ver-status", "confirmed", "Confirmed"),
        "category": [_hl7("condition-category", "problem-list-item", "Problem List Item")],
        "code": _concept(ICD10, code.icd10, code.display, code.text),
        "subject": subject,
        "onsetDateTime": str(onset_year),
        "recordedDate": admitted.isoformat(),
    }


def _allergy(pid: str, subject: Json, admitted: date, nurse: str, key: str, n: int) -> Json:
    a = data.ALLERGENS[key]
    code: Json = {"text": a.text}
    if a.snomed:
        code = _concept(SNOMED, a.snomed[0], a.snomed[1], a.text)
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"{pid}-allergy-{n}",
        "clinicalStatus": _hl7("allergyintolerance-clinical", "active", "Active"),
        "verificationStatus": _hl7("allergyintolerance-verification", "confirmed", "Confirmed"),
        "type": a.type,
        "category": [a.category],
        "criticality": a.criticality,
        "code": code,
        "patient": subject,
        "recordedDate": admitted.isoformat(),
        "recorder": _ref("Practitioner", nurse),
        "reaction": [{"manifestation": [{"text": a.reaction}]}],
    }


def _first_visit(
    context: DemoClinicalContext, pid: str, subject: Json, doctor: str, day: date, conditions: list[Json]
) -> Json:
    def diagnosis(condition: Json, rank: int) -> Json:
        # R4's diagnosis-role has no "visit diagnosis"; DD (the diagnosis the encounter ended with) is the
        # closest to a Chinese 门诊诊断, and the other standing problems are comorbidities.
        use = ("DD", "Discharge diagnosis") if rank == 1 else ("CM", "Comorbidity diagnosis")
        return {
            "condition": _ref("Condition", condition["id"], condition["code"]["text"]),
            "use": _hl7("diagnosis-role", *use),
            "rank": rank,
        }

    problems = "、".join(c["code"]["text"] for c in conditions)
    return {
        "resourceType": "Encounter",
        "id": f"{pid}-first-visit",
        "status": "finished",
        "class": {"system": codes.ENCOUNTER_CLASS_SYSTEM, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": "互联网医院首诊面诊"}],
        "subject": subject,
        "participant": [
            {
                "type": [_hl7("v3-ParticipationType", "PPRF", "primary performer")],
                "individual": _ref("Practitioner", doctor),
            }
        ],
        "period": {"start": _at(day, "09:30"), "end": _at(day, "10:10")},
        "reasonCode": [{"text": f"首诊面诊，建立互联网医院复诊关系：{problems}"}],
        "diagnosis": [diagnosis(c, rank) for rank, c in enumerate(conditions, 1)],
        "serviceProvider": _ref("Organization", context.hospital_id),
    }


def _medication_request(
    pid: str, subject: Json, admitted: date, doctor: str, encounter: Json | None, key: str, n: int
) -> Json:
    d = data.DRUGS[key]
    if d.dose_unit == "TAB":
        form = f"{TERMINOLOGY}/v3-orderableDrugForm"
        dose = {"value": d.dose_value, "unit": "片", "system": form, "code": "TAB"}
    else:
        dose = _quantity(d.dose_value, d.dose_unit)
    repeat: Json = {"frequency": d.frequency, "period": 1, "periodUnit": d.period_unit}
    if d.when:
        repeat["when"] = [d.when]
    route = _concept(SNOMED, "26643006", "Oral route", "口服") if d.route == "oral" else {"text": "经口吸入"}
    request: Json = {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-medication-{n}",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": _concept(ATC, d.atc, d.atc_display, d.text),
        "subject": subject,
        "dosageInstruction": [
            {
                "sequence": 1,
                "text": d.dose_text,
                "timing": {"repeat": repeat},
                "route": route,
                "doseAndRate": [{"doseQuantity": dose}],
            }
        ],
    }
    if encounter is not None:
        request |= {
            "encounter": _ref("Encounter", encounter["id"]),
            "authoredOn": encounter["period"]["end"],
            "requester": _ref("Practitioner", doctor),
        }
    else:
        # Without a first visit no hospital doctor may have prescribed: the drug was brought in on admission.
        request |= {
            "reportedBoolean": True,
            "authoredOn": admitted.isoformat(),
            "requester": {"display": "社区卫生服务中心家庭医生"},
            "note": [{"text": "入住时带入的长期用药，尚未经互联网医院医生首诊面诊"}],
        }
    return request


def _interpretation(result: LabResult) -> tuple[str, str]:
    if result.low is not None and result.value < result.low:
        return "L", "Low"
    if result.high is not None and result.value > result.high:
        return "H", "High"
    return "N", "Normal"


def _lab_report(context: DemoClinicalContext, pid: str, subject: Json, order: LabOrder) -> list[Json]:
    day = context.today - timedelta(days=order.days_ago)
    # Fasting blood is drawn at the home early in the morning; the hospital lab reports the same afternoon.
    common: Json = {
        "status": "final",
        "subject": subject,
        "effectiveDateTime": _at(day, "07:00"),
        "issued": _at(day, "15:30"),
        "performer": [_ref("Organization", context.hospital_id)],
    }
    report_id = f"{pid}-lab-{order.panel}"
    observations: list[Json] = []
    for result in order.results:
        analyte = data.ANALYTES[result.analyte]
        limits = (("low", result.low), ("high", result.high))
        reference_range: Json = {end: _quantity(v, analyte.unit) for end, v in limits if v is not None}
        if result.therapeutic:
            meaning = _hl7("referencerange-meaning", "therapeutic", "Therapeutic Desired Level")
            reference_range |= {"type": meaning, "text": "抗凝治疗目标范围"}
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"{report_id}-{result.analyte}",
                "category": [_hl7("observation-category", "laboratory", "Laboratory")],
                "code": _concept(LOINC, analyte.loinc, analyte.display, analyte.text),
                **common,
                "valueQuantity": _quantity(result.value, analyte.unit),
                "interpretation": [_hl7("v3-ObservationInterpretation", *_interpretation(result))],
                "referenceRange": [reference_range],
            }
        )
    panel = data.PANELS[order.panel]
    code: Json = _concept(LOINC, *panel.loinc, panel.text) if panel.loinc else {"text": panel.text}
    report: Json = {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "category": [_hl7("v2-0074", "LAB", "Laboratory")],
        "code": code,
        **common,
        "result": [_ref("Observation", o["id"], o["code"]["text"]) for o in observations],
    }
    return [*observations, report]


def load_ecg_excerpt() -> Json:
    """The 10-second excerpt of MIT-BIH record 100 shipped beside this module (see ECG_SOURCE.md)."""
    path = package_files.files("bridge.demo").joinpath("ecg_excerpt.json")
    excerpt: Json = json.loads(path.read_text(encoding="utf-8"))
    return excerpt


def _ecg(pid: str, subject: Json, nurse: str, day: date) -> Json:
    excerpt = load_ecg_excerpt()
    components = []
    for lead in excerpt["leads"]:
        code, display, text = data.MDC_LEADS[lead["name"]]
        # Digital samples less the ADC baseline, in steps of 1/gain mV: declared in µV so the factor is exact.
        microvolts_per_step = 1000 / lead["adc_gain"]
        top = 2 ** lead["adc_resolution_bits"] - 1
        components.append(
            {
                "code": _concept(MDC, code, display, text),
                "valueSampledData": {
                    "origin": _quantity(0, "uV"),
                    "period": round(1000 / excerpt["sampling_frequency_hz"], 4),
                    "factor": microvolts_per_step,
                    "lowerLimit": -lead["baseline"] * microvolts_per_step,
                    "upperLimit": (top - lead["baseline"]) * microvolts_per_step,
                    "dimensions": 1,
                    "data": " ".join(str(v - lead["baseline"]) for v in lead["samples"]),
                },
            }
        )
    return {
        "resourceType": "Observation",
        "id": f"{pid}-ecg",
        "status": "final",
        "category": [_hl7("observation-category", "procedure", "Procedure")],
        "code": _concept(MDC, "131328", "MDC_ECG_ELEC_POTL", "心电图"),
        "subject": subject,
        "effectiveDateTime": _at(day, "10:15"),
        "performer": [_ref("Practitioner", nurse)],
        # The rhythm is the excerpt's reference annotation (100.atr), not a reading made for this demo.
        "note": [
            {
                "text": "床旁心电图，双导联（MLII、V5），10秒。演示数据：MIT-BIH 心律失常数据库记录 100 前 10 秒"
                "（PhysioNet，ODC-By 1.0）；参考标注为窦性心律，第 5.7 秒 1 次房性早搏。"
            }
        ],
        "component": components,
    }
