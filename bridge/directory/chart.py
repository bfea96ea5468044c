"""A resident's chart for the portal: FHIR records turned into plain view items (the portal maps no FHIR)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_adapter.store.repository import ResourceRepository


@dataclass(frozen=True)
class ChartItem:
    text: str
    detail: str = ""
    date: str = ""
    flag: str = ""  # H, L, HH, LL, A, or criticality "high"


@dataclass
class ResidentChart:
    allergies: list[ChartItem] = field(default_factory=list)
    conditions: list[ChartItem] = field(default_factory=list)
    medications: list[ChartItem] = field(default_factory=list)
    results: list[ChartItem] = field(default_factory=list)
    visits: list[ChartItem] = field(default_factory=list)


def concept_text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _quantity(observation: dict[str, Any]) -> str:
    quantity = observation.get("valueQuantity")
    if quantity:
        return f"{quantity.get('value', '')} {quantity.get('unit', quantity.get('code', ''))}".strip()
    if "valueString" in observation:
        return str(observation["valueString"])
    if observation.get("component") and any("valueSampledData" in c for c in observation["component"]):
        return f"{len(observation['component'])} leads"
    return concept_text(observation.get("valueCodeableConcept"))


def _flag(observation: dict[str, Any]) -> str:
    for concept in observation.get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in {"H", "L", "HH", "LL", "A", "AA"}:
                return str(coding["code"])
    return ""


def build_chart(repository: ResourceRepository, patient_id: str) -> ResidentChart:
    ref = f"Patient/{patient_id}"
    chart = ResidentChart()
    for allergy in repository.find("AllergyIntolerance", {"patient": ref}):
        reactions = ", ".join(concept_text(m) for r in allergy.get("reaction", []) for m in r.get("manifestation", []))
        chart.allergies.append(
            ChartItem(
                concept_text(allergy.get("code")),
                reactions,
                flag="high" if allergy.get("criticality") == "high" else "",
            )
        )
    for condition in repository.find("Condition", {"subject": ref}):
        codes = ", ".join(c.get("code", "") for c in condition.get("code", {}).get("coding", []))
        chart.conditions.append(
            ChartItem(
                concept_text(condition.get("code")),
                codes,
                str(condition.get("onsetDateTime", condition.get("recordedDate", "")))[:10],
            )
        )
    for request in repository.find("MedicationRequest", {"subject": ref, "status": "active"}):
        dosage = "; ".join(d.get("text", "") for d in request.get("dosageInstruction", []))
        chart.medications.append(
            ChartItem(
                concept_text(request.get("medicationCodeableConcept")), dosage, str(request.get("authoredOn", ""))[:10]
            )
        )
    observations = repository.find("Observation", {"subject": ref})
    observations.sort(key=lambda o: str(o.get("effectiveDateTime", "")), reverse=True)
    for observation in observations:
        chart.results.append(
            ChartItem(
                concept_text(observation.get("code")),
                _quantity(observation),
                str(observation.get("effectiveDateTime", ""))[:16].replace("T", " "),
                _flag(observation),
            )
        )
    for encounter in repository.find("Encounter", {"subject": ref}):
        reason = concept_text((encounter.get("type") or encounter.get("reasonCode") or [None])[0])
        performer = ", ".join(p.get("individual", {}).get("display", "") for p in encounter.get("participant", []))
        chart.visits.append(ChartItem(reason, performer, str(encounter.get("period", {}).get("start", ""))[:10]))
    return chart
