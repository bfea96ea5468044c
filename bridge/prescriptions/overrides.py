"""Overrides a doctor gives at `$sign`: which finding, and why it is right for this resident anyway.

They become part of the signed prescription (an extension per override), so the pharmacist reviewing
it sees the reasons and the signature covers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import FieldError, InvalidInput
from bridge.prescriptions.codes import OVERRIDE_EXTENSION

MIN_REASON_CHARS = 4


@dataclass(frozen=True)
class Override:
    finding: str
    reason: str


def overrides_from_parameters(parameters: dict[str, Any] | None) -> list[Override]:
    """`override` parameters, each with parts `finding` (the finding's key) and `reason`."""
    if not parameters:
        return []
    if parameters.get("resourceType") != "Parameters":
        raise InvalidInput([FieldError("Parameters", "prescription.error.parameters_expected")])
    found: list[Override] = []
    errors: list[FieldError] = []
    for index, parameter in enumerate(parameters.get("parameter", [])):
        if parameter.get("name") != "override":
            continue
        parts = {p.get("name"): _text(p) for p in parameter.get("part", [])}
        finding, reason = (parts.get("finding") or "").strip(), (parts.get("reason") or "").strip()
        where = f"Parameters.parameter[{index}]"
        if not finding:
            errors.append(FieldError(f"{where}.part(finding)", "prescription.error.override_finding"))
        elif len(reason) < MIN_REASON_CHARS:
            errors.append(
                FieldError(f"{where}.part(reason)", "prescription.error.override_reason", {"finding": finding})
            )
        else:
            found.append(Override(finding, reason))
    if errors:
        raise InvalidInput(errors)
    return found


def override_extensions(overrides: Iterable[Override], severities: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "url": OVERRIDE_EXTENSION,
            "extension": [
                {"url": "finding", "valueCode": o.finding},
                {"url": "severity", "valueCode": severities.get(o.finding, "unknown")},
                {"url": "reason", "valueString": o.reason},
            ],
        }
        for o in overrides
    ]


def overrides_in(request: dict[str, Any]) -> list[Override]:
    """The overrides recorded in a signed prescription."""
    found = []
    for extension in request.get("extension", []):
        if extension.get("url") != OVERRIDE_EXTENSION:
            continue
        parts = {e.get("url"): e.get("valueCode") or e.get("valueString") for e in extension.get("extension", [])}
        found.append(Override(str(parts.get("finding", "")), str(parts.get("reason", ""))))
    return found


def _text(part: dict[str, Any]) -> str | None:
    for key in ("valueString", "valueCode", "valueMarkdown"):
        if isinstance(part.get(key), str):
            return str(part[key])
    return None
