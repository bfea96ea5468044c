"""A MedicationRequest's dose as an amount per day in the drug's catalogue unit.

Reads every ``dosageInstruction``: in each, the dose from ``doseAndRate[].doseQuantity`` (or the top of a
``doseRange``), its UCUM unit converted into the drug's unit, times the doses per day from
``timing.repeat`` (frequency per period) or a common ``timing.code`` (BID, TID, ...). An as-needed dose
counts at its most: ``maxDosePerPeriod`` when given, else the timing.

Several instructions are summed, in the drug's unit: a split regimen (1 tablet in the morning, 2 in the
evening, as two instructions) is its whole day. Instructions with a ``sequence`` are taken as FHIR says:
the same number at the same time (summed), different numbers one after another (a taper), so the day
counted is the heaviest step. Several ``doseAndRate`` entries in one instruction are the one dose stated
in different ways (FHIR's ordered and calculated dose), not doses to add: those that convert must agree.

A dose that cannot be read this way is refused (422) with the FHIRPath of the part at fault, since a dose
the checks cannot read is a dose they cannot check: instructions some with and some without ``sequence``
(which run together is unclear), or entries of one instruction that disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.i18n import Translator
from bridge.prescriptions.catalogue_rows import Drug

logger = logging.getLogger(__name__)

UCUM = "http://unitsofmeasure.org"
GTS_ABBREVIATION = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
DOSAGES = "MedicationRequest.dosageInstruction"
DOSAGE = f"{DOSAGES}[0]"
# Entries of one instruction closer than this are the same dose stated twice (rounding, unit conversion).
SAME_DOSE = 1e-3

# Unit spellings -> (dimension, factor to the dimension's base: mg, IU, mL, puff). "mcg" and "IU" are not
# UCUM but are what Chinese and English prescribing systems commonly send; "U" for insulin likewise.
_UNITS: dict[str, tuple[str, float]] = {
    "g": ("mass", 1000.0),
    "mg": ("mass", 1.0),
    "ug": ("mass", 1e-3),
    "mcg": ("mass", 1e-3),
    "µg": ("mass", 1e-3),
    "μg": ("mass", 1e-3),
    "ng": ("mass", 1e-6),
    "[iu]": ("units", 1.0),
    "iu": ("units", 1.0),
    "u": ("units", 1.0),
    "ml": ("volume", 1.0),
    "l": ("volume", 1000.0),
    "{puff}": ("puff", 1.0),
    "{puffs}": ("puff", 1.0),
    "puff": ("puff", 1.0),
    "{actuat}": ("puff", 1.0),
    "{actuation}": ("puff", 1.0),
    "{inhalation}": ("puff", 1.0),
}
_DRUG_UNITS = {"mg": "mg", "g": "g", "ug": "ug", "ng": "ng", "IU": "iu", "mL": "ml", "puff": "puff"}

# Days per UCUM time unit (periodUnit codes, and the units of maxDosePerPeriod's denominator).
_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
_DAYS_ALIASES = {"hour": "h", "hours": "h", "day": "d", "days": "d", "week": "wk", "weeks": "wk"}

# GTS abbreviations a timing.code may carry: (times, per period, period unit).
_TIMING_CODES: dict[str, tuple[int, float, str]] = {
    "QD": (1, 1, "d"),
    "AM": (1, 1, "d"),
    "PM": (1, 1, "d"),
    "BID": (2, 1, "d"),
    "TID": (3, 1, "d"),
    "QID": (4, 1, "d"),
    "QOD": (1, 2, "d"),
    "Q4H": (1, 4, "h"),
    "Q6H": (1, 6, "h"),
    "Q8H": (1, 8, "h"),
    "WK": (1, 1, "wk"),
}


@dataclass(frozen=True)
class DailyDose:
    per_dose: float  # one dose, in the drug's unit
    per_day: float  # the most a day can hold, in the drug's unit
    unit: str  # the drug's catalogue unit
    as_needed: bool


class _Refusal(Exception):
    def __init__(self, key: str, expression: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.expression, self.params = key, expression, params


def daily_dose(medication_request: dict[str, Any], drug: Drug, translator: Translator | None = None) -> DailyDose:
    """The dose per day, or OperationOutcomeError 422 naming what does not parse."""
    try:
        return _daily_dose(medication_request, drug)
    except _Refusal as refusal:
        t = translator or Translator("en")
        message = t(refusal.key, drug=drug.name(t.locale), unit=drug.dose_unit, **refusal.params)
        raise OperationOutcomeError.single(422, "invalid", message, refusal.expression) from None


def to_drug_unit(value: float, unit: str, drug: Drug) -> float | None:
    """`value` in `unit` converted into the drug's unit; None when the two do not convert."""
    given = _UNITS.get(unit.strip().lower())
    wanted = _UNITS.get(_DRUG_UNITS.get(drug.dose_unit, drug.dose_unit.lower()))
    if given is None or wanted is None or given[0] != wanted[0]:
        return None
    return value * given[1] / wanted[1]


def _daily_dose(request: dict[str, Any], drug: Drug) -> DailyDose:
    dosages = request.get("dosageInstruction")
    if not isinstance(dosages, list) or not dosages or not all(isinstance(d, dict) for d in dosages):
        raise _Refusal("dosing.missing_dosage", DOSAGE)
    sequences = [d.get("sequence") for d in dosages]
    if len(dosages) > 1 and any(n is None for n in sequences) and any(n is not None for n in sequences):
        where = f"{DOSAGES}[{sequences.index(None)}].sequence"
        raise _Refusal("dosing.mixed_sequence", where)
    steps: dict[Any, list[DailyDose]] = {}
    for index, dosage in enumerate(dosages):
        steps.setdefault(dosage.get("sequence"), []).append(_one_dosage(dosage, index, drug))
    per_step = [sum(d.per_day for d in doses) for doses in steps.values()]
    every = [d for doses in steps.values() for d in doses]
    return DailyDose(
        per_dose=max(d.per_dose for d in every),
        per_day=max(per_step),
        unit=drug.dose_unit,
        as_needed=any(d.as_needed for d in every),
    )


def _one_dosage(dosage: dict[str, Any], index: int, drug: Drug) -> DailyDose:
    where = f"{DOSAGES}[{index}]"
    per_dose = _per_dose(dosage, where, drug)
    as_needed = bool(dosage.get("asNeededBoolean")) or "asNeededCodeableConcept" in dosage
    cap = _max_per_day(dosage, where, drug)
    per_day_by_timing = _doses_per_day(dosage.get("timing"), where, required=not (as_needed and cap is not None))
    if as_needed and cap is not None:
        return DailyDose(per_dose, cap, drug.dose_unit, True)
    assert per_day_by_timing is not None  # required above
    return DailyDose(per_dose, per_dose * per_day_by_timing, drug.dose_unit, as_needed)


def _per_dose(dosage: dict[str, Any], where: str, drug: Drug) -> float:
    """The one dose of an instruction: every doseAndRate entry states it, the ones that convert must agree."""
    rates = dosage.get("doseAndRate")
    entries = [r for r in rates if isinstance(r, dict)] if isinstance(rates, list) else []
    stated: list[tuple[Any, str]] = []
    for index, entry in enumerate(entries):
        here = f"{where}.doseAndRate[{index}]"
        if "doseQuantity" in entry:
            stated.append((entry["doseQuantity"], f"{here}.doseQuantity"))
        elif isinstance(entry.get("doseRange"), dict) and "high" in entry["doseRange"]:
            stated.append((entry["doseRange"]["high"], f"{here}.doseRange.high"))
    if not stated:
        raise _Refusal("dosing.missing_dose", f"{where}.doseAndRate[0].doseQuantity")
    amounts: list[tuple[float, str]] = []
    first_refusal: _Refusal | None = None
    for quantity, here in stated:
        try:
            amounts.append((_amount(quantity, drug, here), here))
        except _Refusal as refusal:
            first_refusal = first_refusal or refusal
    if not amounts:
        assert first_refusal is not None
        raise first_refusal
    low, high = min(a for a, _ in amounts), max(a for a, _ in amounts)
    if high - low > SAME_DOSE * high:
        place = max(amounts)[1]
        raise _Refusal("dosing.doses_disagree", place, low=f"{low:g}", high=f"{high:g}")
    return high


def _amount(quantity: Any, drug: Drug, where: str) -> float:
    if not isinstance(quantity, dict):
        raise _Refusal("dosing.missing_dose", where)
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise _Refusal("dosing.bad_value", f"{where}.value", value=value)
    system = quantity.get("system")
    unit = quantity.get("code") or quantity.get("unit")
    if system not in (None, UCUM):
        # A dose in tablets or ampoules (v3-orderableDrugForm) depends on the product's strength.
        raise _Refusal("dosing.bad_unit", f"{where}.system", given=unit or system)
    if not isinstance(unit, str) or not unit:
        raise _Refusal("dosing.missing_unit", f"{where}.code")
    converted = to_drug_unit(float(value), unit, drug)
    if converted is None:
        raise _Refusal("dosing.bad_unit", f"{where}.code", given=unit)
    return converted


def _max_per_day(dosage: dict[str, Any], dosage_path: str, drug: Drug) -> float | None:
    ratio = dosage.get("maxDosePerPeriod")
    if ratio is None:
        return None
    where = f"{dosage_path}.maxDosePerPeriod"
    if not isinstance(ratio, dict):
        raise _Refusal("dosing.bad_max_per_period", where)
    amount = _amount(ratio.get("numerator"), drug, f"{where}.numerator")
    denominator = ratio.get("denominator") or {}
    days = _days(denominator.get("code") or denominator.get("unit"), denominator.get("value", 1))
    if days is None:
        raise _Refusal("dosing.bad_max_per_period", f"{where}.denominator")
    return amount / days


def _doses_per_day(timing: Any, dosage_path: str, *, required: bool) -> float | None:
    where = f"{dosage_path}.timing"
    if not isinstance(timing, dict) or not (timing.get("repeat") or timing.get("code")):
        if required:
            raise _Refusal("dosing.missing_timing", f"{where}.repeat")
        return None
    repeat = timing.get("repeat")
    if not repeat:
        return _coded_timing(timing.get("code"), where, required=required)
    if not isinstance(repeat, dict):
        raise _Refusal("dosing.missing_timing", f"{where}.repeat")
    occasions = len(repeat.get("timeOfDay", [])) or len(repeat.get("when", []))
    frequency = repeat.get("frequencyMax", repeat.get("frequency", max(occasions, 1)))
    if not isinstance(frequency, int) or isinstance(frequency, bool) or frequency < 1:
        raise _Refusal("dosing.bad_frequency", f"{where}.repeat.frequency", value=frequency)
    if "period" not in repeat and "periodUnit" not in repeat:
        if occasions:
            return float(frequency)  # "morning and evening" without a period means per day
        raise _Refusal("dosing.missing_period", f"{where}.repeat.period")
    period = repeat.get("period", 1)
    if not isinstance(period, int | float) or isinstance(period, bool) or period <= 0:
        raise _Refusal("dosing.bad_period", f"{where}.repeat.period", value=period)
    days = _days(repeat.get("periodUnit"), period)
    if days is None:
        raise _Refusal("dosing.bad_period_unit", f"{where}.repeat.periodUnit", value=repeat.get("periodUnit"))
    return frequency / days


def _coded_timing(code: Any, where: str, *, required: bool) -> float | None:
    for coding in (code or {}).get("coding", []) if isinstance(code, dict) else []:
        known = _TIMING_CODES.get(str(coding.get("code", "")).upper())
        if known and coding.get("system") in (None, GTS_ABBREVIATION):
            times, period, unit = known
            return times / (period * _DAYS[unit])
    if required:
        raise _Refusal("dosing.missing_timing", f"{where}.repeat")
    return None


def _days(unit: Any, value: Any) -> float | None:
    if not isinstance(unit, str) or not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    unit = _DAYS_ALIASES.get(unit.lower(), unit)
    return _DAYS[unit] * float(value) if unit in _DAYS else None
