"""A `$sign` refused because of safety findings: the answer is the findings themselves, so the doctor
sees exactly what needs an override (and which findings no override can pass)."""

from __future__ import annotations

from typing import Any

from fhir_adapter.errors import Issue, OperationOutcomeError


class FindingsRefusal(OperationOutcomeError):
    def __init__(self, outcome: dict[str, Any], reasons: list[str]) -> None:
        issues = [Issue("error", "business-rule", reason) for reason in reasons]
        super().__init__(422, issues)
        self._outcome = outcome
        self.reasons = reasons

    def outcome(self) -> dict[str, Any]:
        # The refusal's reasons first, then every finding as $check reports it.
        lead = [issue.as_json() for issue in self.issues]
        return {**self._outcome, "issue": lead + list(self._outcome.get("issue", []))}
