"""FHIR search parameters parsed into an immutable, validated query.

Repeated parameters AND, comma-separated values OR. A value the store cannot answer correctly is
refused with 400 rather than ignored, because a silently broadened search shows the wrong records;
an unknown parameter is ignored (and reported) unless the caller asked for strict handling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search.values import (
    bad_value,
    check_target,
    date_value,
    join_values,
    missing_value,
    reference_value,
    split_values,
    token_value,
)
from fhir_adapter.search_params import SEARCH_PARAMS, ParamType, SearchParam, params_for

# Result formatting the server does anyway (JSON, pretty or not): accepted without a warning.
_SILENT = frozenset({"_format", "_pretty"})
_MODIFIERS: dict[ParamType, frozenset[str]] = {
    ParamType.TOKEN: frozenset({"missing", "not"}),
    ParamType.REFERENCE: frozenset({"missing", "not"}),
    ParamType.STRING: frozenset({"missing", "exact", "contains"}),
    ParamType.DATE: frozenset({"missing"}),
}
_COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})  # columns of the stored resource, not index rows


@dataclass(frozen=True)
class Clause:
    name: str
    modifier: str | None
    values: tuple[str, ...]  # dates keep their prefix; references are normalised to Type/id

    def as_param(self) -> tuple[str, str]:
        key = f"{self.name}:{self.modifier}" if self.modifier else self.name
        return key, join_values(self.values)


@dataclass(frozen=True)
class SortKey:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class IncludeSpec:
    source_type: str
    param: str
    target_type: str | None = None

    def as_value(self) -> str:
        return ":".join(part for part in (self.source_type, self.param, self.target_type) if part)


@dataclass(frozen=True)
class SearchQuery:
    resource_type: str
    clauses: tuple[Clause, ...] = ()
    count: int = 20
    offset: int = 0
    sort: tuple[SortKey, ...] = ()  # as asked; empty means the default order (newest first)
    includes: tuple[IncludeSpec, ...] = ()
    revincludes: tuple[IncludeSpec, ...] = ()
    summary_count: bool = False
    unknown: tuple[str, ...] = ()

    def link_params(self, offset: int) -> list[tuple[str, str]]:
        """The query as applied (without ignored parameters), at ``offset``: for self/next/previous links."""
        params = [clause.as_param() for clause in self.clauses]
        if self.sort:
            params.append(("_sort", ",".join(f"{'-' if key.descending else ''}{key.name}" for key in self.sort)))
        params += [("_include", spec.as_value()) for spec in self.includes]
        params += [("_revinclude", spec.as_value()) for spec in self.revincludes]
        if self.summary_count:
            params.append(("_summary", "count"))
        return [*params, ("_count", str(self.count)), ("_offset", str(offset))]


def parse_search(
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    strict: bool = False,
    default_count: int = 20,
    max_count: int = 200,
) -> SearchQuery:
    parser = _Parser(resource_type, default_count, max_count)
    for key, raw in params:
        parser.add(key, raw)
    query = parser.query()
    if strict and query.unknown:
        names = ", ".join(query.unknown)
        raise OperationOutcomeError.single(
            400, "not-supported", f"unknown search parameter(s) for {resource_type}: {names}", *query.unknown
        )
    return query


class _Parser:
    def __init__(self, resource_type: str, default_count: int, max_count: int) -> None:
        self.resource_type = resource_type
        self.params = params_for(resource_type)
        self.max_count = max_count
        self.count, self.offset = min(default_count, max_count), 0
        self.clauses: list[Clause] = []
        self.sort: list[SortKey] = []
        self.includes: list[IncludeSpec] = []
        self.revincludes: list[IncludeSpec] = []
        self.summary_count = False
        self.unknown: list[str] = []

    def query(self) -> SearchQuery:
        return SearchQuery(
            resource_type=self.resource_type,
            clauses=tuple(self.clauses),
            count=self.count,
            offset=self.offset,
            sort=tuple(self.sort),
            includes=tuple(self.includes),
            revincludes=tuple(self.revincludes),
            summary_count=self.summary_count,
            unknown=tuple(dict.fromkeys(self.unknown)),
        )

    def add(self, key: str, raw: str) -> None:
        name, _, modifier = key.partition(":")
        if name in _SILENT:
            return
        control = {
            "_count": self._count,
            "_offset": self._offset,
            "_sort": self._sort,
            "_include": self._include,
            "_revinclude": self._revinclude,
            "_summary": self._summary,
        }.get(name)
        if control is not None:
            if modifier:
                raise bad_value(key, raw, f"{name} takes no modifier (:{modifier} is not supported)", "not-supported")
            if raw:
                control(key, raw)
            return
        # Chained (subject.name) and reverse-chained (_has) searches are not supported: unknown.
        if "." in name or name not in self.params.keys() | _COLUMN_PARAMS:
            self.unknown.append(key)
            return
        values = split_values(raw)
        if values:
            self.clauses.append(self._clause(key, name, modifier or None, values))

    def _clause(self, key: str, name: str, modifier: str | None, values: tuple[str, ...]) -> Clause:
        if name in _COLUMN_PARAMS:
            if modifier:
                raise bad_value(key, ",".join(values), f"{name} takes no modifier", "not-supported")
            if name == "_lastUpdated":
                for value in values:
                    date_value(key, value)
            return Clause(name, None, values)
        param = self.params[name]
        if modifier == "missing":
            for value in values:
                missing_value(key, value)
            return Clause(name, modifier, values)
        if param.type is ParamType.REFERENCE and modifier and modifier[0].isupper():
            # A :Type modifier only says what a bare id points at; the normalised values say it too.
            check_target(param, key, modifier, ",".join(values))
            return Clause(name, None, tuple(reference_value(param, key, v, modifier) for v in values))
        if modifier and modifier not in _MODIFIERS[param.type]:
            raise bad_value(key, ",".join(values), f"the modifier :{modifier} is not supported", "not-supported")
        return Clause(name, modifier, tuple(_checked(param, key, value) for value in values))

    def _count(self, key: str, raw: str) -> None:
        self.count = min(_whole_number(key, raw), self.max_count)

    def _offset(self, key: str, raw: str) -> None:
        self.offset = _whole_number(key, raw)

    def _sort(self, key: str, raw: str) -> None:
        for item in split_values(raw):
            name = item.removeprefix("-")
            if name not in self.params.keys() | _COLUMN_PARAMS:
                raise bad_value(key, raw, f"{self.resource_type} cannot be sorted by {name!r}")
            self.sort.append(SortKey(name, item.startswith("-")))

    def _include(self, key: str, raw: str) -> None:
        spec = _include_spec(key, raw)
        if spec.source_type != self.resource_type:
            raise bad_value(key, raw, f"_include must start with the searched type {self.resource_type}")
        self.includes.append(spec)

    def _revinclude(self, key: str, raw: str) -> None:
        spec = _include_spec(key, raw)
        param = params_for(spec.source_type)[spec.param]
        if spec.target_type not in (None, self.resource_type) or (
            param.targets and self.resource_type not in param.targets
        ):
            raise bad_value(key, raw, f"{spec.source_type}.{spec.param} cannot point at a {self.resource_type}")
        self.revincludes.append(spec)

    def _summary(self, key: str, raw: str) -> None:
        if raw not in {"count", "false"}:
            raise bad_value(key, raw, "only _summary=count and _summary=false are supported", "not-supported")
        self.summary_count = raw == "count"


def _checked(param: SearchParam, key: str, value: str) -> str:
    """The value as the store reads it, refusing what it cannot read."""
    if param.type is ParamType.DATE:
        date_value(key, value)
    elif param.type is ParamType.TOKEN:
        token_value(key, value)
    elif param.type is ParamType.REFERENCE:
        return reference_value(param, key, value)
    return value


def _whole_number(key: str, raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise bad_value(key, raw, "must be a whole number, 0 or more")
    return int(raw)


def _include_spec(key: str, raw: str) -> IncludeSpec:
    parts = raw.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise bad_value(key, raw, "use SourceType:parameter or SourceType:parameter:TargetType")
    source_type, name = parts[0], parts[1]
    target_type = parts[2] if len(parts) == 3 else None
    param = params_for(source_type).get(name) if source_type in SEARCH_PARAMS else None
    if param is None or param.type is not ParamType.REFERENCE:
        raise bad_value(key, raw, f"{name!r} is not a reference parameter of {source_type}")
    if target_type is not None:
        check_target(param, key, target_type, raw)
    return IncludeSpec(source_type, name, target_type)
