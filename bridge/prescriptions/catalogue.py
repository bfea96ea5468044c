"""The drug catalogue: FHIR Medication resources in the store, and a reader the safety rules use.

Each drug is one Medication (id ``drug-<code>``, tagged as catalogue, coded with ATC and the catalogue
code) that carries its prescribing data (classes, doses, renal limits...) in one extension. The store is
the only copy: pharmacies read the same resources through ``GET /fhir/Medication``, an admin's import
survives restarts, and several app instances agree without a table of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from importlib import resources
from threading import Lock
from typing import TYPE_CHECKING, Any

from fhir_adapter.store.tables import StoredResource
from sqlalchemy import func, select

from bridge.directory.codes import NAMESPACE
from bridge.prescriptions.catalogue_rows import Drug, parse_catalogue_csv

if TYPE_CHECKING:
    from bridge.services import Services

logger = logging.getLogger(__name__)

CATALOGUE_SYSTEM = f"{NAMESPACE}/CodeSystem/drug-catalogue"
CATALOGUE_TAG = {"system": CATALOGUE_SYSTEM, "code": "catalogue"}
ATC_SYSTEM = "http://www.whocc.no/atc"
ENTRY_EXTENSION = f"{NAMESPACE}/StructureDefinition/drug-catalogue-entry"

# Drug fields kept in the extension; code and the names are in Medication.code already but are kept
# here too, so the extension alone rebuilds the Drug.
_TEXT_FIELDS = tuple(f.name for f in fields(Drug) if f.type in ("str", "str | None"))
_TUPLE_FIELDS = tuple(f.name for f in fields(Drug) if f.type == "tuple[str, ...]")
_NUMBER_FIELDS = tuple(f.name for f in fields(Drug) if f.type == "float | None")


def medication_resource(drug: Drug) -> dict[str, Any]:
    codings = [{"system": CATALOGUE_SYSTEM, "code": drug.code, "display": drug.name_zh}]
    if drug.atc:
        codings.insert(0, {"system": ATC_SYSTEM, "code": drug.atc, "display": drug.name_en})
    entry: list[dict[str, Any]] = []
    for name in _TEXT_FIELDS:
        value = getattr(drug, name)
        if value:
            entry.append({"url": name, "valueString": value})
    for name in _TUPLE_FIELDS:
        entry.extend({"url": name, "valueString": item} for item in getattr(drug, name))
    for name in _NUMBER_FIELDS:
        value = getattr(drug, name)
        if value is not None:
            entry.append({"url": name, "valueDecimal": value})
    return {
        "resourceType": "Medication",
        "id": drug.medication_id,
        "meta": {"tag": [dict(CATALOGUE_TAG)]},
        "extension": [{"url": ENTRY_EXTENSION, "extension": entry}],
        "code": {"coding": codings, "text": f"{drug.name_zh} {drug.name_en}"},
        "status": "active",
        "ingredient": [{"itemCodeableConcept": {"text": name}, "isActive": True} for name in drug.ingredients],
    }


def drug_from_medication(resource: dict[str, Any]) -> Drug | None:
    """The Drug a catalogue Medication describes; None for any other Medication."""
    entry = next((e for e in resource.get("extension", []) if e.get("url") == ENTRY_EXTENSION), None)
    if entry is None:
        return None
    values: dict[str, Any] = {name: () for name in _TUPLE_FIELDS}
    values |= {f.name: None for f in fields(Drug) if f.type in ("str | None", "float | None")}
    for part in entry.get("extension", []):
        name = part.get("url")
        if name in _TUPLE_FIELDS:
            values[name] = (*values[name], part.get("valueString", ""))
        elif name in _NUMBER_FIELDS:
            values[name] = float(part["valueDecimal"])
        elif name in _TEXT_FIELDS:
            values[name] = part.get("valueString")
    try:
        return Drug(**values)
    except TypeError:
        logger.warning("Medication/%s has an incomplete catalogue entry", resource.get("id"))
        return None


class Catalogue:
    """The drugs by Medication id, catalogue code and ATC code."""

    def __init__(self, drugs: Iterable[Drug]) -> None:
        self._drugs = sorted(drugs, key=lambda d: d.code)
        self._by_id = {d.medication_id: d for d in self._drugs}
        self._by_code = {d.code.lower(): d for d in self._drugs}
        self._by_atc: dict[str, Drug] = {}
        for drug in self._drugs:
            # Two local products may share an ATC code; the starter entry is the canonical one.
            if drug.atc and (drug.atc not in self._by_atc or drug.origin == "starter"):
                self._by_atc.setdefault(drug.atc, drug)

    def __iter__(self) -> Iterator[Drug]:
        return iter(self._drugs)

    def __len__(self) -> int:
        return len(self._drugs)

    def by_medication_id(self, medication_id: str) -> Drug | None:
        return self._by_id.get(medication_id)

    def by_code(self, code: str) -> Drug | None:
        return self._by_code.get(code.lower())

    def by_atc(self, atc: str) -> Drug | None:
        return self._by_atc.get(atc.upper())

    def for_reference(self, reference: str) -> Drug | None:
        """``Medication/drug-xxx`` (relative, or absolute ending in it)."""
        parts = reference.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != "Medication":
            return None
        return self.by_medication_id(parts[-1])

    def for_concept(self, concept: dict[str, Any]) -> Drug | None:
        """The drug a CodeableConcept names by catalogue code or ATC code."""
        for coding in concept.get("coding", []):
            code = coding.get("code")
            if not isinstance(code, str):
                continue
            if coding.get("system") == CATALOGUE_SYSTEM and (drug := self.by_code(code)):
                return drug
            if coding.get("system") == ATC_SYSTEM and (drug := self.by_atc(code) or self.by_code(code)):
                return drug
        return None

    def search(self, text: str) -> list[Drug]:
        needle = text.strip().lower()
        if not needle:
            return list(self._drugs)
        return [
            d
            for d in self._drugs
            if needle in d.code.lower()
            or needle in d.name_zh
            or needle in d.name_en.lower()
            or any(needle in i for i in d.ingredients)
        ]


# Per database: the catalogue and a fingerprint of the Medication rows it was read from. The fingerprint
# is one aggregate query, so an import by another process or instance is seen at the next check.
_CACHE: dict[str, tuple[tuple[Any, ...], Catalogue]] = {}
_CACHE_LOCK = Lock()


def _fingerprint(services: Services) -> tuple[Any, ...]:
    row = services.db.execute(
        select(
            func.count(), func.coalesce(func.sum(StoredResource.version_id), 0), func.max(StoredResource.last_updated)
        ).where(StoredResource.resource_type == "Medication")
    ).one()
    return tuple(row)


def load_catalogue(services: Services) -> Catalogue:
    """The catalogue as stored (no cache)."""
    found = services.repository.find("Medication", {"_tag": f"{CATALOGUE_SYSTEM}|catalogue"})
    return Catalogue(d for d in map(drug_from_medication, found) if d is not None)


def catalogue(services: Services) -> Catalogue:
    """The catalogue, cached per process and database, read again when the Medications changed."""
    key = services.settings.database_url
    fingerprint = _fingerprint(services)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    loaded = load_catalogue(services)
    with _CACHE_LOCK:
        _CACHE[key] = (fingerprint, loaded)
    return loaded


def invalidate_catalogue() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


@dataclass
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # starter drugs an admin's import replaced, left as imported


def write_drugs(services: Services, drugs: Iterable[Drug], *, keep_imported: bool) -> WriteCounts:
    """Create or update each drug's Medication; identical content writes nothing (no new version)."""
    counts = WriteCounts()
    repository = services.repository
    for drug in drugs:
        desired = medication_resource(drug)
        exists = repository.exists("Medication", drug.medication_id)
        current = repository.read("Medication", drug.medication_id) if exists else None
        if current is not None:
            known = drug_from_medication(current)
            if keep_imported and known is not None and known.origin == "import":
                counts.kept += 1
                continue
            if _without_meta(current) == _without_meta(desired):
                counts.unchanged += 1
                continue
        repository.update(desired)
        if current is None:
            counts.created += 1
        else:
            counts.updated += 1
    if counts.created or counts.updated:
        invalidate_catalogue()
    return counts


def shipped_drugs() -> list[Drug]:
    text = resources.files("bridge.prescriptions").joinpath("data/drugs.csv").read_text(encoding="utf-8")
    parsed = parse_catalogue_csv(text, origin="starter")
    if parsed.errors:
        # A broken shipped file is a release defect, not an input error: fail loudly.
        raise RuntimeError(f"the shipped drug catalogue is invalid: {parsed.errors[:5]}")
    return parsed.drugs


def seed_catalogue(services: Services) -> WriteCounts:
    """Write the starter catalogue (idempotent). Drugs an admin imported under the same code stay as imported."""
    counts = write_drugs(services, shipped_drugs(), keep_imported=True)
    logger.info(
        "drug catalogue seeded: %d created, %d updated, %d unchanged, %d kept as imported",
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.kept,
    )
    return counts


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    tags = resource.get("meta", {}).get("tag", [])
    return {**{k: v for k, v in resource.items() if k != "meta"}, "tags": tags}
