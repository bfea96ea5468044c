"""A safety finding, translated only when shown, so one finding reads in Chinese or English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from bridge.i18n import Translator

Rule = Literal["allergy", "duplicate", "interaction", "older-adults", "renal", "qt", "max-dose", "online-rules"]
Severity = Literal["high", "moderate", "low"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "moderate": 1, "low": 2}


@dataclass(frozen=True)
class Text:
    """Text that is data in two languages (a drug's name, an interaction's effect), chosen at render time."""

    zh: str
    en: str

    def __call__(self, locale: str) -> str:
        return (self.zh if locale.startswith("zh") else self.en) or self.zh or self.en


Param = str | int | float | Text


@dataclass(frozen=True)
class SafetyFinding:
    key: str  # "<rule>:<detail>", stable across runs so an override given for it applies again at $sign
    rule: Rule
    severity: Severity
    message_key: str
    params: Mapping[str, Param]
    source: str  # where the rule comes from: a guideline, a label, a regulation
    overridable: bool = True  # False: the law forbids it online; no reason makes it signable
    also: tuple[SafetyFinding, ...] = ()  # less severe findings under the same key, told after this one
    blocking: bool = field(init=False)  # needs an override with a reason (or cannot be signed at all)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocking", self.severity == "high" or not self.overridable)

    def message(self, translator: Translator) -> str:
        params = {k: v(translator.locale) if isinstance(v, Text) else v for k, v in self.params.items()}
        text = translator(self.message_key, **params)
        return " ".join([text, *(other.message(translator) for other in self.also)])


def _rank(finding: SafetyFinding) -> tuple[bool, int]:
    return finding.overridable, SEVERITY_ORDER[finding.severity]


def ordered(findings: list[SafetyFinding]) -> list[SafetyFinding]:
    """One finding per key, most severe and non-overridable first.

    Findings sharing a key (two allergy records against one drug) become one: the worst of them (not
    overridable before overridable, then the most severe; the first among equals) carries the key, and the
    others' explanations follow its own, so a high finding is never hidden behind a milder one.
    """
    by_key: dict[str, list[SafetyFinding]] = {}
    for finding in findings:
        by_key.setdefault(finding.key, []).append(finding)
    merged = []
    for group in by_key.values():
        flat = [f for finding in group for f in (replace(finding, also=()), *finding.also)]
        worst = min(flat, key=_rank)  # min keeps the first of equals
        rest = tuple(f for f in flat if f is not worst and not _same(f, worst))
        merged.append(replace(worst, also=_distinct(rest)))
    return sorted(merged, key=_rank)


def _same(a: SafetyFinding, b: SafetyFinding) -> bool:
    return (a.message_key, dict(a.params)) == (b.message_key, dict(b.params))


def _distinct(findings: tuple[SafetyFinding, ...]) -> tuple[SafetyFinding, ...]:
    kept: list[SafetyFinding] = []
    for finding in sorted(findings, key=_rank):
        if not any(_same(finding, k) for k in kept):
            kept.append(finding)
    return tuple(kept)
