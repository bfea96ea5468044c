"""Every FHIR operation the application routes is listed in the CapabilityStatement, and nothing else is."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute

from bridge.app import create_app
from tests.bridge.api.fhir_support import fhir_client
from tests.conftest import Bridge

OPERATION = re.compile(r"^/fhir/(?P<type>[A-Za-z]+|\{resource_type\})(?:/\{[a-z_]+\})?/\$(?P<name>[a-z-]+)$")


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as wrappers of the router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def routed(bridge: Bridge) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in api_routes(create_app(runtime=bridge.runtime).routes):
        match = OPERATION.match(route.path)
        if match is None:
            continue
        if match["type"] == "{resource_type}":
            # The one route serving several types says which in its Literal annotation.
            annotation = route.endpoint.__annotations__["resource_type"]
            types = re.findall(r"'([A-Za-z]+)'|\"([A-Za-z]+)\"", str(annotation))
            found |= {(a or b, match["name"]) for a, b in types}
        else:
            found.add((match["type"], match["name"]))
    return found


def test_the_capability_statement_lists_the_routed_operations(bridge: Bridge) -> None:
    statement = fhir_client(bridge, "doctor").get("/fhir/metadata").json()
    listed = {
        (resource["type"], operation["name"])
        for rest in statement["rest"]
        for resource in rest["resource"]
        for operation in resource.get("operation", [])
    }
    operations = routed(bridge)
    assert len(operations) >= 20 and ("Observation", "mark-reviewed") in operations  # the routes were read
    assert operations <= listed, operations - listed
    assert {("Patient", "advise"), ("Patient", "refer"), ("DiagnosticReport", "mark-reviewed")} <= listed
