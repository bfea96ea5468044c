"""The outbox sender of `subscription` messages: a notification Bundle POSTed to a pharmacy's endpoint.

The Bundle is built at send time (notifications.py) and signed: ``X-Bridge-Signature: sha256=<hex>``,
the HMAC-SHA256 of the exact body bytes keyed with the secret of the pharmacy client that wrote the
Subscription (verification.py is the receiver's side). The pharmacy's own channel headers go along.

Outcomes: 2xx sent. Everything else is retried, 4xx included: a pharmacy endpoint answering 400 or 404
for a while (a deployment, a misrouted proxy) must not cost it prescriptions. Retries back off up to
BRIDGE_OUTBOX_BACKOFF_MAX_SECONDS for BRIDGE_SUBSCRIPTION_RETRY_HOURS (worker.py's give-up window, counted
from the last delivery that got through); then the Subscription shows status error and its events wait
for `$events` or for the pharmacy to set it back to requested. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select

from bridge.audit import CLIENT_SYSTEM, Actor, AuditKind, Outcome, organization_entity, record_audit_event
from bridge.fhir_api.context import patient_entities
from bridge.outbox.outbox import ClaimedMessage
from bridge.outbox.worker import Delivery
from bridge.outbox.worker import Outcome as DeliveryOutcome
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.subscriptions.notifications import notification_bundle
from bridge.subscriptions.state import DELIVERING, SUBSCRIPTION, SubscriptionStatus, mark_delivered, mark_error
from bridge.subscriptions.subscription_requests import parse_request, secret_of_client
from bridge.subscriptions.tables import SubscriptionEvent, SubscriptionState
from bridge.subscriptions.verification import SIGNATURE_HEADER, signature

logger = logging.getLogger(__name__)

__all__ = ["SUBSCRIPTION", "SubscriptionSender"]

FHIR_JSON = "application/fhir+json"
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True)
class Prepared:
    endpoint: str
    body: bytes
    headers: dict[str, str] = field(repr=False)  # the pharmacy's may hold its credentials
    timeout: float
    kind: str
    event: int | None
    patients: tuple[str, ...]


class SubscriptionSender:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient | None = None) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.give_up_after = timedelta(hours=settings.subscription_retry_hours)
        self.client = client or httpx.AsyncClient(timeout=settings.outbox_timeout_seconds, follow_redirects=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def deliver(self, message: ClaimedMessage) -> Delivery:
        prepared = await asyncio.to_thread(self._prepare, message)
        if isinstance(prepared, Delivery):
            return prepared
        try:
            response = await self.client.post(
                prepared.endpoint, content=prepared.body, headers=prepared.headers, timeout=prepared.timeout
            )
        except httpx.TimeoutException:
            return Delivery(DeliveryOutcome.RETRY, "no answer in time (timeout)")
        except httpx.HTTPError as exc:
            return Delivery(DeliveryOutcome.RETRY, f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS])
        if 200 <= response.status_code < 300:
            return Delivery(
                DeliveryOutcome.SENT,
                f"HTTP {response.status_code}",
                on_sent=lambda services: _delivered(services, message, prepared),
            )
        detail = f"HTTP {response.status_code}: {response.text[:200]}".strip()
        return Delivery(DeliveryOutcome.RETRY, detail[:MAX_DETAIL_CHARS], _retry_after(response))

    def gave_up(self, services: Services, message: ClaimedMessage, error: str) -> None:
        hours = self.give_up_after.total_seconds() / 3600
        mark_error(services, message.destination_id, f"no notification delivered for {hours:g} hours; last: {error}")

    def _prepare(self, message: ClaimedMessage) -> Prepared | Delivery:
        with self.runtime.session_factory() as db:
            services = Services(db, self.runtime)
            state = db.get(SubscriptionState, message.destination_id)
            try:
                resource = services.repository.read("Subscription", message.destination_id)
            except OperationOutcomeError:
                resource = None
            if state is None or resource is None or state.status not in DELIVERING:
                status = state.status if state is not None else "deleted"
                # Not lost: events stay numbered and kept; `$events`, or a resume, brings them.
                return Delivery(DeliveryOutcome.FAILED, f"the Subscription is {status}: not sent")
            secret = secret_of_client(services, state.client_id)
            if secret is None:
                return Delivery(DeliveryOutcome.RETRY, "cannot sign: the client's secret is unavailable")
            request = parse_request(resource, state.owner_organization_id, allow_http=True)
            notice = json.loads(message.payload)
            kind, number = str(notice["type"]), notice.get("event")
            events = []
            if number is not None:
                event = db.scalar(
                    select(SubscriptionEvent).where(
                        SubscriptionEvent.subscription_id == state.subscription_id,
                        SubscriptionEvent.event_number == int(number),
                    )
                )
                if event is None:
                    return Delivery(DeliveryOutcome.FAILED, f"event {number} is not recorded")
                events.append(event)
            if kind == "handshake" and state.status != SubscriptionStatus.REQUESTED.value:
                return Delivery(DeliveryOutcome.FAILED, "superseded: the Subscription is active already")
            bundle = notification_bundle(services, state, kind, events, request.content, services.now())
        body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode()
        headers = dict(request.headers)
        headers.update({"Content-Type": FHIR_JSON, SIGNATURE_HEADER: signature(body, secret)})
        return Prepared(
            endpoint=request.endpoint,
            body=body,
            headers=headers,
            timeout=request.timeout_seconds or self.runtime.settings.outbox_timeout_seconds,
            kind=kind,
            event=int(number) if number is not None else None,
            patients=_patients(bundle) if request.content == "full-resource" else (),
        )


def _patients(bundle: dict[str, object]) -> tuple[str, ...]:
    entries = bundle.get("entry")
    found = (
        [
            str(entry["resource"]["id"])
            for entry in entries
            if isinstance(entry, dict) and entry.get("resource", {}).get("resourceType") == "Patient"
        ]
        if isinstance(entries, list)
        else []
    )
    return tuple(dict.fromkeys(found))


def _delivered(services: Services, message: ClaimedMessage, prepared: Prepared) -> None:
    mark_delivered(services, message.destination_id, prepared.kind)
    if prepared.event is None:
        return
    # Full-resource content discloses a resident's record to the pharmacy: recorded like any other access.
    state = services.db.get(SubscriptionState, message.destination_id)
    owner = state.owner_organization_id if state is not None else message.destination_id
    record_audit_event(
        services.repository,
        AuditKind.TRANSACTION,
        Outcome.SUCCESS,
        Actor("outbox", CLIENT_SYSTEM, None, "bridge outbox"),
        None,
        f"notification of event {prepared.event} of Subscription/{message.destination_id} delivered",
        services.now(),
        entities=[organization_entity(owner), *patient_entities(services, list(prepared.patients))],
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
