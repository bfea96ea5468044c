"""Point-of-care results and vital signs typed in by a nurse, stored as FHIR Observations.

A nurse of the resident's home enters any of blood pressure, pulse, SpO2, temperature, weight and
capillary glucose, and when she measured them (now unless she says otherwise). Each value is checked
against a plausible range (bridge/results/vital_signs.py); every wrong field is reported at once, and
nothing is stored unless all are right. Each value becomes one Observation (blood pressure one panel)
with the nurse's Practitioner as performer, written through the same checked and audited create as the
FHIR API (bridge/fhir_api/writes.py), so these results are like any other from then on.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.residents import display_name, home_of
from bridge.errors import FieldError, InvalidInput, NotFound
from bridge.fhir_api.context import FhirContext
from bridge.fhir_api.writes import create
from bridge.ingest.storing import after_storing
from bridge.results.vital_signs import (
    BLOOD_PRESSURE_PANEL,
    BLOOD_PRESSURE_PROFILE,
    BLOOD_PRESSURE_TEXT,
    DIASTOLIC,
    MEASURES,
    SINGLE_VALUE_MEASURES,
    SYSTOLIC,
    UCUM,
    Category,
    Measure,
    category_concept,
)
from bridge.services import Services

logger = logging.getLogger(__name__)

Json = dict[str, Any]

# The homes are in China, which keeps one offset all year; a time typed without a zone (the form's
# datetime-local field) is read as China Standard Time.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
# A form opened a few minutes ago, or a station clock slightly ahead, is not "in the future".
FUTURE_TOLERANCE = timedelta(minutes=5)
TIME_FIELD = "effective"
NOTHING_FIELD = "values"
_NUMBER = re.compile(r"^\d{1,4}(?:\.(\d{1,6}))?$")
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class PointOfCareEntry:
    """What the nurse typed: text per field (`systolic`, `pulse`, ...; blank = not measured)."""

    values: Mapping[str, str]
    effective: str = ""  # blank: now


@dataclass(frozen=True)
class CheckedEntry:
    values: dict[str, Decimal]
    effective: datetime  # with its offset


@dataclass(frozen=True)
class RecordedEntry:
    patient_id: str
    references: list[str]  # Observation/<id>, in the order of the form
    alerts: list[str] = field(default_factory=list)  # what the critical-value rules raised


def check_entry(entry: PointOfCareEntry, now: datetime) -> CheckedEntry:
    """The entry's values as numbers and its time, or InvalidInput naming every wrong field."""
    errors: list[FieldError] = []
    values: dict[str, Decimal] = {}
    for measure in MEASURES:
        text = _normalised(entry.values.get(measure.field, ""))
        if not text:
            continue
        value = _number(measure, text, errors)
        if value is not None:
            values[measure.field] = value
    _check_blood_pressure(entry, values, errors)
    effective = _effective(entry.effective, now, errors)
    if not errors and not values:
        errors.append(FieldError(NOTHING_FIELD, "vitals.error.nothing"))
    if errors:
        raise InvalidInput(errors)
    assert effective is not None  # an unreadable time added an error above
    return CheckedEntry(values, effective)


def build_observations(checked: CheckedEntry, patient: Json, performer: Json, issued: datetime) -> list[Json]:
    """The Observations of a checked entry (not yet stored), blood pressure first."""
    common: Json = {
        "status": "final",
        "subject": {"reference": f"Patient/{patient['id']}", "display": display_name(patient)},
        "effectiveDateTime": checked.effective.isoformat(timespec="seconds"),
        "issued": issued.astimezone(CHINA_STANDARD_TIME).isoformat(timespec="seconds"),
        "performer": [performer],
    }
    observations: list[Json] = []
    if SYSTOLIC.field in checked.values and DIASTOLIC.field in checked.values:
        observations.append(
            {
                "resourceType": "Observation",
                "meta": {"profile": [BLOOD_PRESSURE_PROFILE]},
                "category": [category_concept(Category.VITAL_SIGNS)],
                "code": {"coding": [BLOOD_PRESSURE_PANEL], "text": BLOOD_PRESSURE_TEXT},
                **common,
                "component": [
                    {
                        "code": {"coding": list(m.codings), "text": m.text},
                        "valueQuantity": _quantity(m, checked.values[m.field]),
                    }
                    for m in (SYSTOLIC, DIASTOLIC)
                ],
            }
        )
    for measure in SINGLE_VALUE_MEASURES:
        if measure.field not in checked.values:
            continue
        observation: Json = {"resourceType": "Observation"}
        if measure.profile:
            observation["meta"] = {"profile": [measure.profile]}
        observation |= {
            "category": [category_concept(measure.category)],
            "code": {"coding": list(measure.codings), "text": measure.text},
            **common,
            "valueQuantity": _quantity(measure, checked.values[measure.field]),
        }
        observations.append(observation)
    return observations


class PointOfCare:
    """Entries by the nurses of a resident's home; anyone else is refused (403 for other roles, 404
    for residents of another home, as everywhere)."""

    def __init__(self, services: Services, principal: Principal, client_address: str | None = None) -> None:
        self.services = services
        self.principal = principal
        self.client_address = client_address

    def resident(self, patient_id: str) -> Json:
        """The resident, if the caller is one of the nurses of her home."""
        policy = self.services.policy
        policy.require_role(self.principal, Role.NURSE)
        policy.require_scope(self.principal, "Observation", "c")
        patient = policy.require_resident(self.principal, patient_id)
        if home_of(patient) != self.principal.organization_id:
            raise NotFound()
        return patient

    def record(self, patient_id: str, entry: PointOfCareEntry) -> RecordedEntry:
        patient = self.resident(patient_id)
        now = self.services.now()
        checked = check_entry(entry, now)
        ctx = FhirContext(self.services, self.principal, self.services.settings.public_base_url, self.client_address)
        stored = [
            create(ctx, observation).resource
            for observation in build_observations(checked, patient, self._performer(), now)
        ]
        references = [f"Observation/{o['id']}" for o in stored]
        # As for any stored result: critical values alerted in this unit of work, open pages told once
        # committed, hospitals with their own FHIR endpoint sent it through the outbox.
        alerts = after_storing(self.services, patient, stored, "vitals", self.principal)
        logger.info(
            "%s entered %s for Patient/%s", self.principal.reference, ", ".join(sorted(checked.values)), patient_id
        )
        return RecordedEntry(patient_id, references, alerts)

    def _performer(self) -> Json:
        """The nurse's Practitioner; an account without one is named by her home (the record must
        still say who stands behind the value)."""
        if self.principal.practitioner_id:
            return {
                "reference": f"Practitioner/{self.principal.practitioner_id}",
                "display": self.principal.display_name,
            }
        return {"reference": f"Organization/{self.principal.organization_id}", "display": self.principal.display_name}


# --- helpers --------------------------------------------------------------------------------------


def _normalised(text: str) -> str:
    # NFKC turns full-width digits and punctuation from a Chinese input method into ASCII.
    return unicodedata.normalize("NFKC", text or "").strip().replace(",", ".")


def _number(measure: Measure, text: str, errors: list[FieldError]) -> Decimal | None:
    match = _NUMBER.match(text)
    if not match:
        errors.append(FieldError(measure.field, "vitals.error.number"))
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        errors.append(FieldError(measure.field, "vitals.error.number"))
        return None
    if len((match.group(1) or "").rstrip("0")) > measure.decimals:
        errors.append(FieldError(measure.field, "vitals.error.decimals", {"n": measure.decimals}))
        return None
    if not measure.low <= value <= measure.high:
        bounds = {"low": _plain(measure.low), "high": _plain(measure.high), "unit": measure.unit_display}
        errors.append(FieldError(measure.field, "vitals.error.range", bounds))
        return None
    return value


def _check_blood_pressure(entry: PointOfCareEntry, values: dict[str, Decimal], errors: list[FieldError]) -> None:
    typed = {m.field for m in (SYSTOLIC, DIASTOLIC) if _normalised(entry.values.get(m.field, ""))}
    if len(typed) == 1:
        missing = ({SYSTOLIC.field, DIASTOLIC.field} - typed).pop()
        errors.append(FieldError(missing, "vitals.error.bp_pair"))
        values.pop(typed.pop(), None)
        return
    systolic, diastolic = values.get(SYSTOLIC.field), values.get(DIASTOLIC.field)
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        errors.append(FieldError(SYSTOLIC.field, "vitals.error.bp_order"))


def _effective(text: str, now: datetime, errors: list[FieldError]) -> datetime | None:
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return now.astimezone(CHINA_STANDARD_TIME).replace(microsecond=0)
    parsed = _parse_time(text)
    if parsed is None:
        errors.append(FieldError(TIME_FIELD, "vitals.error.time_format"))
        return None
    if parsed > now + FUTURE_TOLERANCE:
        errors.append(FieldError(TIME_FIELD, "vitals.error.time_future"))
        return None
    return parsed


def _parse_time(text: str) -> datetime | None:
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=CHINA_STANDARD_TIME)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A time with its own offset is kept as given; one without is the homes' local time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA_STANDARD_TIME)


def _quantity(measure: Measure, value: Decimal) -> Json:
    number: int | float = int(value) if measure.decimals == 0 else float(value)
    return {"value": number, "unit": measure.unit_display, "system": UCUM, "code": measure.unit}


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
