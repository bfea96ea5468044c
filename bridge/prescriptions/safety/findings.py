"""A safety finding, translated only when shown, so one finding reads in Chinese or English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    blocking: bool = field(init=False)  # needs an override with a reason (or cannot be signed at all)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocking", self.severity == "high" or not self.overridable)

    def message(self, translator: Translator) -> str:
        params = {k: v(translator.locale) if isinstance(v, Text) else v for k, v in self.params.items()}
        return translator(self.message_key, **params)


def ordered(findings: list[SafetyFinding]) -> list[SafetyFinding]:
    """One finding per key (the first wins), most severe and non-overridable first."""
    unique = list({f.key: f for f in reversed(findings)}.values())
    unique.reverse()
    return sorted(unique, key=lambda f: (f.overridable, SEVERITY_ORDER[f.severity]))
