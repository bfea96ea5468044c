"""New results go to the contracted hospitals' own FHIR servers, through the outbox.

For each internet hospital serving the resident's home with an active endpoint (bridge/outbox/
endpoints.py), one outbox message in the caller's transaction: a transaction Bundle of the resident
and the results as stored (current versions), which bridge/outbox/fhir_push.py delivers.

How each entry stays idempotent at the hospital, so a retry after a lost answer duplicates nothing:

- the resident is a conditional create (`ifNoneExist` on any of its identifiers, the bridge's own
  among them): the hospital's existing patient is matched and left as it is, or one is created;
- every result is an update (PUT) of an id derived from the bridge's URL and the result's id (UUID
  v5), so the same result always lands on the same resource, and a corrected version replaces it;
- each carries the bridge identifier (system `<public_base_url>/fhir`, value `Type/id`) and
  `meta.source` naming the version sent, so the hospital can trace it back.

References within the Bundle are `urn:uuid:` full URLs; references to what is not sent (the performing
laboratory, the bed) become logical references by the bridge identifier, which dangle nowhere.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fhir_adapter.errors import OperationOutcomeError

from bridge.directory.codes import ContractKind
from bridge.directory.residents import home_of
from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints
from bridge.outbox.outbox import NewMessage, enqueue
from bridge.services import Services

logger = logging.getLogger(__name__)

PUSHED_TYPES = ("DiagnosticReport", "Observation", "DocumentReference")
# Elements whose references pull in more of the same result: a report's Observations, a panel's
# members, the ECG's original files.
FOLLOWED = ("result", "hasMember", "derivedFrom")
# What the hospital needs to match the resident, and nothing more (no contacts, no bed).
PATIENT_ELEMENTS = ("identifier", "active", "name", "gender", "birthDate", "managingOrganization")
MAX_RESOURCES = 200
_RELATIVE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")


def enqueue_result_push(services: Services, patient: dict[str, Any], created: Sequence[str], kind: str) -> list[int]:
    """One outbox message per contracted hospital with an active endpoint; their ids (none without).
    `created`: the ``Type/id`` references written in this transaction; their current versions are sent."""
    home = home_of(patient)
    if home is None:
        return []
    hospitals = services.contracts.providers_of(home, ContractKind.TELEMEDICINE, services.now().date())
    endpoints = HospitalEndpoints(services).active_for(hospitals)
    if not endpoints:
        return []
    resources = results_to_push(services, patient, created)
    if not resources:
        return []
    base = f"{services.settings.public_base_url}/fhir"
    payload = json.dumps(push_bundle(base, patient, resources), ensure_ascii=False, separators=(",", ":"))
    versions = "\n".join(sorted(versioned_reference(resource) for resource in resources))
    primary = _primary(resources)
    more = f" + {len(resources) - 1} more" if len(resources) > 1 else ""
    message_ids = []
    for hospital in sorted(endpoints):
        message = NewMessage(
            destination_kind=HOSPITAL_FHIR,
            destination_id=hospital,
            payload=payload,
            # The same versions are pushed once: a replayed input or a repeated call adds nothing.
            dedupe_key="results:" + hashlib.sha256(versions.encode()).hexdigest(),
            # A correction of this result never overtakes (or is overtaken by) the version before it.
            ordering_key=primary,
            description=f"{kind}: {primary}{more}",
        )
        message_ids.append(enqueue(services.db, message, services.now()))
    logger.info("%s result %s queued for %d hospital endpoint(s)", kind, primary, len(message_ids))
    return message_ids


def results_to_push(services: Services, patient: dict[str, Any], created: Sequence[str]) -> list[dict[str, Any]]:
    """The current versions of the results written, and those they name (a report's Observations, an
    ECG's DocumentReference), all of this resident's; nothing else that was written (audit, alerts)."""
    subject = f"Patient/{patient['id']}"
    found: dict[str, dict[str, Any]] = {}
    waiting = [reference for reference in created if reference.split("/", 1)[0] in PUSHED_TYPES]
    while waiting and len(found) < MAX_RESOURCES:
        reference = waiting.pop(0)
        if reference in found:
            continue
        try:
            resource = services.repository.read(*reference.split("/", 1))
        except OperationOutcomeError:
            continue  # deleted since: nothing to send
        if resource.get("subject", {}).get("reference") != subject:
            continue  # never another resident's record, whatever a reference says
        found[reference] = resource
        for key in FOLLOWED:
            for item in resource.get(key, []):
                named = str(item.get("reference", ""))
                if named.split("/", 1)[0] in PUSHED_TYPES:
                    waiting.append(named)
    return list(found.values())


def push_bundle(base: str, patient: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The transaction Bundle for a hospital (`base` is the bridge's FHIR base URL)."""
    patient_reference = f"Patient/{patient['id']}"
    full_urls = {patient_reference: full_url(base, patient_reference)}
    full_urls.update({_reference(r): full_url(base, _reference(r)) for r in resources})
    entries = [_patient_entry(base, patient, full_urls)]
    for resource in resources:
        reference = _reference(resource)
        sent_id = full_urls[reference].removeprefix("urn:uuid:")
        entries.append(
            {
                "fullUrl": full_urls[reference],
                "resource": _for_hospital(base, resource, full_urls, sent_id),
                "request": {"method": "PUT", "url": f"{resource['resourceType']}/{sent_id}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def full_url(base: str, reference: str) -> str:
    """The same result of the same bridge always gets the same id at every hospital."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/{reference}')}"


def _patient_entry(base: str, patient: dict[str, Any], full_urls: dict[str, str]) -> dict[str, Any]:
    reference = f"Patient/{patient['id']}"
    minimal = {k: patient[k] for k in ("resourceType", "id", "meta", *PATIENT_ELEMENTS) if k in patient}
    resource = _for_hospital(base, minimal, full_urls)
    criteria = ",".join(
        f"{_escaped(i['system'])}|{_escaped(i['value'])}"
        for i in resource["identifier"]
        if i.get("system") and i.get("value")
    )
    return {
        "fullUrl": full_urls[reference],
        "resource": resource,
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={criteria}"},
    }


def _for_hospital(
    base: str, resource: dict[str, Any], full_urls: dict[str, str], sent_id: str | None = None
) -> dict[str, Any]:
    """A copy with the id it gets at the hospital (none for a create) instead of the bridge's, and its
    identifier, source and references for the hospital."""
    reference = _reference(resource)
    version = resource.get("meta", {}).get("versionId")
    copied = {k: copy.deepcopy(v) for k, v in resource.items() if k not in {"id", "meta"}}
    copied = _references_rewritten(copied, base, full_urls)
    own = {"system": base, "value": reference}
    identifiers = copied.get("identifier", [])
    copied["identifier"] = identifiers if own in identifiers else [*identifiers, own]
    source = f"{base}/{reference}" + (f"/_history/{version}" if version else "")
    return {
        "resourceType": resource["resourceType"],
        **({"id": sent_id} if sent_id else {}),
        "meta": {"source": source},
        **copied,
    }


def _references_rewritten(value: Any, base: str, full_urls: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_references_rewritten(item, base, full_urls) for item in value]
    if not isinstance(value, dict):
        return value
    rewritten = {key: _references_rewritten(item, base, full_urls) for key, item in value.items()}
    target = value.get("reference")
    if not isinstance(target, str) or target.startswith("#"):
        return rewritten
    match = _RELATIVE.match(target.removeprefix(f"{base}/"))
    if match is None:
        return rewritten  # somebody else's absolute URL: meaningful anywhere
    relative = f"{match['type']}/{match['id']}"
    if relative in full_urls:
        rewritten["reference"] = full_urls[relative]
        return rewritten
    # Not in the Bundle: a logical reference the hospital can follow back to the bridge.
    rewritten.pop("reference")
    rewritten.setdefault("type", match["type"])
    rewritten["identifier"] = {"system": base, "value": relative}
    return rewritten


def _escaped(text: str) -> str:
    """A token search value in a query string: FHIR escapes first, then URL encoding."""
    fhir = text.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")
    return quote(fhir, safe=":/")


def _reference(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def versioned_reference(resource: dict[str, Any]) -> str:
    """`Type/id/_history/n`: what a push's dedupe key is made of (results here, referrals too)."""
    return f"{_reference(resource)}/_history/{resource.get('meta', {}).get('versionId', '')}"


def _primary(resources: list[dict[str, Any]]) -> str:
    """What the message is about: the report if there is one, else the first Observation."""
    for kind in ("DiagnosticReport", "Observation"):
        for resource in resources:
            if resource["resourceType"] == kind:
                return _reference(resource)
    return _reference(resources[0])
