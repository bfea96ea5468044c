"""OBX-7 reference ranges: the text always kept, low and high read from the forms laboratories use.

``3.5-5.5``, ``3.5 - 5.5``, ``4.3 to 6.2``, ``3.5~5.5`` (a repetition separator sent unescaped, joined
back by the caller), ``<5``, ``<=5``, ``>10``, ``>=10``, optionally followed by the result's own unit.
FHIR's range bounds have no comparator, so ``<5`` becomes high 5 and the text says it is exclusive.
Anything else (``Negative``, ``<9 mcg/dL: acceptable``, ``70_105``) is kept as text only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir_adapter.hl7v2.units import Unit, bare_quantity, ucum_for

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_BETWEEN = re.compile(rf"^({_NUM})\s*(?:-|–|—|~|～|to|TO)\s*({_NUM})\s*(.*)$")
_BOUND = re.compile(rf"^(<=|>=|≤|≥|<|>)\s*({_NUM})\s*(.*)$")
_UPPER = ("<", "<=", "≤")


@dataclass(frozen=True)
class ReferenceRange:
    text: str
    low: Decimal | None = None
    high: Decimal | None = None

    def fhir(self, unit: Unit | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, bound in (("low", self.low), ("high", self.high)):
            if bound is not None:
                out[key] = unit.quantity(bound) if unit is not None else bare_quantity(bound)
        out["text"] = self.text
        return out


def parse_range(text: str, unit: Unit | None, *, numeric: bool) -> ReferenceRange | None:
    """``numeric``: whether the result is a number; only then are bounds read."""
    text = text.strip()
    if not text:
        return None
    if not numeric:
        return ReferenceRange(text)
    between = _BETWEEN.match(text)
    if between and _same_unit(between.group(3), unit):
        low, high = Decimal(between.group(1)), Decimal(between.group(2))
        if low <= high:
            return ReferenceRange(text, low, high)
        return ReferenceRange(text)
    bound = _BOUND.match(text)
    if bound and _same_unit(bound.group(3), unit):
        value = Decimal(bound.group(2))
        return ReferenceRange(text, high=value) if bound.group(1) in _UPPER else ReferenceRange(text, low=value)
    return ReferenceRange(text)


def _same_unit(trailing: str, unit: Unit | None) -> bool:
    """No trailing text, or a unit that is the result's own (so the bounds are in the result's unit)."""
    trailing = trailing.strip()
    if not trailing:
        return True
    if unit is None:
        return False
    if trailing == unit.text:
        return True
    code = ucum_for(trailing)
    return code is not None and code == unit.code
