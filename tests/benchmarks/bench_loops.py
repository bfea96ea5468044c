#!/usr/bin/env python3
"""The supervisor dashboard over many care loops: the time to build it (every organisation's counts, the
median and 90th percentile of every clock kind, on-time shares, the open overdue items) beside a naive
baseline in the same run: fetching the period's clocks and computing only the medians and 90th
percentiles in Python.

    python3 tests/benchmarks/bench_loops.py [--quick] [--json] [--backends sqlite,postgresql] [--loops N]

Each backend gets a fresh seeded database (a new PostgreSQL schema at 127.0.0.1:5432/test) filled with
N loops of the demo organisations spread over 30 days: ten steps and eight clocks each (result review,
advice acknowledgement, follow-up, pharmacy review, dispense, delivery, receipt, critical
acknowledgement), durations drawn from a log-normal around half the deadline, about 8% late and 2%
still open. Rows go in with one executemany per table, as a year of a city's work would be there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert, select  # noqa: E402

from bridge.db.migrate import upgrade  # noqa: E402
from bridge.demo.seed import seed_demo  # noqa: E402
from bridge.loops.codes import DEFAULT_DEADLINE_MINUTES, RESPONSIBLE, Clock, Party  # noqa: E402
from bridge.loops.dashboard import build_dashboard  # noqa: E402
from bridge.loops.tables import LoopClock, LoopStep  # noqa: E402
from bridge.runtime import Runtime  # noqa: E402
from bridge.services import Services  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.support import fresh_database  # noqa: E402

HOMES = ("demo-home-1", "demo-home-2")
HOSPITAL, PHARMACY = "demo-hospital", "demo-pharmacy"
CLOCKS = (
    Clock.RESULT_REVIEW,
    Clock.CRITICAL_ACK,
    Clock.ADVICE_ACK,
    Clock.FOLLOW_UP,
    Clock.PHARMACY_REVIEW,
    Clock.DISPENSE,
    Clock.DELIVERY,
    Clock.RECEIPT,
)
STEPS = 10


def fill(runtime: Runtime, loops: int, seed: int = 7) -> int:
    """N loops of steps and clocks over the last 30 days; the number of clock rows."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    steps: list[dict[str, Any]] = []
    clocks: list[dict[str, Any]] = []
    for n in range(loops):
        home = HOMES[n % 2]
        patient = f"bench-pt-{n % 400}"
        loop_id = f"DiagnosticReport/bench-{n}"
        opened = now - timedelta(minutes=rng.uniform(60, 30 * 24 * 60))
        for s in range(STEPS):
            steps.append(
                {
                    "loop_id": loop_id,
                    "step": "result-received",
                    "subject": f"{loop_id}-s{s}",
                    "patient_id": patient,
                    "home_id": home,
                    "hospital_id": HOSPITAL,
                    "pharmacy_id": PHARMACY,
                    "actor_reference": "Practitioner/bench",
                    "actor_display": "bench",
                    "at": opened + timedelta(minutes=s),
                    "detail": "{}",
                }
            )
        for clock in CLOCKS:
            deadline = timedelta(
                minutes=10 if clock is Clock.CRITICAL_ACK else DEFAULT_DEADLINE_MINUTES.get(clock, 1440)
            )
            started = opened + timedelta(minutes=rng.uniform(0, 60))
            taken = deadline * min(3.0, rng.lognormvariate(-0.8, 0.6))
            open_now = rng.random() < 0.02 or started + taken > now
            responsible = {Party.HOME: home, Party.HOSPITAL: HOSPITAL, Party.PHARMACY: PHARMACY}[RESPONSIBLE[clock]]
            clocks.append(
                {
                    "loop_id": loop_id,
                    "kind": clock.value,
                    "subject": f"Task/bench-{n}-{clock.value}",
                    "patient_id": patient,
                    "home_id": home,
                    "hospital_id": HOSPITAL,
                    "pharmacy_id": PHARMACY,
                    "responsible_id": responsible,
                    "started_at": started,
                    "due_at": started + deadline,
                    "done_at": None if open_now else started + taken,
                    "outcome": None if open_now else "met",
                    "done_by": None if open_now else "Practitioner/bench",
                    "overdue_alerted_at": None,
                }
            )
    with runtime.session_factory.begin() as db:
        db.execute(insert(LoopStep), steps)
        db.execute(insert(LoopClock), clocks)
    return len(clocks)


def baseline(runtime: Runtime, since: datetime) -> int:
    """The naive dashboard: every clock of the period fetched, medians and 90th percentiles in Python."""
    with runtime.session_factory.begin() as db:
        rows = db.execute(
            select(LoopClock.responsible_id, LoopClock.kind, LoopClock.started_at, LoopClock.done_at).where(
                LoopClock.started_at >= since
            )
        ).all()
    taken: dict[tuple[str, str], list[float]] = defaultdict(list)
    for responsible, kind, started, done in rows:
        if done is not None:
            taken[(responsible, kind)].append((done - started).total_seconds())
    figures = {
        key: (statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[-1])
        for key, values in taken.items()
        if len(values) > 1
    }
    return len(figures)


def dashboard(runtime: Runtime) -> int:
    with runtime.session_factory.begin() as db:
        built = build_dashboard(Services(db, runtime), None, 30)
    return sum(row.clocks_met for row in built.rows)


def timed(action: Any, repeat: int) -> dict[str, float]:
    action()  # warm: caches, query plans
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "max_ms": round(times[-1], 2), "runs": repeat}


def run_backend(backend: str, loops: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, tmp) as url:
        upgrade(url)
        runtime = Runtime.from_settings(make_settings(url, recording_enabled=False))
        try:
            with runtime.session_factory.begin() as db:
                seed_demo(Services(db, runtime))
            started = time.perf_counter()
            clock_rows = fill(runtime, loops)
            fill_s = time.perf_counter() - started
            since = datetime.now(UTC) - timedelta(days=30)
            met = dashboard(runtime)
            bridge = timed(lambda: dashboard(runtime), repeat)
            naive = timed(lambda: baseline(runtime, since), repeat)
        finally:
            runtime.engine.dispose()
    return {
        "loops": loops,
        "clock_rows": clock_rows,
        "clocks_met_counted": met,
        "fill_s": round(fill_s, 2),
        "bridge": bridge,
        "baseline": naive,
        "ratio_p50": round(bridge["p50_ms"] / naive["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 loops, 3 runs: checks it works, measures little")
    parser.add_argument("--json", action="store_true", help="print one JSON report")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--loops", type=int, default=None, help="loops to fill (default 5000)")
    args = parser.parse_args()
    loops = args.loops or (200 if args.quick else 5000)
    repeat = 3 if args.quick else 15
    results = {backend: run_backend(backend, loops, repeat) for backend in args.backends.split(",")}
    report = {"quick": args.quick, "machine": {"cpus": os.cpu_count()}, "results": results}
    if args.json:
        print(json.dumps(report))
        return
    for backend, figures in results.items():
        print(
            f"{backend}: {figures['loops']} loops, {figures['clock_rows']} clocks; dashboard p50 "
            f"{figures['bridge']['p50_ms']} ms (max {figures['bridge']['max_ms']}), naive baseline p50 "
            f"{figures['baseline']['p50_ms']} ms; ratio {figures['ratio_p50']}"
        )


if __name__ == "__main__":
    main()
