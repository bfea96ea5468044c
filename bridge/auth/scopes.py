"""SMART on FHIR scopes: ``context/Type.permissions`` (v2: ``cruds``; v1 ``read``/``write``/``*`` accepted)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fhir_adapter.validation import SUPPORTED_TYPES

PERMISSION_ORDER = "cruds"
_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)$")


class ScopeError(ValueError):
    """A scope string that is not a well-formed SMART resource scope."""


@dataclass(frozen=True)
class Scope:
    context: str
    resource_type: str
    permissions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
        match = _SCOPE.match(text)
        if not match:
            raise ScopeError(f"{text!r} is not a SMART scope like system/Observation.rs")
        context, resource_type, raw = match.groups()
        if resource_type != "*" and resource_type not in SUPPORTED_TYPES:
            raise ScopeError(f"{text!r} names an unsupported resource type")
        if raw in _V1_PERMISSIONS:
            permissions = _V1_PERMISSIONS[raw]
        elif raw and all(c in PERMISSION_ORDER for c in raw) and _in_order(raw):
            permissions = raw
        else:
            raise ScopeError(f"{text!r}: permissions must be a subset of 'cruds' in that order")
        return cls(context, resource_type, frozenset(permissions))

    def covers_type(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)

    def allows(self, resource_type: str, permission: str) -> bool:
        return self.covers_type(resource_type) and permission in self.permissions

    def __str__(self) -> str:
        perms = "".join(c for c in PERMISSION_ORDER if c in self.permissions)
        return f"{self.context}/{self.resource_type}.{perms}"


@dataclass(frozen=True)
class ScopeSet:
    scopes: tuple[Scope, ...]

    @classmethod
    def parse(cls, text: str) -> ScopeSet:
        return _parsed(text)

    def allows(self, resource_type: str, permission: str) -> bool:
        return any(scope.allows(resource_type, permission) for scope in self.scopes)

    def contexts(self) -> set[str]:
        return {scope.context for scope in self.scopes}

    def narrowed_to(self, requested: ScopeSet) -> ScopeSet:
        """What of ``requested`` these scopes can grant; a requested scope nothing covers is an error."""
        granted: list[Scope] = []
        for wanted in requested.scopes:
            best: Scope | None = None
            for held in self.scopes:
                if held.context != wanted.context or not held.covers_type(wanted.resource_type):
                    continue
                shared = held.permissions & wanted.permissions
                if shared and (best is None or len(shared) > len(best.permissions)):
                    best = Scope(wanted.context, wanted.resource_type, frozenset(shared))
            if best is None:
                raise ScopeError(f"{wanted} is not available to this client")
            granted.append(best)
        return ScopeSet(tuple(granted))

    def __iter__(self) -> Iterator[Scope]:
        return iter(self.scopes)

    def __str__(self) -> str:
        return " ".join(str(scope) for scope in self.scopes)


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> ScopeSet:
    """Shared by every token with the same scopes: a signalling socket keeps its caller's scopes for
    hours, and thousands of sockets hold a handful of distinct scope strings (it is immutable)."""
    return ScopeSet(tuple(Scope.parse(part) for part in _unique(text.split())))


def _in_order(raw: str) -> bool:
    positions = [PERMISSION_ORDER.index(c) for c in raw]
    return positions == sorted(set(positions))


def _unique(parts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(parts))
