"""Turn a resource into the search-index values of its search parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir_adapter.bindings import walk
from fhir_adapter.search_params import ParamType, SearchParam, params_for

MAX_VALUE_LENGTH = 255
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True)
class IndexValue:
    param: str
    system: str | None = None
    value: str | None = None
    date_start: datetime | None = None
    date_end: datetime | None = None


def index_values(resource: dict[str, Any]) -> list[IndexValue]:
    values: list[IndexValue] = []
    for param in params_for(resource["resourceType"]).values():
        for path in param.paths:
            for element in walk(resource, path):
                values.extend(_values_of(param, element))
    return list(dict.fromkeys(values))


def _values_of(param: SearchParam, element: Any) -> Iterator[IndexValue]:
    if param.type is ParamType.TOKEN:
        for system, code in tokens_of(element):
            yield IndexValue(param.name, system=system, value=_clip(code))
    elif param.type is ParamType.REFERENCE:
        target = reference_key(element.get("reference")) if isinstance(element, dict) else None
        if target:
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
            end[1] if end else datetime.max.replace(tzinfo=UTC),
        )
    if isinstance(element, str):
        return parse_fhir_date(element)
    return None


def parse_fhir_date(text: str) -> tuple[datetime, datetime] | None:
    """The instant range a FHIR date/dateTime/instant covers at its precision (UTC when no zone)."""
    one_tick = timedelta(microseconds=1)
    try:
        if len(text) == 4:
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start, datetime(int(text) + 1, 1, 1, tzinfo=UTC) - one_tick
        if len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            start = datetime(year, month, 1, tzinfo=UTC)
            following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return start, following - one_tick
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1) - one_tick
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment, moment


def _clip(value: str) -> str:
    return value[:MAX_VALUE_LENGTH]
