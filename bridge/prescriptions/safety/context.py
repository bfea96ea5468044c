"""What the rules need to know about a resident, read from the FHIR store once per check."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.directory.codes import ENCOUNTER_CLASS_SYSTEM, PRACTITIONER_ROLE_SYSTEM, ContractKind
from bridge.directory.residents import home_of
from bridge.prescriptions.catalogue import ATC_SYSTEM, Catalogue
from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.egfr import CREATININE_LOINC, UMOL_PER_MG_DL, ckd_epi_2021, creatinine_from_quantity
from bridge.results.critical_findings import result_time

if TYPE_CHECKING:
    from bridge.services import Services

logger = logging.getLogger(__name__)

LOINC = "http://loinc.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"
# QTc concepts, preferred first: QTc as reported by the device, then Bazett (the thresholds were set with it),
# then Fridericia.
QTC_LOINC = ("8636-3", "76635-2", "76634-5")
# Observations that may carry a QTc: the QTc itself, or an ECG study with measurement components.
# Body weight (measured), for the Cockcroft-Gault creatinine clearance.
WEIGHT_LOINC = "29463-7"
_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}
ECG_CODES = (*(f"{LOINC}|{c}" for c in QTC_LOINC), f"{LOINC}|11524-6", f"{MDC}|131328")
RESULT_STATUSES = frozenset({"preliminary", "final", "amended", "corrected"})


@dataclass(frozen=True)
class AllergyRecord:
    id: str
    codes: frozenset[str]  # "system|code"
    text: str  # every text the record carries, lower-cased, for term matching
    display: str  # what to show: the record's own text
    type: str  # allergy | intolerance
    reaction: str
    categories: frozenset[str] = frozenset()  # food | medication | environment | biologic; empty when not recorded


@dataclass(frozen=True)
class ActiveDrug:
    request_id: str
    drug: Drug | None  # the catalogue entry, when the request names one
    atc: str | None
    display: str

    @property
    def atc_class(self) -> str | None:
        if self.drug is not None and self.drug.atc_class:
            return self.drug.atc_class
        return self.atc[:5] if self.atc and len(self.atc) >= 5 else None

    @property
    def code(self) -> str:
        return self.drug.code if self.drug is not None else (self.atc or self.request_id)


@dataclass(frozen=True)
class Measured:
    value: float  # creatinine in mg/dL, QTc in ms, weight in kg
    when: datetime | None
    observation_id: str

    @property
    def day(self) -> str:
        return self.when.date().isoformat() if self.when else "?"


@dataclass
class SafetyContext:
    patient_id: str
    home_id: str | None
    today: date
    age: int | None
    sex: str | None
    catalogue: Catalogue
    allergies: list[AllergyRecord] = field(default_factory=list)
    active: list[ActiveDrug] = field(default_factory=list)
    creatinine: Measured | None = None
    qtc: Measured | None = None
    weight: Measured | None = None
    first_visit: bool = False
    now: datetime | None = None  # the check's time (services.now()), to tell a current result from an old one

    @property
    def egfr(self) -> float | None:
        if self.creatinine is None or self.age is None or self.age < 18:
            return None
        return ckd_epi_2021(self.creatinine.value, self.age, self.sex or "unknown")

    @property
    def creatinine_umol(self) -> float | None:
        return None if self.creatinine is None else self.creatinine.value * UMOL_PER_MG_DL


def build_context(
    services: Services, patient: dict[str, Any], catalogue: Catalogue, exclude_request_id: str | None = None
) -> SafetyContext:
    repository = services.repository
    patient_id = patient["id"]
    today = services.now().date()
    context = SafetyContext(
        patient_id=patient_id,
        home_id=home_of(patient),
        today=today,
        age=_age(patient.get("birthDate"), today),
        sex=patient.get("gender"),
        catalogue=catalogue,
        now=services.now(),
    )
    subject = f"Patient/{patient_id}"
    allergies = repository.find("AllergyIntolerance", {"patient": subject})
    context.allergies = [_allergy(a) for a in allergies if _is_active_allergy(a)]
    requests = repository.find("MedicationRequest", {"patient": subject, "status": "active"})
    context.active = [_active(r, catalogue) for r in requests if r["id"] != exclude_request_id]
    creatinine_codes = [f"{LOINC}|{code}" for code in sorted(CREATININE_LOINC)]
    context.creatinine = _latest(repository.find("Observation", {"patient": subject, "code": creatinine_codes}), _creat)
    context.qtc = _latest(repository.find("Observation", {"patient": subject, "code": list(ECG_CODES)}), _qtc)
    weights = repository.find("Observation", {"patient": subject, "code": [f"{LOINC}|{WEIGHT_LOINC}"]})
    context.weight = _latest(weights, _kg)
    context.first_visit = _has_first_visit(services, patient_id, context.home_id, today)
    return context


def _age(birth_date: Any, today: date) -> int | None:
    if not isinstance(birth_date, str) or len(birth_date) < 4:
        return None
    try:
        born = date.fromisoformat(birth_date) if len(birth_date) == 10 else date(int(birth_date[:4]), 7, 1)
    except ValueError:
        return None
    return today.year - born.year - int((today.month, today.day) < (born.month, born.day))


def _is_active_allergy(resource: dict[str, Any]) -> bool:
    codes = {c.get("code") for c in resource.get("clinicalStatus", {}).get("coding", [])}
    verification = {c.get("code") for c in resource.get("verificationStatus", {}).get("coding", [])}
    # No clinical status is read as active: an allergy recorded carelessly is still an allergy.
    return (not codes or "active" in codes) and not verification & {"refuted", "entered-in-error"}


def _allergy(resource: dict[str, Any]) -> AllergyRecord:
    code = resource.get("code", {})
    codings = [*code.get("coding", [])]
    texts = [code.get("text", "")]
    for reaction in resource.get("reaction", []):
        substance = reaction.get("substance", {})
        codings += substance.get("coding", [])
        texts.append(substance.get("text", ""))
    texts += [c.get("display", "") for c in codings]
    manifestations = [
        m.get("text") or next((c.get("display") for c in m.get("coding", []) if c.get("display")), "")
        for reaction in resource.get("reaction", [])
        for m in reaction.get("manifestation", [])
    ]
    return AllergyRecord(
        id=resource["id"],
        codes=frozenset(f"{c.get('system')}|{c.get('code')}" for c in codings if c.get("code")),
        text=" ".join(t for t in texts if t).lower(),
        display=code.get("text") or next((c.get("display") for c in codings if c.get("display")), "?"),
        type=resource.get("type", "allergy"),
        reaction="、".join(m for m in manifestations if m),
        categories=frozenset(c for c in resource.get("category", []) if isinstance(c, str)),
    )


def _active(request: dict[str, Any], catalogue: Catalogue) -> ActiveDrug:
    drug = None
    concept = request.get("medicationCodeableConcept") or {}
    reference = (request.get("medicationReference") or {}).get("reference")
    if isinstance(reference, str):
        drug = catalogue.for_reference(reference)
    if drug is None and concept:
        drug = catalogue.for_concept(concept)
    atc = drug.atc if drug is not None else None
    if atc is None:
        atc = next((c.get("code") for c in concept.get("coding", []) if c.get("system") == ATC_SYSTEM), None)
    display = concept.get("text") or (request.get("medicationReference") or {}).get("display") or ""
    if drug is not None:
        display = display or drug.name_zh
    return ActiveDrug(request["id"], drug, atc, display or atc or request["id"])


def _creat(observation: dict[str, Any]) -> float | None:
    quantity = observation.get("valueQuantity")
    return creatinine_from_quantity(quantity) if isinstance(quantity, dict) else None


def _kg(observation: dict[str, Any]) -> float | None:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
    factor = _KG.get(unit.strip().lower()) if isinstance(unit, str) else None
    if factor is None or not isinstance(value, int | float) or isinstance(value, bool):
        return None
    kg = float(value) * factor
    return kg if 20 <= kg <= 300 else None  # outside this, a typing error rather than a weight


def _qtc(observation: dict[str, Any]) -> float | None:
    parts = [observation, *observation.get("component", [])]
    for wanted in QTC_LOINC:
        for part in parts:
            codes = {(c.get("system"), c.get("code")) for c in part.get("code", {}).get("coding", [])}
            quantity = part.get("valueQuantity")
            if (LOINC, wanted) in codes and isinstance(quantity, dict):
                value = quantity.get("value")
                if isinstance(value, int | float) and 200 <= value <= 800 and quantity.get("code", "ms") == "ms":
                    return float(value)
    return None


def _latest(observations: list[dict[str, Any]], read: Any) -> Measured | None:
    best: Measured | None = None
    for observation in observations:
        if observation.get("status") not in RESULT_STATUSES:
            continue
        value = read(observation)
        if value is None:
            continue
        when = result_time(observation)
        if best is None or (when is not None and (best.when is None or when > best.when)):
            best = Measured(value, when, observation["id"])
    return best


def _has_first_visit(services: Services, patient_id: str, home_id: str | None, today: date) -> bool:
    """A finished ambulatory Encounter with a diagnosis, by a doctor of a hospital serving the home."""
    if home_id is None:
        return False
    hospitals = services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, today)
    if not hospitals:
        return False
    encounters = services.repository.find(
        "Encounter",
        {"patient": f"Patient/{patient_id}", "status": "finished", "class": f"{ENCOUNTER_CLASS_SYSTEM}|AMB"},
    )
    doctors = {
        p["individual"]["reference"]
        for e in encounters
        if e.get("diagnosis")
        for p in e.get("participant", [])
        if str(p.get("individual", {}).get("reference", "")).startswith("Practitioner/")
    }
    if not doctors:
        return False
    try:
        roles = services.repository.find("PractitionerRole", {"practitioner": sorted(doctors), "active": "true"})
    except OperationOutcomeError:
        logger.warning("could not read the roles of %s", sorted(doctors))
        return False
    return any(_is_doctor_at(role, hospitals) for role in roles)


def _is_doctor_at(role: dict[str, Any], hospitals: set[str]) -> bool:
    organization = role.get("organization", {}).get("reference", "").split("/")[-1]
    codes = {
        c.get("code")
        for concept in role.get("code", [])
        for c in concept.get("coding", [])
        if c.get("system") == PRACTITIONER_ROLE_SYSTEM
    }
    return organization in hospitals and "doctor" in codes
