"""Local laboratory codes to LOINC: a table (CSV) of sender, coding system, local code, UCUM unit.

The unit is part of the key on purpose: a local "GLU" is LOINC 14749-6 in mmol/L but 2345-7 in mg/dL,
and a row whose unit does not match is no match at all (the local code is kept either way). ``*``
matches any sender, system or unit; a row naming the sender wins over a ``*`` row. The package ships
common Chinese laboratory mnemonics in ``data/loinc_map.csv``; a deployment can load its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fhir_adapter.hl7v2.codes import LOCAL_PREFIX, Code, system_uri

ANY = "*"
COLUMNS = ("sender", "system", "code", "unit", "loinc", "display")


@dataclass(frozen=True)
class LoincRow:
    sender: str
    system: str
    code: str
    unit: str
    loinc: str
    display: str

    def matches(self, sender: str, code: Code, unit_code: str | None) -> bool:
        return (
            self.code.upper() == code.code.upper()
            and self.sender in (ANY, sender)
            and self.system in (ANY, code.system)
            and self.unit in (ANY, unit_code)
        )

    @property
    def specificity(self) -> int:
        return sum(value != ANY for value in (self.sender, self.system, self.unit))


class CodeMap:
    def __init__(self, rows: Iterable[LoincRow]) -> None:
        self._by_code: dict[str, list[LoincRow]] = {}
        for row in rows:
            self._by_code.setdefault(row.code.upper(), []).append(row)
        for found in self._by_code.values():
            found.sort(key=lambda r: r.specificity, reverse=True)

    @classmethod
    def from_csv(cls, text: str) -> CodeMap:
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"a LOINC map needs the columns {', '.join(COLUMNS)}; got {reader.fieldnames}")
        rows = []
        for number, record in enumerate(reader, start=2):
            values = {key: (record.get(key) or "").strip() for key in COLUMNS}
            if not values["code"] or not values["loinc"]:
                raise ValueError(f"line {number} of the LOINC map has no code or no LOINC code")
            rows.append(LoincRow(**values))
        return cls(rows)

    def lookup(self, sender: str, code: Code, unit_code: str | None) -> LoincRow | None:
        """The LOINC row for a local code (codes of well-known systems such as SNOMED are not mapped)."""
        if not system_uri(code.system, sender).startswith(LOCAL_PREFIX):
            return None
        for row in self._by_code.get(code.code.upper(), ()):
            if row.matches(sender, code, unit_code):
                return row
        return None


@cache
def default_code_map() -> CodeMap:
    text = files("fhir_adapter.hl7v2").joinpath("data/loinc_map.csv").read_text(encoding="utf-8")
    return CodeMap.from_csv(text)
