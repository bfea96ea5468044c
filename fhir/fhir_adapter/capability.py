"""The CapabilityStatement, generated from the same tables that drive search and the router, so what
it says is what the server does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_adapter.bundles import instant
from fhir_adapter.search_params import ParamType, params_for

_SPEC = "http://hl7.org/fhir/SearchParameter"
COMMON_SEARCH_PARAMS = (
    ("_id", "token", "Logical id of the resource"),
    ("_lastUpdated", "date", "When the resource version last changed (eq ne gt lt ge le sa eb)"),
    ("_tag", "token", "Tags in meta.tag"),
)


@dataclass(frozen=True)
class TypeSupport:
    resource_type: str
    interactions: tuple[str, ...]  # read vread update delete history-instance create search-type
    conditional_create: bool = True
    documentation: str | None = None
    operations: tuple[tuple[str, str], ...] = ()  # (name without $, OperationDefinition canonical)
    supported_profiles: tuple[str, ...] = ()
    extensions: tuple[dict[str, Any], ...] = ()  # e.g. the topics a Subscription may name


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [
        {"name": name, "definition": f"{_SPEC}/Resource-{name[1:]}", "type": kind, "documentation": doc}
        for name, kind, doc in COMMON_SEARCH_PARAMS
    ]
    for param in params_for(resource_type).values():
        if param.name.startswith("_"):
            continue
        params.append(
            {
                "name": param.name,
                "type": param.type.value,
                "documentation": f"{resource_type}.{' | '.join(param.paths)}",
            }
        )
    return params


def _reference_targets(resource_type: str, param_name: str) -> tuple[str, ...]:
    param = params_for(resource_type)[param_name]
    return tuple(getattr(param, "targets", ()) or ())


def includes_of(resource_type: str) -> list[str]:
    return [f"{resource_type}:{p.name}" for p in params_for(resource_type).values() if p.type is ParamType.REFERENCE]


def revincludes_of(resource_type: str, all_types: Sequence[str]) -> list[str]:
    found = []
    for source in all_types:
        for param in params_for(source).values():
            if param.type is not ParamType.REFERENCE:
                continue
            targets = _reference_targets(source, param.name)
            if not targets or resource_type in targets:
                found.append(f"{source}:{param.name}")
    return found


def capability_statement(
    *,
    base_url: str,
    software: str,
    version: str,
    types: Sequence[TypeSupport],
    token_url: str,
    max_count: int,
    max_bundle_entries: int,
    now: datetime,
) -> dict[str, Any]:
    names = [t.resource_type for t in types]
    resources = []
    for support in types:
        entry: dict[str, Any] = {
            "type": support.resource_type,
            "interaction": [{"code": code} for code in support.interactions],
            "versioning": "versioned-update",
            "readHistory": "vread" in support.interactions,
            "updateCreate": False,
            "conditionalCreate": support.conditional_create and "create" in support.interactions,
            "conditionalRead": "not-supported",
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "referencePolicy": ["literal", "local", "enforced"],
        }
        if support.documentation:
            entry["documentation"] = support.documentation
        if support.extensions:
            entry["extension"] = list(support.extensions)
        if support.supported_profiles:
            entry["supportedProfile"] = list(support.supported_profiles)
        if support.operations:
            entry["operation"] = [{"name": name, "definition": url} for name, url in support.operations]
        if "search-type" in support.interactions:
            entry["searchInclude"] = includes_of(support.resource_type)
            entry["searchRevInclude"] = revincludes_of(support.resource_type, names)
            entry["searchParam"] = _search_params(support.resource_type)
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(now),
        "publisher": software,
        "kind": "instance",
        "software": {"name": software, "version": version},
        "implementation": {"description": f"{software} FHIR R4 API", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    f"JSON only (XML gets 406 or 415). Searches page with _count (at most {max_count}) and "
                    f"next/previous "
                    f"links; _sort, _include, _revinclude and _summary=count are supported; unknown parameters are "
                    f"reported in an OperationOutcome entry, or refused under Prefer: handling=strict. Batch and "
                    f"transaction Bundles hold at most {max_bundle_entries} entries. References must resolve to "
                    f"resources the caller may see. Every access to patient data is recorded as an AuditEvent."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                    "description": "OAuth 2.0 bearer tokens (client_credentials or password grant) with SMART scopes.",
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
