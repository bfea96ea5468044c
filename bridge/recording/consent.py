"""Whether a resident's consults may be recorded: a FHIR Consent on record that permits it.

A Consent counts (R4; `recording_consent()` builds one) when all of this holds:

- `status` is `active`. Draft, proposed, rejected, inactive or entered-in-error Consents never count;
  withdrawing consent means setting the Consent `inactive` (or recording a new one with a deny).
- `patient` is the resident.
- `scope` is `patient-privacy` (a recording collects personal data) or `treatment` (where the
  recording clause is part of the telemedicine treatment consent), from the consentscope code system.
  A research or advance-directive Consent is about something else.
- a `performer` is the resident (`Patient/<id>`) or their guardian: a RelatedPerson of that resident,
  contained (`#id`, its `patient` the resident) or referenced (`RelatedPerson/<id>`). A Consent whose
  performers are only staff is not the resident's or the guardian's consent.
- a provision (the root or a nested one) of type `permit`, in force now, whose `action` names
  recording: the code `record-consult` of the bridge's consent-action code system. The generic
  `collect` action alone is not enough: a broad treatment consent must not switch recording on.

Deny wins. A provision of type `deny` in force now whose `action` is empty (every action), names
`record-consult`, or names consentaction `collect`, forbids recording; in any active Consent of the
resident, whatever the others permit. So when consent and refusal are both on record, nothing is
recorded until one of them is made inactive.

"In force now": the provision's `period` and those of the provisions it is nested in cover the
current time; a missing period or bound is open. A nested provision without `type` takes its
parent's. Dates without a zone are read as UTC, and a date's whole day (or month, year) counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from fhir_adapter.store.indexing import parse_fhir_date

from bridge.directory.codes import NAMESPACE
from bridge.services import Services

logger = logging.getLogger(__name__)

CONSENT_ACTION_SYSTEM = f"{NAMESPACE}/CodeSystem/consent-action"
RECORD_CONSULT = "record-consult"
FHIR_CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
RECORDING_SCOPES = frozenset({"patient-privacy", "treatment"})
LOINC = "http://loinc.org"
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

Json = dict[str, Any]


def recording_consented(services: Services, patient_id: str) -> bool:
    """An active Consent of this resident permits recording their consults now, and none forbids it."""
    if not _FHIR_ID.match(patient_id):
        return False
    consents = services.repository.find("Consent", {"patient": f"Patient/{patient_id}", "status": "active"})
    return recording_permitted(consents, patient_id, services.now())


def recording_permitted(consents: Iterable[Mapping[str, Any]], patient_id: str, now: datetime) -> bool:
    """The rule above, on Consents already read (those of other residents are ignored)."""
    permitted = False
    for consent in consents:
        if not _applies(consent, patient_id):
            continue
        for kind in _decisions(consent.get("provision"), now, inherited=None):
            if kind == "deny":
                logger.info("recording of Patient/%s denied by Consent/%s", patient_id, consent.get("id"))
                return False
            permitted = True
    return permitted


def _applies(consent: Mapping[str, Any], patient_id: str) -> bool:
    subject = f"Patient/{patient_id}"
    if consent.get("status") != "active" or (consent.get("patient") or {}).get("reference") != subject:
        return False
    if not _has_code(consent.get("scope"), CONSENT_SCOPE_SYSTEM, RECORDING_SCOPES):
        return False
    contained = {f"#{r.get('id')}": r for r in consent.get("contained", []) if isinstance(r, dict)}
    for performer in consent.get("performer", []):
        reference = str((performer or {}).get("reference", ""))
        if reference == subject or reference.startswith("RelatedPerson/"):
            return True
        related = contained.get(reference) or {}
        of_resident = (related.get("patient") or {}).get("reference") == subject
        if related.get("resourceType") == "RelatedPerson" and of_resident:
            return True
    return False


def _decisions(provision: Any, now: datetime, inherited: str | None) -> Iterable[str]:
    """`permit`/`deny` for each provision in force now that decides about recording."""
    if not isinstance(provision, Mapping) or not _in_force(provision.get("period"), now):
        return
    kind = provision.get("type") or inherited
    actions = provision.get("action") or []
    if kind == "permit" and any(_has_code(a, CONSENT_ACTION_SYSTEM, {RECORD_CONSULT}) for a in actions):
        yield "permit"
    if kind == "deny" and (
        not actions
        or any(
            _has_code(a, CONSENT_ACTION_SYSTEM, {RECORD_CONSULT})
            or _has_code(a, FHIR_CONSENT_ACTION_SYSTEM, {"collect"})
            for a in actions
        )
    ):
        yield "deny"
    for nested in provision.get("provision", []):
        yield from _decisions(nested, now, kind)


def _in_force(period: Any, now: datetime) -> bool:
    if not isinstance(period, Mapping):
        return True
    start = parse_fhir_date(str(period["start"])) if period.get("start") else None
    end = parse_fhir_date(str(period["end"])) if period.get("end") else None
    if (period.get("start") and start is None) or (period.get("end") and end is None):
        return False  # an unreadable bound: not shown to be in force
    return (start is None or start[0] <= now) and (end is None or now <= end[1])


def _has_code(concept: Any, system: str, codes: Iterable[str]) -> bool:
    wanted = set(codes)
    codings = concept.get("coding", []) if isinstance(concept, Mapping) else []
    return any(c.get("system") == system and c.get("code") in wanted for c in codings if isinstance(c, Mapping))


def recording_consent(
    patient_id: str,
    *,
    consent_id: str,
    granted_at: datetime,
    valid_until: datetime | None = None,
    guardian_name: str | None = None,
    organization_id: str | None = None,
) -> Json:
    """A Consent permitting the recording of this resident's consults, given by the resident or,
    with `guardian_name`, by their guardian (a contained RelatedPerson). For seeding and tests."""
    subject = {"reference": f"Patient/{patient_id}"}
    period: Json = {"start": _instant(granted_at)}
    if valid_until is not None:
        period["end"] = _instant(valid_until)
    consent: Json = {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {
            "coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy", "display": "Privacy Consent"}]
        },
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": subject,
        "dateTime": _instant(granted_at),
        "performer": [subject],
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}],
            "text": "opt-in: consults are recorded only with this consent",
        },
        "provision": {
            "type": "permit",
            "period": period,
            "action": [
                {
                    "coding": [
                        {"system": CONSENT_ACTION_SYSTEM, "code": RECORD_CONSULT, "display": "Record video consults"},
                        {"system": FHIR_CONSENT_ACTION_SYSTEM, "code": "collect", "display": "Collect"},
                    ],
                    "text": "录制远程会诊的音视频 (record the audio and video of telemedicine consults)",
                }
            ],
        },
    }
    if organization_id is not None:
        consent["organization"] = [{"reference": f"Organization/{organization_id}"}]
    if guardian_name is not None:
        consent["contained"] = [
            {
                "resourceType": "RelatedPerson",
                "id": "guardian",
                "patient": subject,
                "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": "GUARD", "display": "guardian"}]}],
                "name": [{"text": guardian_name}],
            }
        ]
        consent["performer"] = [{"reference": "#guardian", "display": guardian_name}]
    return consent


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
