"""The sender of `hospital-fhir` messages: a transaction Bundle POSTed to a hospital's FHIR endpoint.

The Bundle (built by bridge/results/hospital_push.py) has conditional creates (`ifNoneExist`: the
resident, matched by identifier) and updates of resources with ids the bridge chose. It is delivered
in two transactions: first the conditional entries, then the rest with references to them rewritten
to what the hospital answered. Medplum (and so the in-memory test peer) refuses a transaction with a
conditional entry and more than 8 entries ("requires strict isolation"), and a laboratory report often
has more results than that; both steps are idempotent, so a retry after a lost answer is harmless.

Outcomes: 2xx sent (the locations are kept); 3xx and 4xx other than 408/429 failed at once, since the
same Bundle will be refused again; 408, 429, 5xx, timeouts and connection errors retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from fhir_adapter.references import mapped, rewrite_references

from bridge.audit import CLIENT_SYSTEM, Actor, AuditKind, Outcome, organization_entity, record_audit_event
from bridge.fhir_api.context import patient_entities
from bridge.outbox.endpoints import FHIR_JSON, HOSPITAL_FHIR, HospitalEndpoints
from bridge.outbox.outbox import ClaimedMessage
from bridge.outbox.worker import Delivery
from bridge.outbox.worker import Outcome as DeliveryOutcome
from bridge.runtime import Runtime
from bridge.services import Services

logger = logging.getLogger(__name__)

__all__ = ["HOSPITAL_FHIR", "HospitalFhirSender", "push_transaction"]

RETRIED_CLIENT_ERRORS = frozenset({408, 429})
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class Target:
    base_url: str
    token: str | None = field(repr=False)  # never in a log line


class PushError(Exception):
    def __init__(self, detail: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail[:MAX_DETAIL_CHARS]
        self.retry = retry
        self.retry_after = retry_after


class HospitalFhirSender:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient | None = None) -> None:
        self.runtime = runtime
        timeout = runtime.settings.outbox_timeout_seconds
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver(self, message: ClaimedMessage) -> Delivery:
        target = await asyncio.to_thread(self._target, message.destination_id)
        if target is None:
            return Delivery(DeliveryOutcome.FAILED, "the hospital has no active FHIR endpoint")
        try:
            bundle = json.loads(message.payload)
        except ValueError as exc:
            return Delivery(DeliveryOutcome.FAILED, f"the payload is not JSON: {exc}")
        try:
            locations = await push_transaction(self.client, target, bundle)
        except PushError as exc:
            outcome = DeliveryOutcome.RETRY if exc.retry else DeliveryOutcome.FAILED
            return Delivery(outcome, exc.detail, exc.retry_after)
        return Delivery(
            DeliveryOutcome.SENT,
            " ".join(locations),
            on_sent=lambda services: _audit_push(services, message, bundle, target.base_url),
        )

    def _target(self, organization_id: str) -> Target | None:
        with self.runtime.session_factory() as db:
            endpoint = HospitalEndpoints(Services(db, self.runtime)).get(organization_id)
            if endpoint is None or not endpoint.active:
                return None
            return Target(endpoint.base_url, endpoint.bearer_token)


async def push_transaction(client: httpx.AsyncClient, target: Target, bundle: dict[str, Any]) -> list[str]:
    """Deliver the transaction Bundle, conditional entries first; the locations the hospital gave
    (``Type/id``), in the order of the Bundle's entries. Raises PushError."""
    entries = bundle.get("entry", [])
    conditional = [e for e in entries if e.get("request", {}).get("ifNoneExist")]
    rest = [e for e in entries if not e.get("request", {}).get("ifNoneExist")]
    resolved: dict[str, str] = {}
    locations: list[str] = []
    if conditional:
        answered = await _post_transaction(client, target, conditional)
        for entry, location in zip(conditional, answered, strict=True):
            resolved[entry.get("fullUrl", "")] = location
        locations += answered
    if rest:
        locations += await _post_transaction(client, target, [rewrite_references(e, mapped(resolved)) for e in rest])
    return locations


async def _post_transaction(client: httpx.AsyncClient, target: Target, entries: list[Any]) -> list[str]:
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    body = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    try:
        response = await client.post(f"{target.base_url}/", content=json.dumps(body), headers=headers)
    except httpx.TimeoutException:
        raise PushError("no answer in time (timeout)", retry=True) from None
    except httpx.HTTPError as exc:
        raise PushError(f"{type(exc).__name__}: {exc}", retry=True) from None
    return _locations(response, len(entries))


def _locations(response: httpx.Response, expected: int) -> list[str]:
    status = response.status_code
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        raise PushError(f"HTTP {status}: redirected to {where}; the endpoint URL needs correcting", retry=False)
    if status >= 400:
        retry = status >= 500 or status in RETRIED_CLIENT_ERRORS
        raise PushError(f"HTTP {status}: {_outcome_text(response)}", retry=retry, retry_after=_retry_after(response))
    try:
        answer = response.json()
    except ValueError:
        raise PushError(f"HTTP {status}, but the answer is not JSON", retry=False) from None
    answered = answer.get("entry", []) if isinstance(answer, dict) else []
    if not isinstance(answer, dict) or answer.get("type") != "transaction-response" or len(answered) != expected:
        raise PushError(f"HTTP {status}, but not a transaction-response of {expected} entries", retry=False)
    return [_type_and_id(str(entry.get("response", {}).get("location", ""))) for entry in answered]


def _type_and_id(location: str) -> str:
    """``Type/id`` of a location: relative or absolute, with or without ``/_history/v``."""
    parts = [p for p in location.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def _outcome_text(response: httpx.Response) -> str:
    """The receiver's reasons (OperationOutcome issues), else the start of what it said."""
    try:
        outcome = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    issues = outcome.get("issue", []) if isinstance(outcome, dict) else []
    texts = [_issue_text(issue) for issue in issues if isinstance(issue, dict)]
    return "; ".join(t for t in texts if t) or response.text[:500]


def _issue_text(issue: dict[str, Any]) -> str:
    """Diagnostics, details and where: servers put the reason in any of them (Medplum: details)."""
    parts = [str(issue.get("diagnostics") or "").strip(), str(issue.get("details", {}).get("text") or "").strip()]
    where = [str(e) for e in issue.get("expression", []) if e]
    text = " ".join(p for p in parts if p) or str(issue.get("code", ""))
    return f"{text} @ {', '.join(where)}" if where else text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None  # the HTTP-date form is rare; the backoff covers it


def _audit_push(services: Services, message: ClaimedMessage, bundle: dict[str, Any], base_url: str) -> None:
    """A push discloses a resident's results to the hospital: recorded like any other access."""
    prefix = f"{services.settings.public_base_url}/fhir"
    pushed = [
        str(identifier["value"])
        for entry in bundle.get("entry", [])
        for identifier in entry.get("resource", {}).get("identifier", [])
        if identifier.get("system") == prefix and isinstance(identifier.get("value"), str)
    ]
    patients = [reference.split("/", 1)[1] for reference in pushed if reference.startswith("Patient/")]
    entities = [organization_entity(message.destination_id), *patient_entities(services, patients)]
    record_audit_event(
        services.repository,
        AuditKind.TRANSACTION,
        Outcome.SUCCESS,
        Actor("outbox", CLIENT_SYSTEM, None, "bridge outbox"),
        None,
        f"outbox message {message.id} pushed to {base_url}: {', '.join(pushed)}"[:1000],
        services.now(),
        entities=entities,
    )
