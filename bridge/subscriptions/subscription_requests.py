"""What a pharmacy may ask for in a Subscription (R4, Subscriptions Backport style), checked on every write.

Refusals are OperationOutcomes with the reason and the element, raised before anything is stored:
- the topic must be the bridge's (``criteria``), the filter ``Task?owner=Organization/<own id>``
  (another organisation's Tasks: 403);
- a rest-hook channel to an https endpoint (http only in demo mode or with BRIDGE_SUBSCRIPTION_ALLOW_HTTP);
- payload application/fhir+json with content full-resource or id-only;
- the caller must be a system client whose secret the bridge holds sealed: notifications are signed
  with it, and a client issued before that has none (its admin issues a new secret).
The status is the server's: a client may ask for ``requested`` (start again) or ``off``; anything else it
sends is replaced by the current status (state.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fhir_adapter.errors import OperationOutcomeError

from bridge.auth.principal import Principal
from bridge.sealing import UnsealError, unseal
from bridge.services import Services
from bridge.subscriptions.topic import BACKPORT, TOPIC_URL

logger = logging.getLogger(__name__)

FILTER_CRITERIA = f"{BACKPORT}/StructureDefinition/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/StructureDefinition/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/StructureDefinition/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/StructureDefinition/backport-timeout"
MAX_COUNT = f"{BACKPORT}/StructureDefinition/backport-max-count"
PAYLOAD_TYPES = frozenset({"application/fhir+json", "application/json"})
CONTENTS = frozenset({"full-resource", "id-only"})
MAX_HEARTBEAT_SECONDS = 24 * 3600
MAX_TIMEOUT_SECONDS = 60
MAX_HEADERS = 10
MAX_HEADER_CHARS = 1000
MAX_URL_CHARS = 500
# Set by the bridge on every notification: a pharmacy's header of the same name would break or forge them.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding", "x-bridge-signature"})
CLIENT_SECRET_PURPOSE = "client-secret"  # noqa: S105 - the sealing purpose, not a secret


@dataclass(frozen=True)
class SubscriptionRequest:
    topic: str
    owner_organization_id: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]
    content: str  # full-resource | id-only
    heartbeat_seconds: int | None
    timeout_seconds: float | None


def _refuse(diagnostics: str, expression: str, status: int = 422, code: str = "invalid") -> OperationOutcomeError:
    return OperationOutcomeError.single(status, code, diagnostics, expression)


def _extension(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    for extension in element.get("extension", []) or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension
    return None


def parse_request(resource: dict[str, Any], organization_id: str, *, allow_http: bool) -> SubscriptionRequest:
    """The request of a pharmacy (`organization_id`), checked; OperationOutcomeError naming the first fault."""
    topic = str(resource.get("criteria", ""))
    if topic != TOPIC_URL:
        raise _refuse(
            f"unknown topic {topic!r}: Subscription.criteria must be the topic's canonical URL {TOPIC_URL} "
            f"(see GET /fhir/SubscriptionTopic)",
            "Subscription.criteria",
            code="not-supported",
        )
    owner = _owner_filter(resource, organization_id)
    channel = resource.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise _refuse("only channel.type rest-hook is supported", "Subscription.channel.type", code="not-supported")
    return SubscriptionRequest(
        topic=topic,
        owner_organization_id=owner,
        endpoint=_endpoint(str(channel.get("endpoint", "")), allow_http),
        headers=tuple(_header(value) for value in _headers(channel)),
        content=_content(channel),
        heartbeat_seconds=_unsigned(channel, HEARTBEAT_PERIOD, "valueUnsignedInt", MAX_HEARTBEAT_SECONDS),
        timeout_seconds=_unsigned(channel, TIMEOUT, "valueUnsignedInt", MAX_TIMEOUT_SECONDS),
    )


def _owner_filter(resource: dict[str, Any], own: str) -> str:
    expression = "Subscription.criteria.extension('backport-filter-criteria')"
    extensions = [
        e
        for e in (resource.get("_criteria") or {}).get("extension", []) or []
        if isinstance(e, dict) and e.get("url") == FILTER_CRITERIA
    ]
    if len(extensions) != 1 or not isinstance(extensions[0].get("valueString"), str):
        raise _refuse(
            f"one filter is required: the backport-filter-criteria extension on criteria with valueString "
            f"'Task?owner=Organization/{own}'",
            expression,
        )
    value = str(extensions[0]["valueString"]).strip()
    resource_type, _, query = value.partition("?")
    name, _, owner = query.partition("=")
    if resource_type != "Task" or name != "owner" or not owner or "&" in owner or "," in owner:
        raise _refuse(f"the only filter supported is 'Task?owner=Organization/{own}', not {value!r}", expression)
    owner = owner.removeprefix("Organization/")
    if owner != own:
        logger.warning("Organization/%s asked for notifications of Organization/%s's Tasks", own, owner)
        raise _refuse(
            f"you may subscribe only to your own organisation's Tasks (Task?owner=Organization/{own})",
            expression,
            status=403,
            code="forbidden",
        )
    return owner


def _endpoint(url: str, allow_http: bool) -> str:
    expression = "Subscription.channel.endpoint"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _refuse(f"{url!r} is not a usable URL", expression) from None
    if not url or len(url) > MAX_URL_CHARS or parts.scheme not in {"http", "https"} or not host:
        raise _refuse("channel.endpoint must be an https URL", expression)
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise _refuse("channel.endpoint may not carry credentials or a fragment; use channel.header", expression)
    if parts.scheme != "https" and not allow_http:
        raise _refuse("channel.endpoint must use https: prescriptions cross networks only over TLS", expression)
    return url.strip()


def _headers(channel: dict[str, Any]) -> list[str]:
    headers = channel.get("header") or []
    if len(headers) > MAX_HEADERS:
        raise _refuse(f"at most {MAX_HEADERS} headers", "Subscription.channel.header")
    return [str(h) for h in headers]


def _header(value: str) -> tuple[str, str]:
    expression = "Subscription.channel.header"
    name, separator, content = value.partition(":")
    name, content = name.strip(), content.strip()
    printable = all(ch.isprintable() for ch in value)
    if not separator or not name or " " in name or not printable or len(value) > MAX_HEADER_CHARS:
        raise _refuse(f"a header is 'Name: value' on one line, not {value[:80]!r}", expression)
    if name.lower() in RESERVED_HEADERS:
        raise _refuse(f"the bridge sets {name} itself", expression)
    return name, content


def _content(channel: dict[str, Any]) -> str:
    payload = channel.get("payload")
    if payload not in PAYLOAD_TYPES:
        raise _refuse("channel.payload must be application/fhir+json", "Subscription.channel.payload")
    extension = _extension(channel.get("_payload") or {}, PAYLOAD_CONTENT)
    # Without the extension the least is disclosed: references the pharmacy fetches with its own token.
    content = str(extension.get("valueCode")) if extension else "id-only"
    if content not in CONTENTS:
        raise _refuse(
            f"payload content must be full-resource or id-only, not {content!r}",
            "Subscription.channel.payload.extension('backport-payload-content')",
            code="not-supported",
        )
    return content


def _unsigned(channel: dict[str, Any], url: str, key: str, maximum: int) -> int | None:
    extension = _extension(channel, url)
    if extension is None:
        return None
    value = extension.get(key)
    name = url.rsplit("/", 1)[-1]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise _refuse(f"{name} must be {key} from 1 to {maximum}", f"Subscription.channel.extension('{name}')")
    return value


def check_heartbeat(request: SubscriptionRequest, minimum: int) -> None:
    if request.heartbeat_seconds is not None and request.heartbeat_seconds < minimum:
        raise _refuse(
            f"backport-heartbeat-period must be at least {minimum} seconds",
            "Subscription.channel.extension('backport-heartbeat-period')",
        )


def client_secret(services: Services, principal: Principal) -> str:
    """The calling client's secret (it keys the notifications' HMAC); 422 when the bridge has none."""
    if principal.is_user:
        raise _refuse(
            "Subscriptions are made by a pharmacy system signed in with client credentials: notifications are "
            "signed with the client's secret",
            "Subscription",
            code="business-rule",
        )
    secret = secret_of_client(services, principal.subject_id)
    if secret is None:
        raise _refuse(
            f"client {principal.subject_id} was issued before the bridge kept secrets to sign notifications with; "
            f"ask your administrator to issue a new client secret, then create the Subscription again",
            "Subscription",
            code="business-rule",
        )
    return secret


def secret_of_client(services: Services, client_id: str | None) -> str | None:
    client = services.clients.get(client_id) if client_id else None
    if client is None or not client.secret_sealed:
        return None
    try:
        key = services.settings.secret_key.get_secret_value()
        return unseal(key, CLIENT_SECRET_PURPOSE, client.secret_sealed).decode()
    except UnsealError:
        logger.warning("the sealed secret of client %s cannot be unsealed (BRIDGE_SECRET_KEY changed?)", client_id)
        return None
