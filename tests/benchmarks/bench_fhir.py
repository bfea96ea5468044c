#!/usr/bin/env python3
"""Observation create and search through the bridge's FHIR API, against a baseline, on SQLite and PostgreSQL.

    python3 tests/benchmarks/bench_fhir.py [--quick] [--json] [--backends sqlite,postgresql]

For each backend: a fresh database (a SQLite file in a temp dir; a new schema in PostgreSQL at
127.0.0.1:5432/test), migrated and seeded with the demo data, served by the real app under uvicorn in a
separate process (``bench_server``; on 2 cores the load generator must not share the server's GIL).
nurse1 then creates heart-rate Observations for residents of their home with 1 and 8 concurrent
clients, searches them by patient and code (a page of 20), and creates 12-lead 10 s ECG Observations
(500 Hz, PTB record s0010_re). Each measurement runs against ``/fhir/Observation`` and against the
baseline ``/bench/raw/Observation`` of the same server, which stores the same JSON without validation,
indexing, access checks or audit (see bench_server.py). Ratios are bridge / baseline.

``--json`` prints one JSON object; otherwise a table. ``--quick`` runs few iterations (a smoke test).
Loopback only; every loop is bounded by the iteration counts below.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

# Run as a script (`python3 tests/benchmarks/bench_fhir.py`): the repository root holds `tests`.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bridge.db.engine import make_engine  # noqa: E402
from bridge.db.migrate import upgrade  # noqa: E402
from bridge.demo.seed import DEMO_PASSWORD, seed_demo  # noqa: E402
from bridge.runtime import Runtime  # noqa: E402
from bridge.services import Services  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from tests.support import free_port, fresh_database, postgres_available  # noqa: E402

BACKENDS = ("sqlite", "postgresql")
NURSE, NURSE_HOME = "nurse1", "demo-home-1"
LOINC, UCUM, MDC = "http://loinc.org", "http://unitsofmeasure.org", "urn:oid:2.16.840.1.113883.6.24"
HEART_RATE = "8867-4"
FHIR_JSON = "application/fhir+json"
PAGE = 20
ECG_RECORD = REPO.parent / "shared" / "data" / "ecg" / "s0010_re"
ECG_HZ, ECG_SECONDS = 500, 10
# PTB's 12 standard leads and their MDC codes (MDC_ECG_ELEC_POTL_<lead>, as in the demo ECG and in the
# FHIR spec's sampled-data example; LOINC has no per-lead waveform codes).
ECG_LEADS = (
    ("i", "131329", "MDC_ECG_ELEC_POTL_I"),
    ("ii", "131330", "MDC_ECG_ELEC_POTL_II"),
    ("iii", "131389", "MDC_ECG_ELEC_POTL_III"),
    ("avr", "131390", "MDC_ECG_ELEC_POTL_AVR"),
    ("avl", "131391", "MDC_ECG_ELEC_POTL_AVL"),
    ("avf", "131392", "MDC_ECG_ELEC_POTL_AVF"),
    ("v1", "131331", "MDC_ECG_ELEC_POTL_V1"),
    ("v2", "131332", "MDC_ECG_ELEC_POTL_V2"),
    ("v3", "131333", "MDC_ECG_ELEC_POTL_V3"),
    ("v4", "131334", "MDC_ECG_ELEC_POTL_V4"),
    ("v5", "131335", "MDC_ECG_ELEC_POTL_V5"),
    ("v6", "131336", "MDC_ECG_ELEC_POTL_V6"),
)
SERVER_START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60


@dataclass(frozen=True)
class Workload:
    """Requests per measurement (per target: the bridge and the baseline each get this many)."""

    warmup: int
    create_1: int
    create_8_each: int
    search_fill_per_patient: int  # unmeasured creates so every search has a full page to return
    search_1: int
    search_8_each: int
    ecg: int


FULL = Workload(
    warmup=20, create_1=400, create_8_each=150, search_fill_per_patient=25, search_1=300, search_8_each=75, ecg=60
)
QUICK = Workload(
    warmup=3, create_1=30, create_8_each=8, search_fill_per_patient=PAGE + 1, search_1=20, search_8_each=4, ecg=6
)

# (key, label, clients, what is timed)
MEASURES = (
    ("create_1", "create, 1 client", 1, "create"),
    ("create_8", "create, 8 clients", 8, "create"),
    ("search_1", "search, 1 client", 1, "search"),
    ("search_8", "search, 8 clients", 8, "search"),
    ("ecg_create_1", "12-lead ECG create, 1 client", 1, "ecg"),
)
TARGETS = (
    # (description, backends it applies to, measure, figure, comparison, limit)
    ("create p95 < 50 ms with one client", BACKENDS, "create_1", "p95_ms", "<", 50.0),
    ("at least 200 creates/s with 8 concurrent clients on PostgreSQL", ("postgresql",), "create_8", "per_s", ">=", 200),
    ("12-lead 10 s ECG Observation create p95 < 250 ms", BACKENDS, "ecg_create_1", "p95_ms", "<", 250.0),
)


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- payloads -----------------------------------------------------------------------------------------


def heart_rate(patient_id: str, n: int) -> bytes:
    """A bedside heart rate as a nurse's station would send it; values and times vary per request."""
    taken = datetime(2026, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=n)
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": HEART_RATE, "display": "Heart rate"}], "text": "心率"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": taken.isoformat(),
        "valueQuantity": {"value": 60 + n % 40, "unit": "次/分", "system": UCUM, "code": "/min"},
    }
    return json.dumps(resource, ensure_ascii=False).encode()


def twelve_lead_ecg(patient_id: str) -> bytes:
    """10 s of PTB record s0010_re's 12 standard leads at 500 Hz: 12 components of 5000 samples each.

    The record is sampled at 1000 Hz; every second sample is kept. This is a payload of the real size
    and value range of a bedside 12-lead ECG, not a signal meant for reading.
    """
    if not ECG_RECORD.with_suffix(".hea").is_file():
        raise BenchError(f"{ECG_RECORD}.hea is missing (shared/ is expected beside the repository)")
    source_hz = 1000
    step = source_hz // ECG_HZ
    with warnings.catch_warnings():
        # wfdb calls (on import) a pandas API that pandas has deprecated; nothing this script can act on.
        warnings.simplefilter("ignore")
        try:
            import wfdb  # type: ignore[import-untyped]
        except ImportError as exc:
            raise BenchError("wfdb is needed for the ECG payload: pip install -e '.[test]'") from exc
        record = wfdb.rdrecord(
            str(ECG_RECORD),
            sampto=ECG_SECONDS * source_hz,
            channel_names=[lead for lead, _, _ in ECG_LEADS],
            physical=False,
        )
    if record.fs != source_hz or record.sig_name != [lead for lead, _, _ in ECG_LEADS]:
        raise BenchError(f"{ECG_RECORD} is not the 1000 Hz 12-lead PTB record this payload expects")
    components = []
    for index, (_, code, display) in enumerate(ECG_LEADS):
        gain, baseline = record.adc_gain[index], record.baseline[index]
        samples = record.d_signal[::step, index]
        microvolts_per_step = 1000 / gain
        top = 2 ** (record.adc_res[index] - 1)
        components.append(
            {
                "code": {"coding": [{"system": MDC, "code": code, "display": display}]},
                "valueSampledData": {
                    "origin": {"value": 0, "unit": "µV", "system": UCUM, "code": "uV"},
                    "period": 1000 / ECG_HZ,
                    "factor": microvolts_per_step,
                    "lowerLimit": (-top - baseline) * microvolts_per_step,
                    "upperLimit": (top - 1 - baseline) * microvolts_per_step,
                    "dimensions": 1,
                    "data": " ".join(str(int(v) - baseline) for v in samples),
                },
            }
        )
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "procedure",
                        "display": "Procedure",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": MDC, "code": "131328", "display": "MDC_ECG_ELEC_POTL"},
                {"system": LOINC, "code": "11524-6", "display": "EKG study"},
            ],
            "text": "12导联心电图",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-01-01T10:15:00+08:00",
        "component": components,
    }
    return json.dumps(resource, ensure_ascii=False).encode()


# --- a seeded database and a server process ----------------------------------------------------------


@contextmanager
def seeded_database(backend: str, tmp: str) -> Iterator[tuple[str, list[str]]]:
    """A fresh migrated database with the demo data; yields its URL and the ids of nurse1's residents."""
    with fresh_database(backend, tmp) as url:
        upgrade(url)
        runtime = Runtime.from_settings(Settings(database_url=url, secret_key="bench-seed-" + "x" * 32))
        try:
            with runtime.session_factory.begin() as db:
                summary = seed_demo(Services(db, runtime))
        finally:
            runtime.engine.dispose()
        residents = [r["id"] for r in summary.residents if r["home_id"] == NURSE_HOME]
        if not residents:
            raise BenchError(f"the demo seed has no residents in {NURSE_HOME}")
        yield url, residents


@contextmanager
def bench_server(database_url: str, tmp: str, workers: int = 1) -> Iterator[tuple[int, int]]:
    """``bench_server`` in its own process on a free loopback port; yields port and pid once /healthz answers."""
    port = free_port()
    log_path = Path(tmp) / f"server-{port}.log"
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.benchmarks.bench_server",
                "--database-url",
                database_url,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=REPO,
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_healthy(port, process, log_path)
            yield port, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def _wait_until_healthy(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the bench server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"the bench server did not answer within {SERVER_START_TIMEOUT_S} s:\n{_tail(log_path)}")


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-4000:]


# --- the load generator ------------------------------------------------------------------------------


class TokenSource:
    """nurse1's bearer token, fetched again when half its lifetime is gone (tokens live 10-15 min)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    def header(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                self._token, lifetime = self._fetch()
                self._renew_at = time.monotonic() + lifetime / 2
            return f"Bearer {self._token}"

    def _fetch(self) -> tuple[str, float]:
        form = urllib.parse.urlencode({"grant_type": "password", "username": NURSE, "password": DEMO_PASSWORD})
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request("POST", "/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise BenchError(f"POST /auth/token answered {response.status}: {body[:500]!r}")
        answer = json.loads(body)
        return str(answer["access_token"]), float(answer.get("expires_in", 600))


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class Stats:
    requests: int
    clients: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float
    per_s: float  # completed requests per second of wall time, all clients together
    # CPU time of the server process per request: on 2 cores, what bounds throughput whatever the
    # latency, and less disturbed than latency by other work on the machine. None where /proc is missing.
    server_cpu_ms: float | None

    @classmethod
    def of(cls, latencies: list[float], clients: int, wall_s: float, server_cpu_s: float | None) -> Stats:
        cuts = statistics.quantiles(latencies, n=20, method="inclusive")
        return cls(
            requests=len(latencies),
            clients=clients,
            p50_ms=round(cuts[9] * 1000, 2),
            p95_ms=round(cuts[18] * 1000, 2),
            mean_ms=round(statistics.fmean(latencies) * 1000, 2),
            max_ms=round(max(latencies) * 1000, 2),
            per_s=round(len(latencies) / wall_s, 1),
            server_cpu_ms=None if server_cpu_s is None else round(server_cpu_s * 1000 / len(latencies), 2),
        )


Check = Callable[[int, bytes], str | None]  # (status, body) -> what is wrong, or None


class Runner:
    """Runs bounded request loops from worker threads, each on its own keep-alive connection."""

    def __init__(self, port: int, server_pid: int, tokens: TokenSource) -> None:
        self.port = port
        self.server_pid = server_pid
        self.tokens = tokens

    def run(self, clients: int, per_client: int, call_for: Callable[[int, int], Call], check: Check) -> Stats:
        latencies: list[list[float]] = [[] for _ in range(clients)]
        problems: list[str] = []
        start = threading.Barrier(clients + 1)

        def worker(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
            try:
                start.wait()
                for n in range(per_client):
                    call = call_for(index, n)
                    headers = {"Authorization": self.tokens.header(), "Accept": FHIR_JSON}
                    if call.body is not None:
                        headers["Content-Type"] = FHIR_JSON
                    began = time.perf_counter()
                    connection.request(call.method, call.path, call.body, headers)
                    response = connection.getresponse()
                    body = response.read()
                    latencies[index].append(time.perf_counter() - began)
                    problem = check(response.status, body)
                    if problem:
                        problems.append(f"{call.method} {call.path}: {problem}")
                        return
            except Exception as exc:  # reported below: a benchmark of failing requests is no benchmark
                problems.append(f"client {index}: {exc!r}")
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        self.tokens.header()  # fetched (or renewed) before the clock starts, not inside the first request
        start.wait()
        cpu_before = process_cpu_seconds(self.server_pid)
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        cpu_after = process_cpu_seconds(self.server_pid)
        if problems:
            raise BenchError(f"{len(problems)} failed requests, first: {problems[0]}")
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return Stats.of([x for per_thread in latencies for x in per_thread], clients, wall, cpu)


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process and its live child processes (uvicorn's workers), from
    Linux /proc, or None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may contain spaces
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) or 0.0 for child in children)


def expect_status(expected: int) -> Check:
    def check(status: int, body: bytes) -> str | None:
        return None if status == expected else f"answered {status}, expected {expected}: {body[:500]!r}"

    return check


def expect_page(status: int, body: bytes) -> str | None:
    if status != 200:
        return f"answered {status}: {body[:500]!r}"
    bundle = json.loads(body)
    found = len(bundle.get("entry", []))
    return None if found == PAGE else f"returned {found} entries, expected a page of {PAGE}"


@dataclass(frozen=True)
class Target:
    """Where one kind of request goes: the bridge's FHIR API or the baseline route."""

    name: str
    create_path: str
    search: Callable[[str], str]


def targets() -> tuple[Target, Target]:
    code = urllib.parse.quote(f"{LOINC}|{HEART_RATE}", safe="")
    bridge = Target(
        "bridge",
        "/fhir/Observation",
        lambda patient: f"/fhir/Observation?patient=Patient/{patient}&code={code}&_count={PAGE}",
    )
    baseline = Target(
        "baseline",
        "/bench/raw/Observation",
        lambda patient: f"/bench/raw/Observation?patient=Patient/{patient}&_count={PAGE}",
    )
    return bridge, baseline


def measure_backend(backend: str, workload: Workload, workers: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-fhir-{backend}-") as tmp:
        log(f"[{backend}] fresh database, migrations, demo seed")
        with seeded_database(backend, tmp) as (url, residents), bench_server(url, tmp, workers) as (port, pid):
            log(f"[{backend}] bench server on 127.0.0.1:{port}, {workers} worker(s); {len(residents)} residents")
            return _measure(Runner(port, pid, TokenSource(port)), residents, workload, backend, lambda: settle(url))


def settle(database_url: str) -> None:
    """Planner statistics for PostgreSQL, as autovacuum keeps them in a running deployment.

    The schema is minutes old and has just grown by thousands of rows; without statistics PostgreSQL
    plans the search for empty tables (and the test server runs with autovacuum off). SQLite keeps no
    statistics unless told to, and the bridge does not, so it is measured as it runs.
    """
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            return
        with engine.begin() as connection:
            tables = connection.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).all()
            for table in tables:
                connection.execute(text(f'ANALYZE "{table}"'))
    finally:
        engine.dispose()


def _measure(
    runner: Runner, residents: list[str], w: Workload, backend: str, settle_statistics: Callable[[], None]
) -> dict[str, Any]:
    ecg_bodies = {patient: twelve_lead_ecg(patient) for patient in residents}
    created = expect_status(201)
    results: dict[str, dict[str, Any]] = {key: {} for key, *_ in MEASURES}
    counter = itertools.count()  # distinct values and times across all creates of the run

    def creates(target: Target) -> Callable[[int, int], Call]:
        def call(index: int, n: int) -> Call:
            number = next(counter)
            return Call("POST", target.create_path, heart_rate(residents[number % len(residents)], number))

        return call

    def searches(target: Target) -> Callable[[int, int], Call]:
        return lambda index, n: Call("GET", target.search(residents[(index * 7 + n) % len(residents)]))

    def ecgs(target: Target) -> Callable[[int, int], Call]:
        return lambda index, n: Call("POST", target.create_path, ecg_bodies[residents[n % len(residents)]])

    for target in targets():
        runner.run(1, w.warmup, creates(target), created)
        runner.run(1, max(2, w.warmup // 4), ecgs(target), created)
    for key, label, clients, kind in MEASURES:
        if kind == "search" and clients == 1:
            # Untimed: every resident gets enough matching Observations for a full page on both targets.
            for target in targets():
                runner.run(len(residents), w.search_fill_per_patient, _fill(target, residents), created)
            settle_statistics()
        for target in targets():
            per_client = {
                ("create", 1): w.create_1,
                ("create", 8): w.create_8_each,
                ("search", 1): w.search_1,
                ("search", 8): w.search_8_each,
                ("ecg", 1): w.ecg,
            }[(kind, clients)]
            make = {"create": creates, "search": searches, "ecg": ecgs}[kind]
            check = expect_page if kind == "search" else created
            stats = runner.run(clients, per_client, make(target), check)
            results[key][target.name] = asdict(stats)
            log(
                f"[{backend}] {label:<30} {target.name:<8} p50 {stats.p50_ms:8.2f} ms  p95 {stats.p95_ms:8.2f} ms"
                f"  {stats.per_s:8.1f}/s  ({stats.requests} requests)"
            )
        bridge, baseline = results[key]["bridge"], results[key]["baseline"]
        results[key]["ratio"] = {
            "p50": round(bridge["p50_ms"] / baseline["p50_ms"], 2),
            "p95": round(bridge["p95_ms"] / baseline["p95_ms"], 2),
            "per_s": round(bridge["per_s"] / baseline["per_s"], 2),
            "server_cpu": _ratio(bridge["server_cpu_ms"], baseline["server_cpu_ms"]),
        }
    return results


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not numerator or not denominator else round(numerator / denominator, 2)


def _fill(target: Target, residents: list[str]) -> Callable[[int, int], Call]:
    # One client per resident, so each gets exactly its share whatever the order of completion.
    return lambda index, n: Call("POST", target.create_path, heart_rate(residents[index], 100_000 + n))


# --- results -----------------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    verdicts = []
    for description, backends, measure, figure, comparison, limit in TARGETS:
        for backend in backends:
            if backend not in results:
                continue
            value = results[backend][measure]["bridge"][figure]
            met = value < limit if comparison == "<" else value >= limit
            verdicts.append(
                {
                    "target": description,
                    "backend": backend,
                    "measure": measure,
                    "figure": figure,
                    "value": value,
                    "limit": limit,
                    "met": met,
                }
            )
    return verdicts


def machine(load_at_start: list[float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        # Other work on the machine skews every figure; the load average says how busy it was.
        "load_average_1_5_15_at_start": load_at_start,
        "load_average_1_5_15_at_end": load_average(),
    }


def table(report: dict[str, Any]) -> str:
    head = (
        f"{'backend':<11} {'measure':<29} {'bridge p50':>10} {'p95':>7} {'req/s':>7} {'cpu':>6} "
        f"{'baseline p50':>12} {'p95':>7} {'req/s':>7} {'cpu':>6} {'p95 ×':>6} {'req/s ×':>7}"
    )
    lines = [head, "-" * len(head)]
    for backend, measures in report["results"].items():
        for key, label, *_ in MEASURES:
            m = measures[key]
            b, r, x = m["bridge"], m["baseline"], m["ratio"]
            lines.append(
                f"{backend:<11} {label:<29} {b['p50_ms']:>10.1f} {b['p95_ms']:>7.1f} {b['per_s']:>7.1f} "
                f"{_cpu(b):>6} {r['p50_ms']:>12.1f} {r['p95_ms']:>7.1f} {r['per_s']:>7.1f} {_cpu(r):>6} "
                f"{x['p95']:>6.2f} {x['per_s']:>7.2f}"
            )
    lines.append("latencies in ms; cpu = server process CPU ms per request; × = bridge / baseline")
    lines.append("")
    for verdict in report["targets"]:
        unit = "ms" if verdict["figure"].endswith("_ms") else "/s"
        lines.append(
            f"{'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']} [{verdict['backend']}]: "
            f"{verdict['value']} {unit}"
        )
    return "\n".join(lines)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu(stats: dict[str, Any]) -> str:
    return "-" if stats["server_cpu_ms"] is None else f"{stats['server_cpu_ms']:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, not a measurement")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (uvicorn workers); 1 is how `bridge serve` runs"
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"--backends takes {', '.join(BACKENDS)}")
    if "postgresql" in backends and not postgres_available():
        log("PostgreSQL is not reachable at 127.0.0.1:5432/test (or pass --backends sqlite)")
        return 2
    workload = QUICK if args.quick else FULL
    started, load_at_start = datetime.now(UTC), load_average()
    try:
        results = {backend: measure_backend(backend, workload, args.workers) for backend in backends}
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    report = {
        "command": "python3 tests/benchmarks/bench_fhir.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "quick": args.quick,
        "server_workers": args.workers,
        "machine": machine(load_at_start),
        "workload": asdict(workload),
        "method": {
            "server": "bridge.app.create_app under uvicorn, one process, separate from the load generator",
            "baseline": "same app: bearer principal, one transaction, body and JSON handling; "
            "stores the JSON in one plain table (index on patient, created_at)",
            "clients": "threads with one keep-alive HTTP/1.1 connection each; latency = send to last byte",
            "order": "per measurement: bridge, then baseline",
            "postgresql_statistics": "ANALYZE of the schema's tables before the search measurements",
            "search": f"patient=Patient/<id>&code={LOINC}|{HEART_RATE}&_count={PAGE}; every answer must hold {PAGE}",
        },
        "results": results,
        "targets": evaluate_targets(results),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
