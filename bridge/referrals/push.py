"""A referral goes to the receiving hospital's own FHIR server, through the outbox, when it has one.

The same transaction Bundle as new results (bridge/results/hospital_push.py builds it: the resident as
a conditional create, every resource a PUT of an id derived from the bridge's URL, so a retry or a
later version lands on the same resource). The first push carries the results the doctor attached, so
the ServiceRequest's supportingInfo resolves at the hospital; each change of status pushes the
ServiceRequest and its Task again, in order (one ordering key per referral).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints
from bridge.outbox.outbox import NewMessage, enqueue
from bridge.referrals.context import hospital_of
from bridge.results.hospital_push import push_bundle, results_to_push, versioned_reference
from bridge.services import Services

logger = logging.getLogger(__name__)


def enqueue_referral_push(
    services: Services,
    patient: dict[str, Any],
    request: dict[str, Any],
    task: dict[str, Any],
    *,
    with_results: bool = False,
) -> int | None:
    """The outbox message's id, or None when the receiving hospital has no active endpoint."""
    hospital = hospital_of(request)
    if not HospitalEndpoints(services).active_for({hospital}):
        return None
    supporting = [str(item.get("reference", "")) for item in request.get("supportingInfo", [])]
    results = results_to_push(services, patient, supporting) if with_results else []
    resources = [*results, request, task]
    base = f"{services.settings.public_base_url}/fhir"
    payload = json.dumps(push_bundle(base, patient, resources), ensure_ascii=False, separators=(",", ":"))
    versions = "\n".join(sorted(versioned_reference(r) for r in resources))
    subject = f"ServiceRequest/{request['id']}"
    message = NewMessage(
        destination_kind=HOSPITAL_FHIR,
        destination_id=hospital,
        payload=payload,
        dedupe_key="referral:" + hashlib.sha256(versions.encode()).hexdigest(),
        ordering_key=subject,
        description=f"referral {task.get('status')}: {subject}",
    )
    message_id = enqueue(services.db, message, services.now())
    logger.info("%s (%s) queued for %s's FHIR endpoint", subject, task.get("status"), hospital)
    return message_id
