"""`$status` and `$events` (Subscriptions Backport): what a pharmacy uses to find and fetch what it missed.

`$status` answers a `searchset` Bundle of SubscriptionStatus Parameters (type query-status), one per
Subscription of the caller's organisation (or those named by `ids`). `$events` answers a notification
Bundle (type query-event) with the events from `eventsSinceNumber` to `eventsUntilNumber` (inclusive),
at most MAX_EVENTS of them: a pharmacy asks again from the next number for more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fhir_adapter.bundles import instant
from fhir_adapter.errors import OperationOutcomeError, invalid, not_found
from sqlalchemy import select

from bridge.clock import as_utc
from bridge.fhir_api.context import FhirContext
from bridge.subscriptions.notifications import notification_bundle, status_parameters
from bridge.subscriptions.subscription_requests import CONTENTS, parse_request
from bridge.subscriptions.tables import SubscriptionEvent, SubscriptionState

MAX_EVENTS = 100
EVENTS_CONTENTS = CONTENTS | {"empty"}


def _visible_state(ctx: FhirContext, subscription_id: str) -> tuple[SubscriptionState, dict[str, Any]]:
    """The delivery state and the resource, or 404 when the caller may not see it (existence does not leak)."""
    ctx.access.require("Subscription", "r")
    state = ctx.services.db.get(SubscriptionState, subscription_id)
    try:
        resource = ctx.services.repository.read("Subscription", subscription_id)
    except OperationOutcomeError:
        raise not_found("Subscription", subscription_id) from None
    if state is None or not ctx.access.readable(resource):
        raise not_found("Subscription", subscription_id)
    return state, resource


def status_bundle(ctx: FhirContext, ids: Sequence[str] | None) -> dict[str, Any]:
    """`$status` for the named Subscriptions (instance level: one), or all the caller's."""
    if ids is not None:
        states = [_visible_state(ctx, subscription_id)[0] for subscription_id in dict.fromkeys(ids)]
    else:
        ctx.access.require("Subscription", "r")
        candidates = ctx.services.db.scalars(
            select(SubscriptionState)
            .where(SubscriptionState.owner_organization_id == ctx.principal.organization_id)
            .order_by(SubscriptionState.created_at, SubscriptionState.subscription_id)
        ).all()
        states = [s for s in candidates if _readable(ctx, s.subscription_id)]
    entries = []
    for state in states:
        parameters = status_parameters(ctx.services, state, "query-status")
        entries.append({"fullUrl": f"urn:uuid:{parameters['id']}", "resource": parameters, "search": {"mode": "match"}})
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": instant(as_utc(ctx.services.now())),
        "total": len(entries),
        "entry": entries,
    }


def _readable(ctx: FhirContext, subscription_id: str) -> bool:
    try:
        return ctx.access.readable(ctx.services.repository.read("Subscription", subscription_id))
    except OperationOutcomeError:
        return False


def events_bundle(
    ctx: FhirContext, subscription_id: str, since: str | None, until: str | None, content: str | None
) -> tuple[dict[str, Any], list[SubscriptionEvent]]:
    """`$events`: the Bundle and the events in it (the route audits what was disclosed)."""
    state, resource = _visible_state(ctx, subscription_id)
    first = _number(since, "eventsSinceNumber") or 1
    last = _number(until, "eventsUntilNumber") or state.events_since_start
    if content is not None and content not in EVENTS_CONTENTS:
        raise invalid(f"content must be one of {', '.join(sorted(EVENTS_CONTENTS))}", "content")
    chosen = content or parse_request(resource, state.owner_organization_id, allow_http=True).content
    events = list(
        ctx.services.db.scalars(
            select(SubscriptionEvent)
            .where(
                SubscriptionEvent.subscription_id == subscription_id,
                SubscriptionEvent.event_number >= first,
                SubscriptionEvent.event_number <= last,
            )
            .order_by(SubscriptionEvent.event_number)
            .limit(MAX_EVENTS)
        ).all()
    )
    shown = [] if chosen == "empty" else events
    bundle = notification_bundle(ctx.services, state, "query-event", shown, chosen, ctx.services.now())
    if chosen == "empty":
        bundle["entry"][0]["resource"] = status_parameters(ctx.services, state, "query-event", events)
        bundle["entry"][0]["fullUrl"] = f"urn:uuid:{bundle['entry'][0]['resource']['id']}"
    return bundle, events


def _number(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise invalid(f"{name} must be an event number (a non-negative integer), not {value!r}", name)
    return int(value)


def operation_parameters(body: dict[str, Any] | None, query: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Parameters of an operation from the query string and, for POST, a Parameters body."""
    found: dict[str, list[str]] = {}
    for name, value in query:
        found.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
    if body is None:
        return found
    if body.get("resourceType") != "Parameters":
        raise invalid("the body of an operation must be a Parameters resource", "resourceType")
    for parameter in body.get("parameter", []) or []:
        name = parameter.get("name")
        values = [str(v) for k, v in parameter.items() if k.startswith("value") and v is not None]
        if isinstance(name, str) and values:
            found.setdefault(name, []).append(values[0])
    return found
