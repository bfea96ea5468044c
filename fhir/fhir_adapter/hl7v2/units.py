"""OBX-6 units to what a FHIR Quantity says: the unit as the laboratory wrote it, and a UCUM code only
when it is certain.

A code the sender marks as UCUM is taken when it is valid UCUM. Otherwise, or when the sender names no
system, only the table in ``data/units.json`` turns unit text into a UCUM code: syntactic validity alone
is not enough there, as ``g/l-1`` (meant as g/L) is valid UCUM for something else entirely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from fhir_adapter.hl7v2.syntax import Value
from fhir_adapter.hl7v2.ucum import is_ucum

UCUM = "http://unitsofmeasure.org"
_UCUM_NAMES = frozenset({"UCUM", "UNITSOFMEASURE", UCUM.upper()})
_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})
_CASE_INSENSITIVE_MIN_LENGTH = 3  # "h" and "H" (hour, henry) must not meet


@dataclass(frozen=True)
class Unit:
    text: str  # as the laboratory wrote it
    code: str | None  # UCUM, when certain

    def quantity(self, value: Decimal | None = None, comparator: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if value is not None:
            out["value"] = json_number(value)
        if comparator:
            out["comparator"] = comparator
        if self.text:
            out["unit"] = self.text
        if self.code:
            out["system"] = UCUM
            out["code"] = self.code
        return out


def json_number(value: Decimal) -> int | float:
    """A JSON number for a decimal: an int when none was written after a decimal point."""
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def bare_quantity(value: Decimal, comparator: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": json_number(value)}
    if comparator:
        out["comparator"] = comparator
    return out


def read_unit(field: Value) -> Unit | None:
    """OBX-6 (CE/CWE): identifier, text, coding system, ..., original text (component 9)."""
    whole = field.text
    if field.delimiters.component in whole and (code := ucum_for(whole)):
        # "10^9/L" sent without escaping its "^" arrives as two components; the table knows it whole.
        return Unit(whole, code)
    identifier, text, system = field.component(1), field.component(2), field.component(3)
    original = field.component(9)
    shown = original or identifier or text
    if not shown:
        return None
    declared = system.upper() in _UCUM_NAMES
    if declared and identifier and is_ucum(identifier):
        return Unit(shown, identifier)
    return Unit(shown, ucum_for(identifier) or ucum_for(text) or ucum_for(original))


def ucum_for(text: str) -> str | None:
    """The UCUM code the unit table gives for some unit text, if any."""
    if not text:
        return None
    key = "".join(text.translate(_MICRO).split())
    exact, folded = _table()
    return exact.get(key) or folded.get(key.lower())


@cache
def _table() -> tuple[dict[str, str], dict[str, str]]:
    raw = json.loads(files("fhir_adapter.hl7v2").joinpath("data/units.json").read_text(encoding="utf-8"))
    exact: dict[str, str] = dict(raw["units"])
    folded: dict[str, str] = {}
    clashes: set[str] = set()
    for key, code in exact.items():
        if len(key) < _CASE_INSENSITIVE_MIN_LENGTH:
            continue
        lower = key.lower()
        if lower in folded and folded[lower] != code:
            clashes.add(lower)
        folded[lower] = code
    for lower in clashes:
        del folded[lower]
    return exact, folded
