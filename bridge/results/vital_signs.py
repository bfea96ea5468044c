"""What a nurse can measure at the bedside: each value's codes, unit and plausible range.

Codes follow the FHIR R4 vital-signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html): category
`vital-signs`, the profile's LOINC code, UCUM units. Blood pressure is one panel (85354-9) with a
systolic (8480-6) and a diastolic (8462-4) component. The oxygen saturation profile requires LOINC
2708-6; 59408-5 says it was measured by pulse oximetry, so both codings are sent.

Capillary glucose is a laboratory result, not a vital sign. China reports it in mmol/L, and LOINC
gives a substance-concentration code for exactly that: 14743-9 "Glucose [Moles/volume] in Capillary
blood by Glucometer". 41653-7 and 2339-0 are mass concentrations (mg/dL): a value in mmol/L under them
would be read wrongly by any system that trusts the code.

The ranges are plausibility checks against typing errors (a 365 for 36.5), not clinical limits:
values outside normal but inside these are stored and left to the critical-value rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROFILE_BASE = "http://hl7.org/fhir/StructureDefinition"

Coding = dict[str, str]


class Category(StrEnum):
    VITAL_SIGNS = "vital-signs"
    LABORATORY = "laboratory"


CATEGORY_DISPLAY = {Category.VITAL_SIGNS: "Vital Signs", Category.LABORATORY: "Laboratory"}


@dataclass(frozen=True)
class Measure:
    """One value on the form: the field's name, how it is coded, and what is plausible."""

    field: str
    codings: tuple[Coding, ...]
    text: str  # the name shown in the chart (the records are kept in Chinese, like the demo's)
    unit: str  # UCUM code
    unit_display: str
    low: Decimal
    high: Decimal
    decimals: int  # the most decimal places a reading of this kind has
    category: Category = Category.VITAL_SIGNS
    profile: str | None = None


def _loinc(code: str, display: str) -> Coding:
    return {"system": LOINC, "code": code, "display": display}


SYSTOLIC = Measure(
    "systolic", (_loinc("8480-6", "Systolic blood pressure"),), "收缩压", "mm[Hg]", "mmHg", Decimal(50), Decimal(260), 0
)
DIASTOLIC = Measure(
    "diastolic",
    (_loinc("8462-4", "Diastolic blood pressure"),),
    "舒张压",
    "mm[Hg]",
    "mmHg",
    Decimal(20),
    Decimal(160),
    0,
)
BLOOD_PRESSURE_PANEL = _loinc("85354-9", "Blood pressure panel with all children optional")
BLOOD_PRESSURE_TEXT = "血压"
BLOOD_PRESSURE_PROFILE = f"{PROFILE_BASE}/bp"

PULSE = Measure(
    "pulse",
    (_loinc("8867-4", "Heart rate"),),
    "心率",
    "/min",
    "/min",
    Decimal(20),
    Decimal(250),
    0,
    profile=f"{PROFILE_BASE}/heartrate",
)
SPO2 = Measure(
    "spo2",
    (
        _loinc("2708-6", "Oxygen saturation in Arterial blood"),
        _loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    ),
    "血氧饱和度",
    "%",
    "%",
    Decimal(50),
    Decimal(100),
    0,
    profile=f"{PROFILE_BASE}/oxygensat",
)
TEMPERATURE = Measure(
    "temperature",
    (_loinc("8310-5", "Body temperature"),),
    "体温",
    "Cel",
    "°C",
    Decimal(30),
    Decimal(45),
    1,
    profile=f"{PROFILE_BASE}/bodytemp",
)
WEIGHT = Measure(
    "weight",
    (_loinc("29463-7", "Body weight"),),
    "体重",
    "kg",
    "kg",
    Decimal(20),
    Decimal(250),
    1,
    profile=f"{PROFILE_BASE}/bodyweight",
)
GLUCOSE = Measure(
    "glucose",
    (_loinc("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),),
    "指尖血糖",
    "mmol/L",
    "mmol/L",
    Decimal("0.5"),
    Decimal(40),
    1,
    category=Category.LABORATORY,
)

# In the order of the form.
MEASURES: tuple[Measure, ...] = (SYSTOLIC, DIASTOLIC, PULSE, SPO2, TEMPERATURE, WEIGHT, GLUCOSE)
SINGLE_VALUE_MEASURES: tuple[Measure, ...] = (PULSE, SPO2, TEMPERATURE, WEIGHT, GLUCOSE)
MEASURES_BY_FIELD = {m.field: m for m in MEASURES}


def category_concept(category: Category) -> dict[str, list[Coding]]:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": category.value, "display": CATEGORY_DISPLAY[category]}]}
