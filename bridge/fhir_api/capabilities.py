"""What the API supports per resource type, for the CapabilityStatement (one table, used by the router's rules)."""

from __future__ import annotations

from fhir_adapter.capability import TypeSupport
from fhir_adapter.validation import SUPPORTED_TYPES

from bridge.fhir_api.access import DIRECTORY_TYPES, READ_ONLY_TYPES
from bridge.fhir_api.writes import UNDELETABLE_TYPES

_READS: tuple[str, ...] = ("read", "vread", "history-instance", "search-type")
_DOCUMENTATION = {
    "AuditEvent": "Read and search only; supervisors see events naming their organisations.",
    "Subscription": (
        "Stored and owned by the caller's organisation (meta.tag); notifications are not sent yet, so the server "
        "keeps status=requested."
    ),
    "Provenance": "Visible through its targets; a search must name target=Type/id. Never deleted.",
}


def supported_types() -> list[TypeSupport]:
    supports = []
    for resource_type in sorted(SUPPORTED_TYPES):
        if resource_type in READ_ONLY_TYPES:
            interactions = _READS
        else:
            writes = ("create", "update") + (() if resource_type in UNDELETABLE_TYPES else ("delete",))
            interactions = _READS + writes
        documentation = _DOCUMENTATION.get(resource_type)
        if documentation is None and resource_type in DIRECTORY_TYPES:
            documentation = (
                "Directory data: readable by every participant; written by admins of the owning organisation."
            )
        supports.append(TypeSupport(resource_type, interactions, documentation=documentation))
    return supports
