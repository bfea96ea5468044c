"""Subscriptions Backport routes: the SubscriptionTopic (served as static JSON: R4 has no such resource
type), and the operations `$status` and `$events`. Registered ahead of bridge/api/fhir_routes.py, whose
`/fhir/{type}` and `/fhir/{type}/{id}` routes would otherwise take these paths."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fhir_adapter.bundles import instant
from fhir_adapter.errors import not_found

from bridge.api.fhir_http import BodyDep, MediaTypeDep, fhir_response, parse_json_body
from bridge.api.fhir_routes import ContextDep, interaction
from bridge.audit import AuditKind
from bridge.clock import as_utc
from bridge.subscriptions.operations import events_bundle, operation_parameters, status_bundle
from bridge.subscriptions.topic import TOPIC_ID, topic_resource

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _parameters(request: Request, raw: bytes) -> dict[str, list[str]]:
    body: dict[str, Any] | None = None
    if request.method == "POST" and raw.strip():
        body = parse_json_body(raw, request.headers.get("content-type"))
    query = [(k, v) for k, v in request.query_params.multi_items() if not k.startswith("_")]
    return operation_parameters(body, query)


@router.get("/SubscriptionTopic")
def search_topics(request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.SEARCH, "SubscriptionTopic")
    topic = topic_resource()
    wanted = request.query_params.getlist("url") + request.query_params.getlist("_id")
    matches = [topic] if not wanted or topic["url"] in wanted or TOPIC_ID in wanted else []
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(as_utc(ctx.services.now())),
        "total": len(matches),
        "entry": [
            {"fullUrl": f"{ctx.base_url}/SubscriptionTopic/{t['id']}", "resource": t, "search": {"mode": "match"}}
            for t in matches
        ],
    }
    return fhir_response(bundle, media)


@router.get("/SubscriptionTopic/{topic_id}")
def read_topic(topic_id: str, request: Request, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.READ, "SubscriptionTopic", topic_id)
    if topic_id != TOPIC_ID:
        raise not_found("SubscriptionTopic", topic_id)
    return fhir_response(topic_resource(), media)


@router.api_route("/Subscription/$status", methods=["GET", "POST"])
def type_status(request: Request, raw: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.SEARCH, "Subscription")
    ids = _parameters(request, raw).get("ids")
    bundle = status_bundle(ctx, ids)
    ctx.audit(AuditKind.SEARCH, f"$status of {bundle['total']} Subscriptions")
    return fhir_response(bundle, media)


@router.api_route("/Subscription/{subscription_id}/$status", methods=["GET", "POST"])
def instance_status(
    subscription_id: str, request: Request, raw: BodyDep, media: MediaTypeDep, ctx: ContextDep
) -> Response:
    interaction(request, AuditKind.READ, "Subscription", subscription_id)
    _parameters(request, raw)  # checked, though the instance level takes none
    bundle = status_bundle(ctx, [subscription_id])
    ctx.audit(AuditKind.READ, f"$status of Subscription/{subscription_id}")
    return fhir_response(bundle, media)


@router.api_route("/Subscription/{subscription_id}/$events", methods=["GET", "POST"])
def events(subscription_id: str, request: Request, raw: BodyDep, media: MediaTypeDep, ctx: ContextDep) -> Response:
    interaction(request, AuditKind.READ, "Subscription", subscription_id)
    parameters = _parameters(request, raw)

    def one(name: str) -> str | None:
        values = parameters.get(name) or []
        return values[-1] if values else None

    bundle, found = events_bundle(
        ctx, subscription_id, one("eventsSinceNumber"), one("eventsUntilNumber"), one("content")
    )
    disclosed = [e["resource"] for e in bundle["entry"][1:] if "resource" in e]
    numbers = f"{found[0].event_number}-{found[-1].event_number}" if found else "none"
    ctx.audit(AuditKind.READ, f"$events {numbers} of Subscription/{subscription_id}", disclosed)
    return fhir_response(bundle, media)
