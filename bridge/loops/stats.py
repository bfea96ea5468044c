"""Summaries of durations: the median and the 90th percentile, and shares that may have no denominator."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DurationSummary:
    count: int
    median_seconds: float
    p90_seconds: float


def summarise(seconds: Iterable[float]) -> DurationSummary | None:
    """None for no values. The 90th percentile interpolates between values as numpy's default does
    (statistics' "inclusive" method), so a handful of clocks gives a value within what was measured."""
    values = sorted(seconds)
    if not values:
        return None
    # statistics.quantiles wants two points at least; one value is its own every percentile.
    p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    return DurationSummary(len(values), float(statistics.median(values)), float(p90))


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when nothing was counted (a share of nothing is not 0 %)."""
    return part / whole if whole else None
