"""Which resident an inbound result is about: its identifiers against Patient.identifier, among the
residents of the homes the sender delivers for (its own home, or the homes a laboratory serves).

A value alone decides when exactly one of those residents carries it (a laboratory's assigning
authority is often its own namespace, naming no home). When several do (two homes numbering residents
alike), the assigning authority must say which: it is compared with the end of the identifier's system
(the bridge's resident numbers end in the home's code, e.g. `.../H1`), the assigner and the home's
organisation id. Anything else is not a match: a result filed under the wrong resident is worse than
one waiting in the quarantine.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.directory.residents import home_of
from bridge.ingest.quarantine import Rejection
from bridge.services import Services


@dataclass(frozen=True)
class GivenIdentifier:
    value: str
    authority: str | None = None


@dataclass(frozen=True)
class Matched:
    patient: dict[str, Any]

    @property
    def reference(self) -> str:
        return f"Patient/{self.patient['id']}"


def match_resident(
    services: Services, identifiers: Sequence[GivenIdentifier], homes: Collection[str]
) -> Matched | Rejection:
    if not identifiers:
        return Rejection("no_patient_identifier", "the message names no patient identifier (PID-3)")
    if not homes:
        return Rejection("sender_has_no_homes", "the sender delivers results for no nursing home")
    tried: list[str] = []
    for given in identifiers:
        value = given.value.strip()
        if not value:
            continue
        tried.append(f"{value}^{given.authority}" if given.authority else value)
        candidates = [
            p
            for p in services.repository.find("Patient", {"identifier": value})
            if home_of(p) in homes and _carries(p, value)
        ]
        if given.authority and len(candidates) > 1:
            candidates = [p for p in candidates if _issued_by(p, value, given.authority)]
        if len(candidates) == 1:
            return Matched(candidates[0])
        if len(candidates) > 1:
            return Rejection(
                "ambiguous_patient",
                f"identifier {value} belongs to {len(candidates)} residents; the assigning authority must say which",
            )
    return Rejection("unknown_patient", f"no resident of the sender's homes has the identifier {', '.join(tried)}")


def _identifiers_with(patient: dict[str, Any], value: str) -> list[dict[str, Any]]:
    return [i for i in patient.get("identifier", []) if isinstance(i, dict) and i.get("value") == value]


def _carries(patient: dict[str, Any], value: str) -> bool:
    return bool(_identifiers_with(patient, value))


def _issued_by(patient: dict[str, Any], value: str, authority: str) -> bool:
    wanted = authority.strip().casefold()
    for identifier in _identifiers_with(patient, value):
        system = str(identifier.get("system", "")).casefold()
        assigner = str(identifier.get("assigner", {}).get("display", "")).casefold()
        if system.rsplit("/", 1)[-1] == wanted or assigner == wanted or system == wanted:
            return True
    return (home_of(patient) or "").casefold() == wanted
