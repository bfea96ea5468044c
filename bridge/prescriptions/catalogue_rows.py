"""One drug of the catalogue as a CSV row: its columns, their checks, and the `Drug` they make.

The shipped starter catalogue (data/drugs.csv) and an admin's import share this one parser, so a row that
ships is a row an admin could have written, and every check applies to both.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The catalogue's dose units; prescriptions convert their UCUM units into these (bridge/prescriptions/dosing.py).
DOSE_UNITS = ("mg", "g", "ug", "ng", "IU", "mL", "puff")
CONTROLLED = ("narcotic", "psychotropic-1", "psychotropic-2")
QT_RISKS = ("known", "possible", "conditional")

REQUIRED_COLUMNS = ("code", "name_zh", "name_en", "ingredient", "dose_unit")
OPTIONAL_COLUMNS = (
    "atc",
    "atc_class",
    "allergy_classes",
    "forms",
    "strengths",
    "usual_adult_dose",
    "geriatric_dose",
    "max_daily_dose",
    "controlled",
    "qt_risk",
    "egfr_avoid_below",
    "egfr_reduce_below",
    "renal_advice_zh",
    "renal_advice_en",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# The code becomes the Medication id "drug-<code>": FHIR ids allow 64 of [A-Za-z0-9-.].
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,58}$")
ATC_CODE = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}([0-9]{2})?$")  # level 5, or level 4 for a class-coded product
ATC_CLASS = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}$")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


@dataclass(frozen=True)
class Drug:
    code: str
    atc: str | None
    name_zh: str
    name_en: str
    atc_class: str | None
    ingredients: tuple[str, ...]
    allergy_classes: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    dose_unit: str = "mg"
    usual_adult_dose: str = ""
    geriatric_dose: str = ""
    max_daily_dose: float | None = None
    controlled: str | None = None
    qt_risk: str | None = None
    egfr_avoid_below: float | None = None
    egfr_reduce_below: float | None = None
    renal_advice_zh: str = ""
    renal_advice_en: str = ""
    origin: str = "starter"  # starter (shipped) | import (an admin's CSV): imports win over the starter rows

    @property
    def medication_id(self) -> str:
        return f"drug-{self.code.lower()}"

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def as_row(self) -> dict[str, str]:
        """The CSV row this drug came from (numbers without trailing zeros)."""

        def number(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "ingredient": ";".join(self.ingredients),
            "dose_unit": self.dose_unit,
            "atc": self.atc or "",
            "atc_class": self.atc_class or "",
            "allergy_classes": ";".join(self.allergy_classes),
            "forms": ";".join(self.forms),
            "strengths": ";".join(self.strengths),
            "usual_adult_dose": self.usual_adult_dose,
            "geriatric_dose": self.geriatric_dose,
            "max_daily_dose": number(self.max_daily_dose),
            "controlled": self.controlled or "",
            "qt_risk": self.qt_risk or "",
            "egfr_avoid_below": number(self.egfr_avoid_below),
            "egfr_reduce_below": number(self.egfr_reduce_below),
            "renal_advice_zh": self.renal_advice_zh,
            "renal_advice_en": self.renal_advice_en,
        }


@dataclass(frozen=True)
class RowError:
    row: int  # 1 is the header line, 2 the first drug
    column: str
    message_key: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, translate: Callable[..., str]) -> str:
        return translate(
            "drugs.import.row_error",
            row=self.row,
            column=self.column,
            message=translate(self.message_key, **self.params),
        )


@dataclass
class ParsedRows:
    drugs: list[Drug] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_catalogue_csv(text: str, origin: str) -> ParsedRows:
    """Every row of the file checked; the drugs only count when `errors` is empty."""
    parsed = ParsedRows()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=False)
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        parsed.errors.append(RowError(1, "", "drugs.import.empty"))
        return parsed
    reader.fieldnames = header
    parsed.errors += [RowError(1, c, "drugs.import.unknown_column") for c in header if c not in COLUMNS]
    parsed.errors += [RowError(1, c, "drugs.import.missing_column") for c in REQUIRED_COLUMNS if c not in header]
    if parsed.errors:
        return parsed
    first_row: dict[str, int] = {}
    try:
        for line, raw in enumerate(reader, start=2):
            if None in raw or any(value is None for value in raw.values()):
                parsed.errors.append(RowError(line, "", "drugs.import.wrong_field_count", {"expected": len(header)}))
                continue
            row = {key: (raw.get(key) or "").strip() for key in COLUMNS}
            if not any(row.values()):
                continue  # a blank line
            drug, errors = _drug(row, line, origin)
            parsed.errors += errors
            if drug is None:
                continue
            key = drug.code.lower()
            if key in first_row:
                parsed.errors.append(
                    RowError(line, "code", "drugs.import.duplicate", {"first": first_row[key], "value": drug.code})
                )
                continue
            first_row[key] = line
            parsed.drugs.append(drug)
    except csv.Error as exc:
        parsed.errors.append(RowError(reader.line_num, "", "drugs.import.not_csv", {"reason": str(exc)}))
    if not parsed.drugs and not parsed.errors:
        parsed.errors.append(RowError(2, "", "drugs.import.empty"))
    return parsed


def _drug(row: dict[str, str], line: int, origin: str) -> tuple[Drug | None, list[RowError]]:
    errors: list[RowError] = []

    def bad(column: str, key: str, **params: Any) -> None:
        errors.append(RowError(line, column, key, {"value": row.get(column, ""), **params}))

    for column in REQUIRED_COLUMNS:
        if not row[column]:
            bad(column, "drugs.import.required")
    if row["code"] and not CODE.match(row["code"]):
        bad("code", "drugs.import.bad_code")
    atc = row["atc"].upper() or (row["code"].upper() if ATC_CODE.match(row["code"].upper()) else "")
    if row["atc"] and not ATC_CODE.match(atc):
        bad("atc", "drugs.import.bad_atc")
    atc_class = row["atc_class"].upper()
    if atc_class and not ATC_CLASS.match(atc_class):
        bad("atc_class", "drugs.import.bad_atc_class")
    elif atc_class and atc and not atc.startswith(atc_class):
        bad("atc_class", "drugs.import.atc_mismatch", atc=atc)
    if not atc_class and atc:
        atc_class = atc[:5]
    if row["dose_unit"] and row["dose_unit"] not in DOSE_UNITS:
        bad("dose_unit", "drugs.import.bad_choice", choices=", ".join(DOSE_UNITS))
    if row["controlled"] and row["controlled"] not in CONTROLLED:
        bad("controlled", "drugs.import.bad_choice", choices=", ".join(CONTROLLED))
    if row["qt_risk"] and row["qt_risk"] not in QT_RISKS:
        bad("qt_risk", "drugs.import.bad_choice", choices=", ".join(QT_RISKS))
    numbers: dict[str, float | None] = {}
    for column, ceiling in (("max_daily_dose", None), ("egfr_avoid_below", 150.0), ("egfr_reduce_below", 150.0)):
        value = _number(row[column]) if row[column] else None
        if row[column] and (value is None or (ceiling is not None and value > ceiling)):
            bad(column, "drugs.import.not_number")
            value = None
        numbers[column] = value
    avoid, reduce = numbers["egfr_avoid_below"], numbers["egfr_reduce_below"]
    if avoid is not None and reduce is not None and avoid > reduce:
        bad("egfr_avoid_below", "drugs.import.bad_range", other=f"{reduce:g}")
    if errors:
        return None, errors
    drug = Drug(
        code=row["code"],
        atc=atc or None,
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        atc_class=atc_class or None,
        ingredients=tuple(i.lower() for i in _split(row["ingredient"])),
        allergy_classes=tuple(c.lower() for c in _split(row["allergy_classes"])),
        forms=_split(row["forms"]),
        strengths=_split(row["strengths"]),
        dose_unit=row["dose_unit"],
        usual_adult_dose=row["usual_adult_dose"],
        geriatric_dose=row["geriatric_dose"],
        max_daily_dose=numbers["max_daily_dose"],
        controlled=row["controlled"] or None,
        qt_risk=row["qt_risk"] or None,
        egfr_avoid_below=avoid,
        egfr_reduce_below=reduce,
        renal_advice_zh=row["renal_advice_zh"],
        renal_advice_en=row["renal_advice_en"],
        origin=origin,
    )
    return drug, []


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and value == value and value != float("inf") else None
