"""Turn a resource into the search-index values of its search parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fhir_adapter.bindings import walk
from fhir_adapter.search_params import ParamType, SearchParam, params_for

MAX_VALUE_LENGTH = 255
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True)
class IndexValue:
    param: str
    system: str | None = None
    value: str | None = None
    date_start: datetime | None = None
    date_end: datetime | None = None


# Index rows of every literal reference anywhere in a resource (contained ones included), whether or
# not a search parameter reads it, so a delete can be refused while anything still points at the
# target. Not a search parameter: clients cannot search by it.
ALL_REFERENCES = "_references"


def index_values(resource: dict[str, Any]) -> list[IndexValue]:
    values: list[IndexValue] = []
    for param in params_for(resource["resourceType"]).values():
        values.extend(param_values(resource, param))
    values.extend(IndexValue(ALL_REFERENCES, value=key) for key in _all_references(resource))
    return list(dict.fromkeys(values))


def _all_references(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _all_references(item)
    elif isinstance(node, dict):
        key = reference_key(node.get("reference"))
        if key and not key.startswith("urn:"):
            yield key
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _all_references(value)


def param_values(resource: dict[str, Any], param: SearchParam) -> list[IndexValue]:
    """The index values of one parameter of a resource."""
    return [value for path in param.paths for element in walk(resource, path) for value in _values_of(param, element)]


def _values_of(param: SearchParam, element: Any) -> Iterator[IndexValue]:
    if param.type is ParamType.TOKEN:
        for system, code in tokens_of(element):
            yield IndexValue(param.name, system=system, value=_clip(code))
    elif param.type is ParamType.REFERENCE:
        target = reference_key(element.get("reference")) if isinstance(element, dict) else None
        if target and _may_target(param, target):
            yield IndexValue(param.name, value=target)
    elif param.type is ParamType.STRING:
        for text in strings_of(element):
            yield IndexValue(param.name, value=_clip(normalise_string(text)))
    elif param.type is ParamType.DATE:
        bounds = date_bounds(element)
        if bounds:
            yield IndexValue(param.name, date_start=bounds[0], date_end=bounds[1])


def tokens_of(element: Any) -> Iterator[tuple[str | None, str]]:
    if isinstance(element, bool):
        yield None, "true" if element else "false"
    elif isinstance(element, str):
        yield None, element
    elif isinstance(element, dict):
        if "coding" in element:
            for coding in element["coding"]:
                if coding.get("code"):
                    yield coding.get("system"), coding["code"]
        elif "value" in element and isinstance(element["value"], str):
            yield element.get("system"), element["value"]
        elif "code" in element:
            yield element.get("system"), element["code"]


def reference_key(reference: Any) -> str | None:
    """``Type/id`` for a relative or absolute literal reference; urn:uuid references stay as they are."""
    if not isinstance(reference, str):
        return None
    if reference.startswith("urn:"):
        return reference
    match = _REFERENCE.search(reference)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def strings_of(element: Any) -> Iterator[str]:
    if isinstance(element, str):
        yield element
    elif isinstance(element, dict):
        for key in ("text", "family"):
            if isinstance(element.get(key), str):
                yield element[key]
        for key in ("given", "prefix"):
            yield from element.get(key, [])


def normalise_string(text: str) -> str:
    return " ".join(text.casefold().split())


def date_bounds(element: Any) -> tuple[datetime, datetime] | None:
    if isinstance(element, dict):
        start = date_bounds(element.get("start")) if element.get("start") else None
        end = date_bounds(element.get("end")) if element.get("end") else None
        if not start and not end:
            return None
        return (
            start[0] if start else datetime.min.replace(tzinfo=UTC),
            end[1] if end else _END_OF_TIME,
        )
    if isinstance(element, str):
        return parse_fhir_date(element)
    return None


# FHIR date, dateTime and instant, plus the minute precision and missing zone that search values
# may use. Python's fromisoformat alone would also take "20240101" or "2024-W01".
_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def parse_fhir_date(text: str) -> tuple[datetime, datetime] | None:
    """The UTC instant range a FHIR date/dateTime/instant covers at its precision, or None if invalid.

    A value without a zone is taken as UTC. Every bound is converted to UTC, because SQLite stores
    the wall time of a datetime and drops its zone.
    """
    match = _DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    part = match.groupdict()
    try:
        zone = _zone(part["zone"])
        year, month, day = int(part["year"]), int(part["month"] or 1), int(part["day"] or 1)
        hour, minute, second = int(part["hour"] or 0), int(part["minute"] or 0), int(part["second"] or 0)
        micro = int((part["fraction"] or "0").ljust(6, "0")[:6])
        start = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        following = _following(start, part)
        start = start.astimezone(UTC)
        end = following.astimezone(UTC) - timedelta(microseconds=1) if following else start
    except (ValueError, OverflowError):
        return None
    return start, end


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if minutes > 59 or hours * 60 + minutes > 14 * 60:
        raise ValueError(f"bad zone offset {text}")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _following(start: datetime, part: dict[str, str | None]) -> datetime | None:
    """The first instant after the value's precision (None for a fraction: the value is an instant)."""
    try:
        if part["fraction"]:
            return None
        if part["second"]:
            return start + timedelta(seconds=1)
        if part["minute"]:
            return start + timedelta(minutes=1)
        if part["day"]:
            return start + timedelta(days=1)
        if part["month"]:
            return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start.replace(year=start.year + 1)
    except (ValueError, OverflowError):
        return _END_OF_TIME  # past year 9999


def _may_target(param: SearchParam, key: str) -> bool:
    """A ``Type/id`` key fits the parameter's target types (urn: placeholders are kept as they are)."""
    if not param.targets or key.startswith("urn:"):
        return True
    return key.split("/", 1)[0] in param.targets


def _clip(value: str) -> str:
    return value[:MAX_VALUE_LENGTH]
