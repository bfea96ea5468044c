"""Shortcuts from raw messages to the FHIR the tests look at."""

from __future__ import annotations

from typing import Any

from fhir_adapter.hl7v2 import parse_oru

SUBJECT = "Patient/resident-1"


def resources(raw: bytes, **options: Any) -> list[dict[str, Any]]:
    return [entry.resource for entry in parse_oru(raw, **options).to_fhir(SUBJECT)]


def observations(raw: bytes, **options: Any) -> list[dict[str, Any]]:
    return [r for r in resources(raw, **options) if r["resourceType"] == "Observation"]


def observation(raw: bytes, **options: Any) -> dict[str, Any]:
    found = observations(raw, **options)
    assert len(found) == 1, found
    return found[0]


def reports(raw: bytes, **options: Any) -> list[dict[str, Any]]:
    return [r for r in resources(raw, **options) if r["resourceType"] == "DiagnosticReport"]


def codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept.get("coding", [])]
