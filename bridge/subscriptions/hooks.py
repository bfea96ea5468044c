"""What FHIR writes of a Subscription do here (called by bridge/fhir_api/writes.py for every type; other
types pass through untouched)."""

from __future__ import annotations

from typing import Any

from bridge.auth.principal import Principal
from bridge.services import Services
from bridge.subscriptions import state


def checked(
    services: Services, principal: Principal, content: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """The content to store: a Subscription checked and given the server's status; 4xx when refused."""
    if content.get("resourceType") != "Subscription":
        return content
    return state.accept_write(services, principal, content, old)


def stored(services: Services, principal: Principal, resource: dict[str, Any]) -> None:
    if resource.get("resourceType") == "Subscription":
        state.after_write(services, principal, resource)


def deleted(services: Services, resource: dict[str, Any]) -> None:
    if resource.get("resourceType") == "Subscription":
        state.after_delete(services, str(resource["id"]))
