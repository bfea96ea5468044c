"""The review of stored results for critical values (危急值), called by ingestion after storing them.

    raise_critical_alerts(services, patient, observations) -> ["Communication/<id>", ...]

runs in the caller's unit of work: the alert (a FHIR Communication and its `critical_alert` row)
commits or rolls back with the results that caused it, and open pages hear of it only after the
commit (bridge/live_news.py). One alert per Observation version that has critical findings not
alerted before for that Observation: a corrected version with the same values alerts no one again,
a corrected value that is critical alerts anew.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bridge.auth.principal import Principal
from bridge.directory.codes import ContractKind
from bridge.directory.residents import home_of
from bridge.results.alerts import alerted_keys, announce_alert, record_alert
from bridge.results.critical_communication import critical_communication
from bridge.results.critical_findings import critical_findings, result_time
from bridge.results.critical_limits import LimitsTable, load_limits
from bridge.results.loop_steps import track_critical_alerted
from bridge.services import Services
from bridge.settings import Settings

logger = logging.getLogger(__name__)


def limits_for(settings: Settings) -> LimitsTable:
    """The table in force: the defaults, extended by BRIDGE_CRITICAL_LIMITS_FILE (loaded once)."""
    return load_limits(settings.critical_limits_file)


def raise_critical_alerts(
    services: Services,
    patient: dict[str, Any],
    observations: Sequence[dict[str, Any]],
    sender: Principal | None = None,
) -> list[str]:
    """Alert on the critical values among `observations` (stored Observations of `patient`).

    `patient` is the stored Patient resource; `observations` are the stored Observations (with id and
    meta.versionId) just written for that resident, in any order; other resource types are skipped.
    Returns the references of the Communications created, empty when nothing is critical or new.
    """
    table = limits_for(services.settings)
    home_id = home_of(patient)
    subject = f"Patient/{patient['id']}"
    created: list[str] = []
    hospital_ids: list[str] | None = None
    for observation in observations:
        if observation.get("resourceType") != "Observation":
            continue
        if not observation.get("id"):
            raise ValueError("raise_critical_alerts takes stored Observations (with an id)")
        if (observation.get("subject") or {}).get("reference") != subject:
            logger.error("Observation/%s is not about %s; not reviewed here", observation["id"], subject)
            continue
        findings = critical_findings(observation, table)
        if not findings:
            continue
        already = alerted_keys(services, observation["id"])
        new = [f for f in findings if f.key not in already]
        if not new:
            logger.info("Observation/%s: its critical values were alerted before", observation["id"])
            continue
        if home_id is None:
            # Residents always belong to a home; a Patient without one has nobody to alert, so say so loudly.
            logger.error("critical value in Observation/%s of %s, who has no home", observation["id"], subject)
            continue
        if hospital_ids is None:
            today = services.now().date()
            hospital_ids = sorted(services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, today))
        communication = services.repository.create(
            critical_communication(patient["id"], observation["id"], new, home_id, hospital_ids, services.now())
        )
        row = record_alert(services, communication, observation, new, home_id, hospital_ids, result_time(observation))
        track_critical_alerted(services, row.id, patient["id"], observation["id"], home_id, hospital_ids, sender)
        announce_alert(services, row, patient, table)
        logger.warning(
            "critical value for %s in Observation/%s: %s (limit %s), alert Communication/%s",
            subject,
            observation["id"],
            row.value_text,
            row.limit_text,
            row.id,
        )
        created.append(f"Communication/{communication['id']}")
    return created
