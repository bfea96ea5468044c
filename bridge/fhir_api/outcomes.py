"""Application errors as FHIR OperationOutcomes: the FHIR boundary's one error shape."""

from __future__ import annotations

from fhir_adapter.errors import Issue, OperationOutcomeError

from bridge.errors import AccessDenied, AuthenticationRequired, BridgeError, Conflict, InvalidInput, NotFound
from bridge.i18n import Translator

_ISSUE_CODES: tuple[tuple[type[BridgeError], str], ...] = (
    (AuthenticationRequired, "login"),
    (AccessDenied, "forbidden"),
    (NotFound, "not-found"),
    (Conflict, "conflict"),
    (InvalidInput, "invalid"),
)


def as_outcome_error(error: BridgeError, translator: Translator) -> OperationOutcomeError:
    code = next((code for kind, code in _ISSUE_CODES if isinstance(error, kind)), "processing")
    issues = [Issue("error", code, translator(error.message_key, **error.params))]
    if isinstance(error, InvalidInput):
        issues = [
            Issue("error", "invalid", translator(e.message_key, **e.params), (e.field,)) for e in error.errors
        ] or issues
    return OperationOutcomeError(error.status, issues)
