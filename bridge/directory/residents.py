"""Residents of nursing homes (FHIR Patient) with their room and bed (FHIR Location)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.store.repository import ResourceRepository

from bridge.directory.codes import RESIDENT_BED_EXTENSION


@dataclass(frozen=True)
class ResidentSummary:
    id: str
    name: str
    gender: str | None
    birth_date: date | None
    home_id: str
    resident_number: str | None
    bed: str | None
    room: str | None

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


def home_of(patient: dict[str, Any]) -> str | None:
    reference = patient.get("managingOrganization", {}).get("reference", "")
    return reference.split("/")[-1] if reference.startswith("Organization/") else None


def display_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name", []):
        if name.get("text"):
            return str(name["text"])
        parts = [name.get("family", ""), *name.get("given", [])]
        if any(parts):
            return "".join(parts)
    return str(patient.get("id", "?"))


def bed_reference(patient: dict[str, Any]) -> str | None:
    for extension in patient.get("extension", []):
        if extension.get("url") == RESIDENT_BED_EXTENSION:
            reference = extension.get("valueReference", {}).get("reference")
            return reference if isinstance(reference, str) else None
    return None


class ResidentDirectory:
    def __init__(self, repository: ResourceRepository) -> None:
        self._repository = repository

    def patients_of_homes(self, home_ids: Collection[str]) -> list[dict[str, Any]]:
        if not home_ids:
            return []
        return self._repository.find("Patient", {"organization": [f"Organization/{home}" for home in sorted(home_ids)]})

    def home_id_of(self, patient_id: str) -> str | None:
        try:
            return home_of(self._repository.read("Patient", patient_id))
        except OperationOutcomeError:
            return None

    def patients_by_id(self, patient_ids: Collection[str]) -> list[dict[str, Any]]:
        if not patient_ids:
            return []
        return self._repository.find("Patient", {"_id": sorted(patient_ids)})

    def summaries(self, patients: list[dict[str, Any]]) -> list[ResidentSummary]:
        locations = self._locations_for(patients)
        summaries = [self._summary(patient, locations) for patient in patients]
        return sorted(summaries, key=lambda s: (s.home_id, s.bed or "", s.name))

    def _locations_for(self, patients: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bed_ids = {ref.split("/")[-1] for p in patients if (ref := bed_reference(p))}
        beds = self._repository.find("Location", {"_id": sorted(bed_ids)}) if bed_ids else []
        room_ids = {b["partOf"]["reference"].split("/")[-1] for b in beds if b.get("partOf")}
        rooms = self._repository.find("Location", {"_id": sorted(room_ids)}) if room_ids else []
        return {location["id"]: location for location in [*beds, *rooms]}

    def _summary(self, patient: dict[str, Any], locations: dict[str, dict[str, Any]]) -> ResidentSummary:
        bed = locations.get((bed_reference(patient) or "").split("/")[-1])
        room = locations.get(bed["partOf"]["reference"].split("/")[-1]) if bed and bed.get("partOf") else None
        birth = patient.get("birthDate")
        identifiers = patient.get("identifier", [])
        return ResidentSummary(
            id=patient["id"],
            name=display_name(patient),
            gender=patient.get("gender"),
            birth_date=date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None,
            home_id=home_of(patient) or "",
            resident_number=identifiers[0].get("value") if identifiers else None,
            bed=bed.get("name") if bed else None,
            room=room.get("name") if room else None,
        )
