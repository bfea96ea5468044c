"""The doctor's prescribing form and the draft MedicationRequest it stands for, both ways: the form's
checked values to a draft, a stored draft back to the form's fields to revise it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bridge.prescriptions.catalogue import catalogue
from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.fhir_values import display_number, json_number
from bridge.services import Services

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class DraftInput:
    """What the doctor's form holds, already checked as numbers; the FHIR write checks the rest."""

    drug_id: str
    dose: Decimal
    unit: str  # UCUM code
    per_day: int
    quantity: Decimal
    quantity_unit: str  # text as stored, e.g. 片
    days: int
    instructions: str = ""


def drug_choices(services: Services, query: str = "") -> list[Drug]:
    """Catalogue drugs for the prescribing form's picker, filtered by a name, code or ingredient."""
    return catalogue(services).search(query)


def draft_resource(patient_id: str, practitioner_id: str | None, given: DraftInput) -> dict[str, Any]:
    """The draft MedicationRequest as docs/prescriptions.md describes it."""
    dose = {"value": json_number(given.dose), "unit": given.unit, "system": UCUM, "code": given.unit}
    dosage: dict[str, Any] = {
        **({"text": given.instructions} if given.instructions else {}),
        "timing": {"repeat": {"frequency": given.per_day, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": dose}],
    }
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/{given.drug_id}"},
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"requester": {"reference": f"Practitioner/{practitioner_id}"}} if practitioner_id else {}),
        "dosageInstruction": [dosage],
        "dispenseRequest": {
            "quantity": {"value": json_number(given.quantity), "unit": given.quantity_unit},
            "expectedSupplyDuration": {"value": given.days, "unit": "d", "system": UCUM, "code": "d"},
        },
    }


def draft_form(request: dict[str, Any]) -> dict[str, str]:
    """A stored draft as the form's fields, to revise it."""
    dosage = (request.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity") or {}
    supply = request.get("dispenseRequest") or {}
    return {
        "drug": str((request.get("medicationReference") or {}).get("reference", "")).removeprefix("Medication/"),
        "dose": display_number(dose.get("value")),
        "unit": str(dose.get("code") or dose.get("unit") or ""),
        "per_day": display_number(((dosage.get("timing") or {}).get("repeat") or {}).get("frequency")),
        "quantity": display_number((supply.get("quantity") or {}).get("value")),
        "quantity_unit": str((supply.get("quantity") or {}).get("unit", "")),
        "days": display_number((supply.get("expectedSupplyDuration") or {}).get("value")),
        "instructions": str(dosage.get("text", "")),
    }
