"""Estimated GFR by the race-free CKD-EPI 2021 creatinine equation.

    eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age × 1.012 [female]
    κ = 0.7 (female) or 0.9 (male); α = -0.241 (female) or -0.302 (male); Scr in mg/dL

Inker LA et al., New creatinine- and cystatin C-based equations to estimate GFR without race.
N Engl J Med 2021;385:1737-1749 (and the NKF/ASN 2021 recommendation to use it). In mL/min/1.73 m²,
for adults (18 and over).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

# Serum/plasma/blood creatinine concepts (LOINC): mass and molar concentrations.
CREATININE_LOINC = frozenset(
    {
        "2160-0",  # Creatinine [Mass/volume] in Serum or Plasma
        "38483-4",  # Creatinine [Mass/volume] in Blood
        "14682-9",  # Creatinine [Moles/volume] in Serum or Plasma
        "59826-8",  # Creatinine [Moles/volume] in Blood
        "77140-2",  # Creatinine [Moles/volume] in Serum, Plasma or Blood
    }
)
# 1 mg/dL of creatinine (113.12 g/mol) is 88.42 µmol/L.
UMOL_PER_MG_DL = 88.42
_TO_MG_DL = {
    "mg/dl": 1.0,
    "mg/l": 0.1,
    "umol/l": 1 / UMOL_PER_MG_DL,
    "µmol/l": 1 / UMOL_PER_MG_DL,
    "μmol/l": 1 / UMOL_PER_MG_DL,
    "mmol/l": 1000 / UMOL_PER_MG_DL,
}


def creatinine_mg_dl(value: float, unit: str) -> float | None:
    """The creatinine in mg/dL; None for a unit that is not a creatinine concentration."""
    factor = _TO_MG_DL.get(unit.strip().lower())
    return None if factor is None else value * factor


def creatinine_from_quantity(quantity: dict[str, Any]) -> float | None:
    value = quantity.get("value")
    unit = quantity.get("code") or quantity.get("unit")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0 or not isinstance(unit, str):
        return None
    return creatinine_mg_dl(float(value), unit)


def ckd_epi_2021(creatinine_mg_per_dl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73 m². `sex` is FHIR administrative gender: female, or male (anything else)."""
    if creatinine_mg_per_dl <= 0:
        raise ValueError("creatinine must be positive")
    if age_years < 18:
        raise ValueError("CKD-EPI 2021 is for adults")
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_per_dl / kappa
    egfr: float = 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    return egfr * 1.012 if female else egfr
