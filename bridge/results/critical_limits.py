"""The table of critical limits (危急值界限): which results are dangerous enough to alert a doctor at once.

The defaults (critical_limits.json next to this module) are keyed by LOINC codes and hold each analyte's
canonical unit, the other units it arrives in with their conversion, and the critical low and high
limits in the canonical unit: a value strictly below `low` or strictly above `high` is critical.

`BRIDGE_CRITICAL_LIMITS_FILE` names a JSON file of the same shape that extends the defaults: an analyte
of a new name is added, fields given for an existing one replace its fields (`{"potassium": {"high":
6.0}}` moves one limit), `null` removes one, and `"replace": true` at the top starts from an empty
table instead. The file is checked when the settings are read, so a limit that makes no sense (low not
below high, an unknown unit, a code claimed by two analytes) stops the start with a message naming the
analyte, rather than silently never alerting.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

logger = logging.getLogger(__name__)

LOINC = "http://loinc.org"
DEFAULTS_RESOURCE = "critical_limits.json"
# A LOINC code (digits, a dash, the check digit), or `system|code` for a laboratory's local code.
_CODE = re.compile(r"^(\d{1,7}-\d|\S+\|\S+)$")

# Units (UCUM, plus the spellings laboratories commonly send) a limit may be written in. A unit outside
# this list is most likely a typo, and a typo would make every matching result fail to convert.
KNOWN_UNITS = frozenset(
    u.lower()
    for u in (
        "mmol/L", "umol/L", "nmol/L", "mEq/L", "mg/dL", "mg/L", "g/L", "g/dL", "ug/L", "ng/mL", "ng/L", "pg/mL",
        "U/L", "mU/L", "mIU/L", "IU/L", "10*9/L", "10^9/L", "10*12/L", "10^12/L", "10*3/uL", "10^3/uL",
        "10*3/mm3", "10*6/uL", "/nL", "/uL", "K/uL", "{INR}", "{ratio}", "1", "%", "ms", "s", "/min",
        "{beats}/min", "beats/min", "bpm", "{breaths}/min", "mm[Hg]", "mmHg", "kPa", "Cel", "[degF]",
    )
)  # fmt: skip


class CriticalLimitsError(ValueError):
    """The limits file is unreadable or a limit in it makes no sense."""


class Conversion(BaseModel):
    """To the canonical unit: multiply by `multiply`, or divide by `divide` (glucose mg/dL ÷ 18.016)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    multiply: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    divide: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> Conversion:
        if (self.multiply is None) == (self.divide is None):
            raise ValueError("a conversion gives either multiply or divide")
        return self

    def apply(self, value: float) -> float:
        return value * self.multiply if self.multiply is not None else value / (self.divide or 1.0)


class Analyte(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    display: dict[str, str] = Field(min_length=1)  # by locale: {"zh-CN": "血钾", "en": "Potassium"}
    codes: tuple[str, ...] = Field(min_length=1)
    match_text: tuple[str, ...] = ()  # matched in a code's display or text when no code matches
    unit: str = Field(min_length=1)
    units: dict[str, float | Conversion] = Field(default_factory=dict)
    low: float | None = Field(default=None, allow_inf_nan=False)
    high: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("codes")
    @classmethod
    def _code_shape(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in codes if not _CODE.match(c)]
        if bad:
            raise ValueError(f"{bad} are neither LOINC codes (like 2823-3) nor system|code")
        return codes

    @model_validator(mode="after")
    def _sensible(self) -> Analyte:
        if self.low is None and self.high is None:
            raise ValueError("gives neither low nor high")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        unknown = [u for u in (self.unit, *self.units) if u.lower() not in KNOWN_UNITS]
        if unknown:
            raise ValueError(f"unknown unit(s) {unknown}; use UCUM units such as mmol/L, g/L, 10*9/L, ms, /min")
        for unit, factor in self.units.items():
            if isinstance(factor, float) and not (math.isfinite(factor) and factor > 0):
                raise ValueError(f"the factor of {unit} must be a positive number")
        return self

    def name(self, locale: str) -> str:
        return self.display.get(locale) or self.display.get("zh-CN") or next(iter(self.display.values()))

    @property
    def dimensionless(self) -> bool:
        return self.unit == "1" or self.unit.startswith("{")

    def to_canonical(self, value: float, unit: str | None) -> float | None:
        """The value in the canonical unit, or None when the unit is not one this analyte knows."""
        if not unit:
            return value if self.dimensionless else None
        if unit.lower() == self.unit.lower():
            return value
        for known, factor in self.units.items():
            if known.lower() == unit.lower():
                return value * factor if isinstance(factor, float) else factor.apply(value)
        return None


Side = Literal["low", "high"]


@dataclass(frozen=True)
class LimitsTable:
    analytes: dict[str, Analyte]
    by_code: dict[str, str]  # code (LOINC, or system|code) -> analyte name

    def match(self, concept: dict[str, Any]) -> tuple[str, Analyte] | None:
        """The analyte a CodeableConcept names: by code first, then by the text of a `match_text` entry."""
        index = self.by_code
        for coding in concept.get("coding", []):
            code, system = str(coding.get("code", "")), coding.get("system")
            name = index.get(f"{system}|{code}") or (index.get(code) if system in (LOINC, None) else None)
            if name:
                return name, self.analytes[name]
        texts = [str(concept.get("text", ""))] + [str(c.get("display", "")) for c in concept.get("coding", [])]
        for name, analyte in self.analytes.items():
            if any(needle.lower() in text.lower() for needle in analyte.match_text for text in texts if text):
                return name, analyte
        return None


def crossed(analyte: Analyte, value: float, comparator: str | None = None) -> Side | None:
    """Which limit a value in the canonical unit is beyond; `comparator` as in Quantity (`<5` is below 5)."""
    if analyte.low is not None:
        below = value <= analyte.low if comparator in ("<", "<=") else value < analyte.low
        if below and comparator not in (">", ">="):
            return "low"
    if analyte.high is not None:
        above = value >= analyte.high if comparator in (">", ">=") else value > analyte.high
        if above and comparator not in ("<", "<="):
            return "high"
    return None


def limit_text(analyte: Analyte, side: Side) -> str:
    limit = analyte.low if side == "low" else analyte.high
    return f"{'<' if side == 'low' else '>'} {limit:g} {analyte.unit}"


# --- loading ----------------------------------------------------------------------------------------


def default_entries() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(DEFAULTS_RESOURCE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)["analytes"]
    return data


def merged_entries(defaults: dict[str, Any], overrides: Any, source: str) -> dict[str, Any]:
    if not isinstance(overrides, dict) or not isinstance(overrides.get("analytes"), dict):
        raise CriticalLimitsError(f'{source}: expected {{"analytes": {{name: {{...}}}}}} at the top')
    unknown = set(overrides) - {"analytes", "replace"}
    if unknown:
        raise CriticalLimitsError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
    entries = {} if overrides.get("replace") is True else {k: dict(v) for k, v in defaults.items()}
    for name, fields in overrides["analytes"].items():
        if fields is None:
            entries.pop(name, None)
        elif isinstance(fields, dict):
            entries[name] = {**entries.get(name, {}), **fields}
        else:
            raise CriticalLimitsError(f"{source}: analyte {name!r} must be an object or null")
    return entries


def build_table(entries: dict[str, Any], source: str) -> LimitsTable:
    analytes: dict[str, Analyte] = {}
    for name, fields in entries.items():
        try:
            analytes[name] = Analyte.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(_problem(e["loc"], e["msg"]) for e in exc.errors())
            raise CriticalLimitsError(f"{source}: critical limit {name!r} refused: {problems}") from None
    owners: dict[str, str] = {}
    for name, analyte in analytes.items():
        for code in analyte.codes:
            if code in owners:
                raise CriticalLimitsError(f"{source}: code {code} is claimed by both {owners[code]!r} and {name!r}")
            owners[code] = name
    return LimitsTable(analytes, owners)


def _problem(location: tuple[int | str, ...], message: str) -> str:
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, location))}: {message}" if location else message


@lru_cache(maxsize=8)
def load_limits(path: Path | None = None) -> LimitsTable:
    """The defaults, extended or replaced by the file at `path`; CriticalLimitsError when it is wrong."""
    if path is None:
        return build_table(default_entries(), "default critical limits")
    try:
        overrides = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CriticalLimitsError(f"critical limits file {path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise CriticalLimitsError(f"critical limits file {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    source = f"critical limits file {path}"
    table = build_table(merged_entries(default_entries(), overrides, source), source)
    logger.info("critical limits from %s: %s", path, ", ".join(sorted(table.analytes)))
    return table
