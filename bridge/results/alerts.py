"""Critical-value alerts as workflow: their rows, the news to open pages, acknowledgement, and page items.

A doctor of an internet hospital contracted with the resident's home acknowledges an alert (a nurse sees
it and can call the doctor, but the issue makes the doctor answerable). The first acknowledgement wins;
a second one is a conflict. Someone who may not see the resident is told the alert does not exist.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.residents import display_name
from bridge.errors import AccessDenied, Conflict, NotFound
from bridge.i18n import Translator
from bridge.prescriptions.actors import actor_of
from bridge.results.critical_communication import acknowledged_communication, instant
from bridge.results.critical_findings import Finding
from bridge.results.critical_limits import LimitsTable
from bridge.results.loop_steps import track_critical_acknowledged
from bridge.results.news import topics_for_home
from bridge.results.tables import CriticalAlert
from bridge.services import Services
from bridge.signalling.protocol import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

# The homes and hospitals the bridge serves keep China Standard Time (no daylight saving); pages show
# times in it, and critical-alerts.js turns them into the browser's own time when it runs.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
RESULT_CRITICAL = "result.critical"
RESULT_CRITICAL_ACKNOWLEDGED = "result.critical_acknowledged"


def alerted_keys(services: Services, observation_id: str) -> set[str]:
    """The finding keys of every alert already raised for any version of the Observation."""
    rows = services.db.scalars(select(CriticalAlert.findings).where(CriticalAlert.observation_id == observation_id))
    return {finding["key"] for text in rows for finding in json.loads(text)}


def record_alert(
    services: Services,
    communication: dict[str, Any],
    observation: dict[str, Any],
    findings: Sequence[Finding],
    home_id: str,
    hospital_ids: Sequence[str],
    result_at: datetime | None,
) -> CriticalAlert:
    row = CriticalAlert(
        id=communication["id"],
        observation_id=observation["id"],
        observation_version=int(observation.get("meta", {}).get("versionId", 1)),
        patient_id=communication["subject"]["reference"].removeprefix("Patient/"),
        home_id=home_id,
        hospital_ids=" ".join(hospital_ids),
        findings=json.dumps([f.as_json() for f in findings], ensure_ascii=False),
        value_text="; ".join(f.value or f.flag or "" for f in findings)[:255],
        limit_text="; ".join(f.limit for f in findings)[:255],
        result_at=result_at,
        created_at=services.now(),
    )
    services.db.add(row)
    services.db.flush()
    return row


def hospitals_of(row: CriticalAlert) -> list[str]:
    return row.hospital_ids.split()


def announce_alert(services: Services, row: CriticalAlert, patient: dict[str, Any], table: LimitsTable) -> None:
    """Tell the home's nurses and the contracted hospitals' doctors, once the alert is committed."""
    findings = json.loads(row.findings)
    message = {
        "v": PROTOCOL_VERSION,
        "type": RESULT_CRITICAL,
        "communication_id": row.id,
        "patient_id": row.patient_id,
        "patient": {"id": row.patient_id, "display": display_name(patient)},
        "home_id": row.home_id,
        "observation": f"Observation/{row.observation_id}/_history/{row.observation_version}",
        "value": row.value_text,
        "limit": row.limit_text,
        "findings": [_finding_message(f, table) for f in findings],
        "result_at": instant(row.result_at) if row.result_at else None,
        "at": instant(row.created_at),
        "acknowledge_within_minutes": services.settings.critical_ack_minutes,
    }
    for topic in topics_for_home(services, row.home_id):
        services.announce(topic, message)


def _finding_message(finding: dict[str, Any], table: LimitsTable) -> dict[str, Any]:
    analyte = table.analytes.get(finding.get("analyte") or "")
    names = dict(analyte.display) if analyte else {"zh-CN": finding["name"], "en": finding["name"]}
    return {
        "name": names,
        "value": finding["value"],
        "limit": finding["limit"],
        "side": finding["side"],
        "flag": finding["flag"],
    }


# --- acknowledgement --------------------------------------------------------------------------------


def acknowledge(services: Services, principal: Principal, communication_id: str) -> dict[str, Any]:
    """Record who acknowledged the alert and when; the updated Communication.

    404 when there is no such alert or the caller may not see the resident, 403 for anyone but a doctor,
    409 when it was acknowledged already.
    """
    row = services.db.get(CriticalAlert, communication_id)
    if row is None:
        raise NotFound()
    services.policy.require_resident(principal, row.patient_id)
    if not principal.is_user or principal.role is not Role.DOCTOR:
        logger.warning("%s may not acknowledge critical alert %s", principal.reference, row.id)
        raise AccessDenied("critical.error.doctors_only")
    services.policy.require_scope(principal, "Communication", "u")
    now = services.now()
    since = as_utc(row.result_at or row.created_at)
    # One statement that only an unacknowledged row satisfies: of two doctors at once, one wins.
    claimed = services.db.execute(
        update(CriticalAlert)
        .where(CriticalAlert.id == row.id, CriticalAlert.acknowledged_at.is_(None))
        .values(
            acknowledged_at=now,
            acknowledged_by=principal.reference,
            acknowledged_by_name=principal.display_name,
            seconds_to_acknowledge=max(0, int((as_utc(now) - since).total_seconds())),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        services.db.refresh(row)
        raise Conflict("critical.error.already_acknowledged", who=row.acknowledged_by_name or "?")
    services.db.refresh(row)
    track_critical_acknowledged(
        services,
        actor_of(principal),
        row.id,
        row.patient_id,
        row.observation_id,
        row.home_id,
        principal.organization_id,
    )
    current = services.repository.read("Communication", row.id)
    updated = services.repository.update(
        acknowledged_communication(current, now, principal.display_name, principal.practitioner_id)
    )
    logger.info(
        "critical alert %s acknowledged by %s after %s s", row.id, principal.reference, row.seconds_to_acknowledge
    )
    message = {
        "v": PROTOCOL_VERSION,
        "type": RESULT_CRITICAL_ACKNOWLEDGED,
        "communication_id": row.id,
        "patient_id": row.patient_id,
        "home_id": row.home_id,
        "acknowledged_by": {"reference": principal.reference, "display": principal.display_name},
        "acknowledged_at": instant(now),
        "seconds_to_acknowledge": row.seconds_to_acknowledge,
    }
    for topic in topics_for_home(services, row.home_id):
        services.announce(topic, message)
    return updated


# --- the pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertItem:
    """One open alert as the doctor's and the nurse's home pages show it."""

    id: str
    patient_id: str
    patient_name: str
    home_name: str
    findings: tuple[str, ...]  # "血钾 6.8 mmol/L (> 6.2 mmol/L)", in the page's language
    result_at: datetime | None
    created_at: datetime
    escalated: bool
    can_acknowledge: bool

    @property
    def created_text(self) -> str:
        return self.created_at.astimezone(CHINA_TIME).strftime("%m-%d %H:%M")

    @property
    def created_iso(self) -> str:
        return instant(self.created_at)


def open_alert_items(services: Services, principal: Principal, t: Translator, table: LimitsTable) -> list[AlertItem]:
    """Unacknowledged alerts of the residents the principal cares for, oldest first."""
    if not principal.is_user or principal.role not in (Role.DOCTOR, Role.NURSE):
        return []
    homes = services.policy.visible_home_ids(principal)
    if not homes:
        return []
    rows = services.db.scalars(
        select(CriticalAlert)
        .where(CriticalAlert.home_id.in_(sorted(homes)), CriticalAlert.acknowledged_at.is_(None))
        .order_by(CriticalAlert.created_at)
    ).all()
    if not rows:
        return []
    patients = {p["id"]: display_name(p) for p in services.residents.patients_by_id({r.patient_id for r in rows})}
    home_names = services.organizations.names({r.home_id for r in rows})
    return [
        AlertItem(
            id=row.id,
            patient_id=row.patient_id,
            patient_name=patients.get(row.patient_id, row.patient_id),
            home_name=home_names.get(row.home_id, row.home_id),
            findings=tuple(_finding_line(f, t, table) for f in json.loads(row.findings)),
            result_at=as_utc(row.result_at) if row.result_at else None,
            created_at=as_utc(row.created_at),
            escalated=row.escalated_at is not None,
            can_acknowledge=principal.role is Role.DOCTOR,
        )
        for row in rows
    ]


def _finding_line(finding: dict[str, Any], t: Translator, table: LimitsTable) -> str:
    analyte = table.analytes.get(finding.get("analyte") or "")
    name = analyte.name(t.locale) if analyte else str(finding["name"])
    key = "critical.payload_flag" if finding.get("flag") and finding["limit"] == finding["flag"] else "critical.payload"
    return " ".join(t(key, name=name, value=finding["value"], limit=finding["limit"], flag=finding["flag"]).split())
