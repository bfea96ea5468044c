"""Errors the services raise; each boundary (JSON API, pages, FHIR) maps them to its own shape.

Each carries a message key for the translation catalogues, never free text, so the same error
reads correctly in Chinese and English and says nothing an outsider should not learn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class BridgeError(Exception):
    message_key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    status: int = 400

    def __str__(self) -> str:
        return self.message_key


class AuthenticationRequired(BridgeError):
    def __init__(self, message_key: str = "error.auth_required", **params: Any) -> None:
        super().__init__(message_key, params, 401)


class AccessDenied(BridgeError):
    def __init__(self, message_key: str = "error.forbidden", **params: Any) -> None:
        super().__init__(message_key, params, 403)


class NotFound(BridgeError):
    """Also used where a record exists but the caller may not know that (existence is sensitive)."""

    def __init__(self, message_key: str = "error.not_found", **params: Any) -> None:
        super().__init__(message_key, params, 404)


class Conflict(BridgeError):
    def __init__(self, message_key: str, **params: Any) -> None:
        super().__init__(message_key, params, 409)


@dataclass
class FieldError:
    field: str
    message_key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


class InvalidInput(BridgeError):
    """One or more form or API fields are wrong; each error names its field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("error.invalid_input", {}, 422)
        self.errors = errors
