"""Numbers and instants between FHIR JSON and the prescription pages, written one way everywhere."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bridge.clock import as_utc


def json_number(value: Decimal) -> int | float:
    """A checked form number for a resource: JSON has no Decimal, and 28 should not be stored as 28.0."""
    return int(value) if value == value.to_integral_value() else float(value)


def display_number(value: Any) -> str:
    """A quantity as people write it: 28, not 28.0."""
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def instant(value: Any) -> datetime | None:
    """A FHIR dateTime or instant in UTC; None when absent or not a time (a list still shows the rest)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
