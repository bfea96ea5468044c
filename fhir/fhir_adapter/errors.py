"""One error type for everything FHIR, carrying the HTTP status and an OperationOutcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    severity: str  # fatal | error | warning | information
    code: str  # IssueType code: invalid, not-found, conflict, forbidden, ...
    diagnostics: str
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class OperationOutcomeError(Exception):
    status: int
    issues: list[Issue] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(issue.diagnostics for issue in self.issues) or f"HTTP {self.status}"

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)

    @classmethod
    def single(cls, status: int, code: str, diagnostics: str, *expression: str) -> OperationOutcomeError:
        return cls(status, [Issue("error", code, diagnostics, tuple(expression))])


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.as_json() for issue in issues]}


def invalid(diagnostics: str, *expression: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(400, "invalid", diagnostics, *expression)


def not_found(resource_type: str, resource_id: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(404, "not-found", f"{resource_type}/{resource_id} is not known")


def gone(resource_type: str, resource_id: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(410, "deleted", f"{resource_type}/{resource_id} has been deleted")


def version_conflict(resource_type: str, resource_id: str, expected: int, actual: int) -> OperationOutcomeError:
    return OperationOutcomeError.single(
        412,
        "conflict",
        f"{resource_type}/{resource_id} is at version {actual}, not {expected}; read it again before updating",
    )
