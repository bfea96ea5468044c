#!/usr/bin/env python3
"""E-prescriptions to the pharmacy: the time from a doctor's ``$sign`` to the pharmacy endpoint's 2xx for the
notification it causes, and notifications per second, beside a bare HTTP POST of the same payload to the
same endpoint in the same run.

    python3 tests/benchmarks/bench_prescriptions.py [--quick] [--json] [--backend postgresql|sqlite]
                                                     [--polls 2,0.1]

The bridge runs as ``bridge serve`` runs it (``python3 -m bridge serve``, a process of its own) on a fresh
seeded database (a new PostgreSQL schema at 127.0.0.1:5432/test by default), once per outbox poll setting
(``BRIDGE_OUTBOX_POLL_SECONDS``; 2 s is the default a deployment gets, the others are labelled). The
pharmacy is demo-pharmacy's system client with one full-resource rest-hook Subscription; its endpoint is a
loopback HTTP server in this process that checks each body's HMAC and refuses replays before answering.

1. One after another: N prescriptions, each signed (``POST /fhir/MedicationRequest/{id}/$sign`` as the
   doctor, drafts made and checked beforehand) at a random moment of the worker's poll cycle and its
   notification awaited before the next. Latency: from just before the ``$sign`` request to the
   endpoint's 2xx for that Task's event. Target: p95 < 1 s.
2. Burst: M drafts signed at once by 4 threads (each its own keep-alive connection). Notifications per
   second: M over the time from the first ``$sign`` request to the last 2xx at the endpoint.
3. Baseline: the notification bodies the endpoint accepted, POSTed again with their headers one after
   another over one keep-alive httpx connection to the same endpoint (p50, p95, per second).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script (`python3 tests/benchmarks/bench_prescriptions.py`): the repository root holds `tests`.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.benchmarks.prescription_bench_support import (  # noqa: E402
    FHIR_JSON,
    Draft,
    TimedEndpoint,
    bare_posts,
    bench_bridge,
    drafts,
    pharmacy_client,
    sign,
    subscribe,
    token,
    unsubscribe,
)
from tests.benchmarks.signal_bench_support import (  # noqa: E402
    BenchError,
    ServerSpec,
    bridge_environment,
    latency_summary,
    load_average,
    log,
    machine,
    ratio,
    seeded_database,
    server_processes,
)
from tests.support import free_port  # noqa: E402

TARGET_P95_MS = 1000.0
DEMO_PASSWORD = "bridge-demo-2026"


@dataclass(frozen=True)
class Workload:
    sequential: int  # prescriptions signed one after another
    burst: int  # prescriptions signed at once
    burst_signers: int = 4


FULL = Workload(sequential=40, burst=30)
QUICK = Workload(sequential=4, burst=4)


def run_config(url_db: str, poll: float, workload: Workload, tmp: str) -> dict[str, Any]:
    from bridge.runtime import Runtime
    from bridge.settings import Settings

    secret = "bench-prescriptions-" + secrets.token_hex(16)  # the process's and this one's: clients are sealed
    port = free_port()
    env = bridge_environment(url_db, port, secret) | {
        "BRIDGE_SUBSCRIPTION_ALLOW_HTTP": "true",
        "BRIDGE_OUTBOX_POLL_SECONDS": str(poll),
        "BRIDGE_LOG_LEVEL": "WARNING",
    }
    url = f"http://127.0.0.1:{port}"
    runtime = Runtime.from_settings(Settings(database_url=url_db, secret_key=secret))
    try:
        with server_processes([ServerSpec("bridge", port, env)], tmp), TimedEndpoint("") as endpoint:
            bridge = bench_bridge(runtime)
            client_id, endpoint.secret = pharmacy_client(bridge)
            pharmacy = subscribe(url, client_id, endpoint.secret, endpoint)
            form = {"grant_type": "password", "username": "doctor", "password": DEMO_PASSWORD}
            headers = {"Authorization": f"Bearer {token(url, form)}", "Content-Type": FHIR_JSON}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as doctor:
                log(f"poll {poll:g} s: preparing {1 + workload.sequential + workload.burst} drafts")
                warm, *sequential = drafts(bridge, doctor, 1 + workload.sequential)
                burst = drafts(bridge, doctor, workload.burst)
                endpoint.wait_for([sign(doctor, warm)], 30)  # the doctor's key, first connections
                log(f"poll {poll:g} s: {workload.sequential} signed one after another")
                one_by_one = one_after_another(doctor, endpoint, sequential, poll)
            log(f"poll {poll:g} s: a burst of {workload.burst} from {workload.burst_signers} signers")
            at_once = burst_phase(url, headers, endpoint, burst, workload.burst_signers, poll)
            baseline = bare_posts(endpoint, endpoint.bodies[1:])  # the warm-up's left out
            unsubscribe(url, pharmacy)
    finally:
        runtime.engine.dispose()
    return {
        "poll_seconds": poll,
        "one_after_another": one_by_one,
        "burst": at_once,
        "bare_post": baseline,
        "ratios": {
            "p50": ratio(one_by_one["sign_to_2xx"]["p50_ms"], baseline["p50_ms"], 1),
            "p95": ratio(one_by_one["sign_to_2xx"]["p95_ms"], baseline["p95_ms"], 1),
            "per_s": ratio(at_once["per_s"], baseline["per_s"], 4),
        },
    }


def one_after_another(doctor: httpx.Client, endpoint: TimedEndpoint, prepared: list[Draft], poll: float) -> Any:
    rng = random.Random(6)
    to_2xx, answers = [], []
    for one in prepared:
        time.sleep(rng.uniform(0, poll))  # doctors sign at any moment of the worker's cycle
        started = time.perf_counter()
        task_id = sign(doctor, one)
        answers.append(time.perf_counter() - started)
        endpoint.wait_for([task_id], 30 + 2 * poll)
        to_2xx.append(endpoint.answered[task_id] - started)
    return {"sign_to_2xx": latency_summary(to_2xx), "sign_answer": latency_summary(answers)}


def burst_phase(
    url: str, headers: dict[str, str], endpoint: TimedEndpoint, prepared: list[Draft], signers: int, poll: float
) -> dict[str, Any]:
    started: dict[str, float] = {}
    errors: list[str] = []
    gate = threading.Barrier(signers + 1)

    def signer(mine: list[Draft]) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            gate.wait()
            for one in mine:
                before = time.perf_counter()
                try:
                    started[sign(client, one)] = before
                except (BenchError, httpx.HTTPError) as exc:
                    errors.append(str(exc))

    threads = [threading.Thread(target=signer, args=(prepared[i::signers],)) for i in range(signers)]
    for thread in threads:
        thread.start()
    gate.wait()
    for thread in threads:
        thread.join()
    if errors:
        raise BenchError(f"{len(errors)} signatures failed: {errors[:3]}")
    endpoint.wait_for(list(started), 60 + len(prepared) * (poll + 1))
    first, last = min(started.values()), max(endpoint.answered[t] for t in started)
    return {
        "notifications": len(started),
        "signers": signers,
        "wall_s": round(last - first, 3),
        "per_s": round(len(started) / (last - first), 2),
        "sign_to_2xx": latency_summary([endpoint.answered[t] - s for t, s in started.items()]),
    }


def table(report: dict[str, Any]) -> str:
    head = f"{'poll':>6}  {'what':<40} {'n':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'/s':>8}"
    lines = [head, "-" * len(head)]
    for label, r in report["results"].items():
        seq, burst, bare = r["one_after_another"], r["burst"], r["bare_post"]
        rows = [
            ("$sign -> endpoint 2xx, one at a time", seq["sign_to_2xx"], None),
            ("  ($sign's own answer)", seq["sign_answer"], None),
            (f"burst from {burst['signers']} signers: $sign -> 2xx", burst["sign_to_2xx"], burst["per_s"]),
            ("bare POST of the same bodies", bare, bare["per_s"]),
        ]
        for what, f, per_s in rows:
            lines.append(
                f"{label:>6}  {what:<40} {f['messages']:>4} {f['p50_ms']:>9} {f['p95_ms']:>9} {f['max_ms']:>9} "
                f"{per_s if per_s is not None else '':>8}"
            )
        lines.append(f"{label:>6}  ratios bridge / bare: {json.dumps(r['ratios'])}")
    for verdict in report["targets"]:
        lines.append(f"{'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']}: {verdict['value']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few prescriptions: a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--polls", default="2,0.1", help="outbox poll settings to run, seconds (default 2,0.1)")
    args = parser.parse_args(argv)
    workload = QUICK if args.quick else FULL
    polls = [float(p) for p in args.polls.split(",")]
    if args.backend == "postgresql":
        from tests.support import postgres_available

        if not postgres_available():
            log("PostgreSQL is not reachable at 127.0.0.1:5432/test (or pass --backend sqlite)")
            return 2
    started, load_at_start = datetime.now(UTC), load_average()
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rx-") as tmp, seeded_database(args.backend, tmp) as seeded:
            for poll in polls:
                results[f"{poll:g}s"] = run_config(seeded.url, poll, workload, tmp)
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    given = sys.argv[1:] if argv is None else argv
    report = {
        "command": " ".join(["python3 tests/benchmarks/bench_prescriptions.py", *given]),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "quick": args.quick,
        "backend": args.backend,
        "machine": machine(load_at_start),
        "workload": asdict(workload),
        "method": {
            "server": "python3 -m bridge serve, one process per poll setting, on one fresh seeded database",
            "sign_to_2xx": "from just before the $sign request to the endpoint answering 2xx for that Task",
            "per_s": "burst: notifications over first $sign request to last 2xx; bare: POSTs over their wall time",
            "bare_post": "the accepted notification bodies and headers, POSTed again sequentially with httpx",
        },
        "results": results,
        "targets": [
            {
                "target": f"p95 $sign -> 2xx < {TARGET_P95_MS:g} ms (poll {label})",
                "value": r["one_after_another"]["sign_to_2xx"]["p95_ms"],
                "met": r["one_after_another"]["sign_to_2xx"]["p95_ms"] < TARGET_P95_MS,
                "default_poll": r["poll_seconds"] == 2.0,
            }
            for label, r in results.items()
        ],
    }
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
