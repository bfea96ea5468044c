"""The curated tables the rules read (bridge/prescriptions/data), loaded once per process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bridge.prescriptions.safety.findings import Text


def _load(name: str) -> Any:
    return json.loads(resources.files("bridge.prescriptions").joinpath(f"data/{name}").read_text(encoding="utf-8"))


def matches(atc: str | None, prefixes: tuple[str, ...]) -> bool:
    return atc is not None and any(atc.startswith(prefix) for prefix in prefixes)


@dataclass(frozen=True)
class Allergen:
    snomed: frozenset[str]
    terms: tuple[str, ...]
    classes: frozenset[str]
    ingredients: frozenset[str]
    cross_classes: frozenset[str]


@dataclass(frozen=True)
class Interaction:
    a: tuple[str, ...]
    b: tuple[str, ...]
    severity: str
    effect: Text
    advice: Text
    source: str


@dataclass(frozen=True)
class OlderAdultsEntry:
    id: str
    atc: tuple[str, ...]
    severity: str
    rationale: Text
    advice: Text
    source: str
    daily_dose_above: float | None


@cache
def allergens() -> tuple[Allergen, ...]:
    return tuple(
        Allergen(
            frozenset(e["snomed"]),
            tuple(t.lower() for t in e["terms"]),
            frozenset(e["classes"]),
            frozenset(e["ingredients"]),
            frozenset(e["cross_classes"]),
        )
        for e in _load("allergens.json")["allergens"]
    )


@cache
def interactions() -> tuple[Interaction, ...]:
    return tuple(
        Interaction(
            tuple(e["a"]),
            tuple(e["b"]),
            e["severity"],
            Text(e["effect_zh"], e["effect_en"]),
            Text(e["advice_zh"], e["advice_en"]),
            e["source"],
        )
        for e in _load("interactions.json")["interactions"]
    )


@cache
def older_adults() -> tuple[int, tuple[OlderAdultsEntry, ...]]:
    data = _load("older_adults.json")
    entries = tuple(
        OlderAdultsEntry(
            e["id"],
            tuple(e["atc"]),
            e["severity"],
            Text(e["rationale_zh"], e["rationale_en"]),
            Text(e["advice_zh"], e["advice_en"]),
            e["source"],
            e.get("condition", {}).get("daily_dose_above"),
        )
        for e in data["entries"]
    )
    return int(data["min_age"]), entries
