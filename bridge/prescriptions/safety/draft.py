"""The prescription being checked: its catalogue drug and its dose per day."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.dosing import DailyDose
from bridge.prescriptions.safety.findings import Text


@dataclass(frozen=True)
class Draft:
    request: dict[str, Any]
    drug: Drug
    dose: DailyDose

    @property
    def name(self) -> Text:
        return drug_name(self.drug)


def drug_name(drug: Drug) -> Text:
    return Text(drug.name_zh, drug.name_en)
