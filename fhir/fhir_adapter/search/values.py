"""Search values by parameter type: comma lists, dates with prefixes, tokens and references.

Every reader raises a 400 OperationOutcomeError that names the parameter and the bad value, so the
query parser can validate once and the SQL layer can read the same values again without checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.search_params import SearchParam
from fhir_adapter.store.indexing import parse_fhir_date, reference_key

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE = re.compile(r"[A-Z][A-Za-z]+")
# An unencoded "+" in a query string arrives as a space: "2024-01-01T10:00:00 08:00".
_SPACE_FOR_PLUS = re.compile(r" (\d{2}:\d{2})$")


def bad_value(name: str, value: str, why: str, code: str = "invalid") -> OperationOutcomeError:
    return OperationOutcomeError.single(400, code, f"search parameter {name}={value!r}: {why}", name)


def split_values(raw: str) -> tuple[str, ...]:
    """Split on commas not escaped by a backslash; ``\\,`` becomes ``,`` and ``\\\\`` becomes ``\\``.

    Other escapes (``\\|``, ``\\$``) are kept as written. Empty values are dropped: FHIR ignores them.
    """
    values: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(following if following in {",", "\\"} else char + following)
        elif char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return tuple(value for value in values if value)


def join_values(values: tuple[str, ...] | list[str]) -> str:
    """The inverse of ``split_values``."""
    return ",".join(value.replace("\\", "\\\\").replace(",", "\\,") for value in values)


@dataclass(frozen=True)
class DateValue:
    prefix: str  # one of DATE_PREFIXES
    start: datetime  # UTC, first instant of the value's precision
    end: datetime  # UTC, last instant of the value's precision


def date_value(name: str, raw: str) -> DateValue:
    prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
    if prefix == "ap":
        raise bad_value(name, raw, "the prefix 'ap' (approximately) is not supported", "not-supported")
    if prefix not in DATE_PREFIXES:
        raise bad_value(name, raw, f"unknown date prefix {prefix!r}; use one of {' '.join(DATE_PREFIXES)}")
    bounds = parse_fhir_date(_SPACE_FOR_PLUS.sub(r"+\1", text))
    if bounds is None:
        raise bad_value(name, raw, "not a FHIR date: YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.f]][Z|+hh:mm]")
    return DateValue(prefix, bounds[0], bounds[1])


@dataclass(frozen=True)
class TokenValue:
    system: str | None  # None: any system; "": no system at all
    code: str | None  # None: any code of the system


def token_value(name: str, raw: str) -> TokenValue:
    if "|" not in raw:
        return TokenValue(None, raw)
    system, code = raw.split("|", 1)
    if not system and not code:
        raise bad_value(name, raw, "a token needs a code, system|code, |code or system|")
    return TokenValue(system, code or None)


def reference_value(param: SearchParam, name: str, raw: str, type_modifier: str | None = None) -> str:
    """The ``Type/id`` a reference search value means (as the index stores it).

    Accepts ``Type/id``, an absolute URL ending in ``Type/id``, or a bare id when the type is known
    from a ``:Type`` modifier or from the parameter having a single target type.
    """
    if _ID.fullmatch(raw):
        resource_type = type_modifier or (param.targets[0] if len(param.targets) == 1 else None)
        if resource_type is None:
            raise bad_value(name, raw, f"{param.name} can point at several types; search with Type/{raw}")
        return f"{resource_type}/{raw}"
    key = reference_key(raw)
    if key is None or key.startswith("urn:"):
        raise bad_value(name, raw, "not a reference (Type/id, a URL ending in Type/id, or an id)")
    resource_type = key.split("/", 1)[0]
    if type_modifier and resource_type != type_modifier:
        raise bad_value(name, raw, f"the value names a {resource_type}, the modifier a {type_modifier}")
    check_target(param, name, resource_type, raw)
    return key


def check_target(param: SearchParam, name: str, resource_type: str, raw: str) -> None:
    """Refuse a target type the reference parameter cannot point at (``raw`` is the value as given)."""
    if not _TYPE.fullmatch(resource_type) or (param.targets and resource_type not in param.targets):
        allowed = ", ".join(param.targets) or "any resource type"
        raise bad_value(name, raw, f"{param.name} points at {allowed}, not {resource_type}")


def missing_value(name: str, raw: str) -> bool:
    if raw not in {"true", "false"}:
        raise bad_value(name, raw, ":missing takes true or false")
    return raw == "true"
