"""How the loop pages show numbers: durations and shares in words, and the geometry of their SVG charts.

Charts are drawn on the server as inline SVG (no script, no network): bars of the median and 90th
percentile per kind of clock, each scaled to its own deadline (drawn as a line at the middle of the
bar area, so a bar past it is late however long the deadline), and bars of on-time shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bridge.i18n import Translator
from bridge.loops.dashboard import KindStats, OrganisationRow

LABEL_WIDTH = 200
BAR_AREA = 360
VALUE_WIDTH = 200
CHART_WIDTH = LABEL_WIDTH + BAR_AREA + VALUE_WIDTH
KIND_ROW_HEIGHT = 40
SHARE_ROW_HEIGHT = 26
DEADLINE_AT = BAR_AREA / 2  # the deadline's x within the bar area; bars stop at twice the deadline


def duration_text(t: Translator, seconds: float | timedelta | None) -> str:
    if seconds is None:
        return "–"
    total = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
    minutes = round(total / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return t("loops.duration.dh", d=days, h=hours)
    if hours:
        return t("loops.duration.hm", h=hours, m=mins)
    return t("loops.duration.m", m=mins)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


@dataclass(frozen=True)
class KindBar:
    kind: str
    label: str
    y: int
    median_width: float
    p90_width: float
    median_text: str
    p90_text: str
    deadline_text: str
    deadline_x: float | None  # None: no configured deadline (follow-up tasks keep their own due dates)
    median_seconds: float
    p90_seconds: float


@dataclass(frozen=True)
class ShareBar:
    label: str
    y: int
    width: float
    text: str
    share: float | None


def kind_bars(t: Translator, totals: Sequence[KindStats]) -> list[KindBar]:
    """One row per kind with clocks met."""
    bars: list[KindBar] = []
    for k in totals:
        if k.median_seconds is None or k.p90_seconds is None:
            continue
        if k.deadline_minutes:
            full = 2 * k.deadline_minutes * 60.0
            deadline_x: float | None = LABEL_WIDTH + DEADLINE_AT
            deadline_text = duration_text(t, k.deadline_minutes * 60.0)
        else:
            full = max(k.p90_seconds, 1.0)
            deadline_x, deadline_text = None, t("loops.dashboard.no_deadline")
        bars.append(
            KindBar(
                kind=k.kind,
                label=t(f"loops.clock.{k.kind}"),
                y=len(bars) * KIND_ROW_HEIGHT,
                median_width=round(BAR_AREA * min(k.median_seconds / full, 1.0), 1),
                p90_width=round(BAR_AREA * min(k.p90_seconds / full, 1.0), 1),
                median_text=duration_text(t, k.median_seconds),
                p90_text=duration_text(t, k.p90_seconds),
                deadline_text=deadline_text,
                deadline_x=deadline_x,
                median_seconds=k.median_seconds,
                p90_seconds=k.p90_seconds,
            )
        )
    return bars


def share_bars(rows: Sequence[OrganisationRow]) -> list[ShareBar]:
    return [
        ShareBar(
            label=r.name,
            y=i * SHARE_ROW_HEIGHT,
            width=round(BAR_AREA * (r.share_loops_on_time or 0.0), 1),
            text=percent(r.share_loops_on_time),
            share=r.share_loops_on_time,
        )
        for i, r in enumerate(rows)
    ]
