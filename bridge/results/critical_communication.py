"""A critical-value alert as a FHIR R4 Communication, and its acknowledgement.

    status      in-progress until a doctor acknowledges it, then completed
    category    https://nhbridge.org/fhir/CodeSystem/communication-category#critical-result, and HL7's
                communication-category#alert (so `Communication?category=critical-result` finds it)
    priority    stat
    subject     the resident; about: the Observation (its version is in the bridge's alert row)
    sent        when the bridge raised the alert
    recipient   the contracted internet hospitals, then the home
    payload     one contentString per critical finding, in Chinese (the bridge's default language)
    received    (once acknowledged) when; note: who acknowledged it, as authorReference to the doctor's
                Practitioner when the account has one, else authorString

Nothing here reads or writes the store: bridge/results/critical.py and alerts.py do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.directory.codes import NAMESPACE
from bridge.i18n import Translator
from bridge.results.critical_findings import Finding

CATEGORY_SYSTEM = f"{NAMESPACE}/CodeSystem/communication-category"
CRITICAL_RESULT = "critical-result"
HL7_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/communication-category"
# Written in the default language: the record is read by the home's and the hospital's Chinese staff.
RECORD_LANGUAGE = Translator("zh-CN")


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finding_text(finding: Finding, t: Translator = RECORD_LANGUAGE) -> str:
    key = "critical.payload_flag" if finding.flag and finding.limit == finding.flag else "critical.payload"
    return " ".join(t(key, name=finding.name, value=finding.value, limit=finding.limit, flag=finding.flag).split())


def critical_communication(
    patient_id: str,
    observation_id: str,
    findings: Sequence[Finding],
    home_id: str,
    hospital_ids: Sequence[str],
    sent: datetime,
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "in-progress",
        "category": [
            {
                "coding": [{"system": CATEGORY_SYSTEM, "code": CRITICAL_RESULT, "display": "Critical result"}],
                "text": RECORD_LANGUAGE("critical.title"),
            },
            {"coding": [{"system": HL7_CATEGORY_SYSTEM, "code": "alert", "display": "Alert"}]},
        ],
        "priority": "stat",
        "subject": {"reference": f"Patient/{patient_id}"},
        "about": [{"reference": f"Observation/{observation_id}"}],
        "sent": instant(sent),
        "recipient": [{"reference": f"Organization/{org}"} for org in [*hospital_ids, home_id]],
        "payload": [{"contentString": finding_text(f)} for f in findings],
    }


def acknowledged_communication(
    communication: dict[str, Any], when: datetime, who: str, practitioner_id: str | None
) -> dict[str, Any]:
    note: dict[str, Any] = {"time": instant(when), "text": RECORD_LANGUAGE("critical.acknowledged_note", who=who)}
    if practitioner_id:
        note["authorReference"] = {"reference": f"Practitioner/{practitioner_id}", "display": who}
    else:
        note["authorString"] = who
    return {
        **communication,
        "status": "completed",
        "received": instant(when),
        "note": [*communication.get("note", []), note],
    }
