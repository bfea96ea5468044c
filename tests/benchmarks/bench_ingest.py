#!/usr/bin/env python3
"""Results ingestion end to end: HL7 v2 over HTTP and MLLP, 12-lead ECG uploads, and the time from a
result's arrival to the doctor's open page hearing of it; each beside a baseline.

    python3 tests/benchmarks/bench_ingest.py [--quick|--smoke] [--json] [--backend postgresql|sqlite] [--profile DIR]

The bridge runs as ``bridge serve`` runs it (``python3 -m bridge serve``, a process of its own) on a fresh
seeded database (a new PostgreSQL schema at 127.0.0.1:5432/test by default), with its MLLP listener on
(``BRIDGE_MLLP_PORT``, facility DEMOLAB mapped to the demo laboratory's client ``demo-lab-lis``). The load
generator is this process: one thread per client, each with its own keep-alive HTTP connection or
persistent MLLP connection, sending one message at a time and reading the whole answer.

1. HL7 over HTTP: ``POST /ingest/hl7v2`` with the laboratory's bearer token, 1 client and 4 concurrent
   clients. Baseline: ``hl7.parse`` (python-hl7) of the same message bytes in this process.
2. HL7 over MLLP: 1 and 4 persistent connections to the listener, same messages, same baseline.
3. ECG: a 10-second 12-lead WFDB record (cropped from PTB s0010_re with wfdb) uploaded to
   ``POST /ingest/ecg`` by the first home's analyser client. Baseline: ``wfdb.rdrecord`` reading the same
   files from disk.
4. Ingestion to page: a doctor of the hospital serving both homes has a signalling socket open
   (welcomed) during the whole run; for each result, the time from just before its sending starts to
   the ``result.new`` naming its resident arriving on the socket. Judged one result at a time (HL7 and
   ECG), and reported for every phase above (under load). Target: p95 < 2 s.

The messages are the samples of ../shared/data/hl7v2 that the bridge stores (the others, found by a
warm-up send of each, are listed with the bridge's reason), in turn, each send aimed at a demo resident
(PID-3) with its own control id (MSH-10) and order numbers (OBR/ORC-2/3). Concurrent clients send for
disjoint sets of residents, so a resident's news follow the order of its sends. Server CPU per message
is the server process's CPU time (from /proc) over the phase divided by the messages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import cycle
from pathlib import Path
from typing import Any

# Run as a script (`python3 tests/benchmarks/bench_ingest.py`): the repository root holds `tests`.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.ingest_bench_support import (  # noqa: E402
    HL7_MEDIA_TYPE,
    DoctorPage,
    HttpClient,
    MllpClient,
    Resident,
    Residents,
    Sent,
    Token,
    ack_of,
    crop_ecg,
    ecg_files,
    multipart,
    prepared,
    quiet_wfdb,
    residents_with_identifiers,
    sample_messages,
    stored_count,
)
from tests.benchmarks.signal_bench_support import (  # noqa: E402
    BenchError,
    ServerProcess,
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

BACKENDS = ("postgresql", "sqlite")
PAGE_TARGET_MS = 2000.0
NEWS_TIMEOUT_S = 30.0  # how long a result's news is waited for before it counts as missing


@dataclass(frozen=True)
class Workload:
    http_1: int  # messages, one client
    http_4_each: int  # messages per client, 4 clients
    mllp_1: int
    mllp_4_each: int
    ecg: int  # uploads, one client
    page_hl7: int  # messages sent one at a time, each waiting for its news
    page_ecg: int
    baseline_seconds: float  # how long each in-process baseline loops
    clients: int = 4


FULL = Workload(
    http_1=300, http_4_each=100, mllp_1=300, mllp_4_each=100, ecg=40, page_hl7=100, page_ecg=10, baseline_seconds=3.0
)
QUICK = Workload(
    http_1=12, http_4_each=4, mllp_1=12, mllp_4_each=4, ecg=3, page_hl7=8, page_ecg=2, baseline_seconds=0.3
)
# The test suite's run: every phase and figure once, on the fewest messages that give each of them.
SMOKE = Workload(http_1=4, http_4_each=2, mllp_1=4, mllp_4_each=2, ecg=1, page_hl7=2, page_ecg=1, baseline_seconds=0.1)


# --- what is sent --------------------------------------------------------------------------------------


@dataclass
class Lab:
    """The messages the bridge stores, and what the load generator needs to send them."""

    port: int
    mllp_port: int
    token: Token
    samples: dict[str, bytes]  # name -> template, those answered AA in the warm-up
    excluded: dict[str, str] = field(default_factory=dict)  # name -> the bridge's answer

    def stream(self, residents: list[Resident], count: int, offset: int) -> list[tuple[str, Resident, bytes]]:
        """``count`` sends (sample name, resident, message), samples in turn starting at ``offset``."""
        names = list(self.samples)
        people = cycle(residents)
        out = []
        for n in range(count):
            name = names[(offset + n) % len(names)]
            resident = next(people)
            out.append((name, resident, prepared(self.samples[name], resident.identifier)))
        return out

    def http_headers(self) -> dict[str, str]:
        return {"Authorization": self.token.header(), "Content-Type": HL7_MEDIA_TYPE}


@dataclass
class Ecg:
    port: int
    token: Token
    record: Path
    files: dict[str, bytes]
    bodies: dict[str, tuple[bytes, str]]  # resident id -> (multipart body, content type)


@dataclass
class Outcome:
    """One send as the load generator saw it."""

    sample: str
    seconds: float
    ok: bool
    resources: int = 0
    error: str = ""


# --- sending -------------------------------------------------------------------------------------------


def send_hl7(
    lab: Lab, page: DoctorPage, channel: str, connection: Any, name: str, resident: Resident, raw: bytes
) -> tuple[Outcome, Sent]:
    sent = Sent(resident.id, time.perf_counter(), channel)
    page.expect(sent)
    try:
        if channel == "http":
            status, body = connection.post("/ingest/hl7v2", raw, lab.http_headers())
            seconds = time.perf_counter() - sent.started
            if status != 200:
                page.forget(sent)
                return Outcome(name, seconds, False, error=f"HTTP {status}: {body[:200]!r}"), sent
        else:
            body = connection.send(raw)
            seconds = time.perf_counter() - sent.started
    except (OSError, BenchError) as exc:
        page.forget(sent)
        return Outcome(name, time.perf_counter() - sent.started, False, error=f"{type(exc).__name__}: {exc}"), sent
    code, text = ack_of(body)
    if code != "AA":
        page.forget(sent)
        return Outcome(name, seconds, False, error=f"{code or 'no MSA'} {text}"[:300]), sent
    return Outcome(name, seconds, True, stored_count(text)), sent


def send_ecg(ecg: Ecg, page: DoctorPage, connection: HttpClient, resident: Resident) -> tuple[Outcome, Sent]:
    body, content_type = ecg.bodies[resident.id]
    sent = Sent(resident.id, time.perf_counter(), "ecg")
    page.expect(sent)
    headers = {"Authorization": ecg.token.header(), "Content-Type": content_type}
    try:
        status, answer = connection.post("/ingest/ecg", body, headers)
    except OSError as exc:
        page.forget(sent)
        return Outcome("ecg", time.perf_counter() - sent.started, False, error=f"{type(exc).__name__}: {exc}"), sent
    seconds = time.perf_counter() - sent.started
    if status != 201:
        page.forget(sent)
        return Outcome("ecg", seconds, False, error=f"HTTP {status}: {answer[:300]!r}"), sent
    return Outcome("ecg", seconds, True, 2), sent  # the Observation and the DocumentReference of the files


@contextlib.contextmanager
def profiled(server: ServerProcess, directory: Path | None, name: str) -> Iterator[None]:
    """With --profile: py-spy samples the server for the length of the phase (raw collapsed stacks)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    command = ["py-spy", "record", "--pid", str(server.pid), "--rate", "200", "--format", "raw", "--subprocesses"]
    spy = subprocess.Popen(
        [*command, "--nonblocking", "--output", str(directory / f"{name}.txt")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()


def run_clients(
    server: ServerProcess,
    page: DoctorPage,
    plans: Sequence[Sequence[Callable[[], tuple[Outcome, Sent]]]],
    profile: Path | None,
    name: str,
) -> dict[str, Any]:
    """Each plan in a thread of its own (a client), all started together; the figures of the phase."""
    results: list[list[tuple[Outcome, Sent]]] = [[] for _ in plans]
    start = threading.Barrier(len(plans) + 1)

    def client(index: int) -> None:
        start.wait()
        for step in plans[index]:
            results[index].append(step())

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(len(plans))]
    for thread in threads:
        thread.start()
    with profiled(server, profile, name):
        cpu_before, generator_before = server.cpu_seconds(), time.process_time()
        start.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        server_cpu = server.cpu_seconds() - cpu_before
        generator_cpu = time.process_time() - generator_before
    done = [r for client_results in results for r in client_results]
    return figures(done, page, wall, server_cpu, generator_cpu, clients=len(plans))


def figures(
    done: list[tuple[Outcome, Sent]],
    page: DoctorPage,
    wall: float,
    server_cpu: float,
    generator_cpu: float,
    clients: int,
) -> dict[str, Any]:
    ok = [(o, s) for o, s in done if o.ok]
    errors = [o.error for o, _ in done if not o.ok]
    summary = latency_summary([o.seconds for o, _ in done])
    summary.pop("messages", None)
    resources = sum(o.resources for o, _ in ok)
    result: dict[str, Any] = {
        "clients": clients,
        "messages": len(done),
        "stored": len(ok),
        **summary,
        "per_s": round(len(done) / wall, 2) if wall else None,
        "resources_stored": resources,
        "resources_per_s": round(resources / wall, 1) if wall else None,
        "wall_s": round(wall, 2),
        "server_cpu_ms_per_message": round(server_cpu / len(done) * 1000, 2) if done else None,
        "server_cores_busy": round(server_cpu / wall, 2) if wall else None,
        "generator_cpu_ms_per_message": round(generator_cpu / len(done) * 1000, 2) if done else None,
        "errors": len(errors),
        "error_samples": errors[:5],
    }
    result["to_page"] = to_page(page, [s for _, s in ok])
    if clients == 1 and len({o.sample for o, _ in ok}) > 1:
        result["by_sample"] = by_sample([o for o, _ in ok])
    if errors:
        log(f"    {len(errors)} errors: {errors[:3]}")
    return result


def by_sample(outcomes: list[Outcome]) -> dict[str, Any]:
    """p50 per sample message, with the resources it stores: how the cost grows with a message's size."""
    grouped: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.sample, []).append(outcome)
    rows = {
        name: {
            "messages": len(group),
            "resources": group[0].resources,
            "p50_ms": latency_summary([o.seconds for o in group])["p50_ms"],
        }
        for name, group in grouped.items()
    }
    return dict(sorted(rows.items(), key=lambda item: (item[1]["resources"], item[0])))


def to_page(page: DoctorPage, sents: list[Sent]) -> dict[str, Any]:
    """Sending started -> result.new on the doctor's socket, for the sends that stored something. News
    still missing after NEWS_TIMEOUT_S count with their age then (leaving them out would flatter)."""
    page.wait(sents, NEWS_TIMEOUT_S)
    now = time.perf_counter()
    for sent in sents:
        if sent.arrived is None:
            page.forget(sent)
            sent.arrived, sent.missing = now, True
    return page_summary(sents)


def page_summary(sents: list[Sent]) -> dict[str, Any]:
    summary = latency_summary([s.arrived - s.started for s in sents if s.arrived is not None])
    summary["missing"] = sum(s.missing for s in sents)
    return summary


# --- the phases ----------------------------------------------------------------------------------------


def hl7_phase(
    lab: Lab,
    page: DoctorPage,
    server: ServerProcess,
    residents: Residents,
    channel: str,
    clients: int,
    each: int,
    profile: Path | None,
) -> dict[str, Any]:
    name = f"{channel}_{clients}"
    log(f"HL7 over {channel.upper()}: {clients} client(s) x {each} messages")
    groups = residents.groups(clients) if clients > 1 else [residents.all]
    streams = [lab.stream(group, each, offset=i * 3) for i, group in enumerate(groups)]
    connections: list[Any] = [
        HttpClient(lab.port) if channel == "http" else MllpClient(lab.mllp_port) for _ in range(clients)
    ]
    try:
        plans = [
            [partial(send_hl7, lab, page, channel, connection, *send) for send in stream]
            for connection, stream in zip(connections, streams, strict=True)
        ]
        result = run_clients(server, page, plans, profile, name)
    finally:
        for connection in connections:
            connection.close()
    result["message_bytes_mean"] = round(sum(len(m) for s in streams for _, _, m in s) / (clients * each))
    return result


def ecg_phase(
    ecg: Ecg, page: DoctorPage, server: ServerProcess, residents: Residents, uploads: int, profile: Path | None
) -> dict[str, Any]:
    log(f"ECG: {uploads} uploads of a 10 s 12-lead WFDB record, one client")
    people = cycle(ecg_residents(residents))
    connection = HttpClient(ecg.port)
    try:
        chosen = [next(people) for _ in range(uploads)]
        plan = [partial(send_ecg, ecg, page, connection, resident) for resident in chosen]
        result = run_clients(server, page, [plan], profile, "ecg")
    finally:
        connection.close()
    result["upload_bytes"] = len(next(iter(ecg.bodies.values()))[0])
    return result


def page_phase(
    lab: Lab, ecg: Ecg, page: DoctorPage, server: ServerProcess, residents: Residents, workload: Workload
) -> dict[str, Any]:
    """One result at a time: each is sent and its news waited for before the next."""
    log(f"ingestion to page, one at a time: {workload.page_hl7} HL7 messages, {workload.page_ecg} ECGs")
    out: dict[str, Any] = {}
    every: list[Sent] = []
    connection = HttpClient(lab.port)
    try:
        for kind, count in (("hl7", workload.page_hl7), ("ecg", workload.page_ecg)):
            done: list[tuple[Outcome, Sent]] = []
            cpu_before, generator_before, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
            if kind == "hl7":
                for name, resident, raw in lab.stream(residents.all, count, offset=1):
                    done.append(send_hl7(lab, page, "http", connection, name, resident, raw))
                    page.wait([done[-1][1]], NEWS_TIMEOUT_S)
            else:
                people = cycle(ecg_residents(residents))
                for _ in range(count):
                    done.append(send_ecg(ecg, page, connection, next(people)))
                    page.wait([done[-1][1]], NEWS_TIMEOUT_S)
            wall = time.perf_counter() - started
            out[kind] = figures(
                done, page, wall, server.cpu_seconds() - cpu_before, time.process_time() - generator_before, 1
            )
            every += [s for o, s in done if o.ok]
    finally:
        connection.close()
    out["all"] = page_summary(every)
    return out


def ecg_residents(residents: Residents) -> list[Resident]:
    """The analyser belongs to the first home: its residents."""
    return residents.of_home("demo-home-1")


# --- baselines (in this process) -------------------------------------------------------------------------


def timed_loop(work: Callable[[Any], object], items: list[Any], seconds: float) -> dict[str, Any]:
    """``work`` over ``items`` in turn until ``seconds`` have passed (at least once over them all)."""
    latencies: list[float] = []
    work(items[0])  # first use (imports, caches) is not what is measured
    clock = time.perf_counter
    started = clock()
    while True:
        for item in items:
            before = clock()
            work(item)
            latencies.append(clock() - before)
        if clock() - started >= seconds:
            break
    wall = clock() - started
    summary = latency_summary(latencies)
    summary["per_s"] = round(len(latencies) / wall, 1)
    summary["mean_us"] = round(wall / len(latencies) * 1e6, 1)
    return summary


def hl7_baselines(lab: Lab, residents: Residents, seconds: float) -> dict[str, Any]:
    import hl7  # type: ignore[import-untyped]
    from fhir_adapter.hl7v2 import parse_oru

    messages = [m for _, _, m in lab.stream(residents.all, 4 * len(lab.samples), offset=0)]
    log(f"baselines: hl7.parse and the bridge's parse_oru + to_fhir over {len(messages)} messages")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # python-hl7 warns about its own old API
        python_hl7 = timed_loop(lambda raw: hl7.parse(raw, encoding="utf-8"), messages, seconds)

    def convert(raw: bytes) -> object:
        return parse_oru(raw).to_fhir("Patient/x", performer_reference="Organization/demo-lab")

    return {
        "hl7_parse": python_hl7,
        "bridge_parse_oru": timed_loop(lambda raw: parse_oru(raw), messages, seconds),
        "bridge_parse_oru_to_fhir": timed_loop(convert, messages, seconds),
        "message_bytes_mean": round(sum(len(m) for m in messages) / len(messages)),
    }


def ecg_baselines(ecg: Ecg, seconds: float) -> dict[str, Any]:
    from fhir_adapter.ecg import display_extract, read_ecg
    from fhir_adapter.ecg.measurements import measure_ecg

    log("baselines: wfdb.rdrecord, and the bridge's read_ecg and measure_ecg")
    with quiet_wfdb() as wfdb:
        recording = read_ecg(ecg.files)
        shown = display_extract(recording)
        leads = {lead.name: lead.millivolts() for lead in shown.leads}
        return {
            "wfdb_rdrecord": timed_loop(lambda _: wfdb.rdrecord(str(ecg.record)), [None], seconds),
            "bridge_read_ecg": timed_loop(lambda _: read_ecg(ecg.files), [None], seconds),
            "bridge_measure_ecg": timed_loop(
                lambda _: measure_ecg(leads, shown.sampling_rate, sex="female"), [None], seconds
            ),
        }


# --- the run ---------------------------------------------------------------------------------------------


def warm_up(lab: Lab, ecg: Ecg, page: DoctorPage, residents: Residents) -> None:
    """Each sample once (which does the bridge store?) and one ECG; their news are waited for."""
    log(f"warm-up: each of {len(lab.samples)} sample messages once, and one ECG")
    connection = HttpClient(lab.port)
    try:
        sents = []
        for name, resident, raw in lab.stream(residents.all, len(lab.samples), offset=0):
            outcome, sent = send_hl7(lab, page, "http", connection, name, resident, raw)
            if outcome.ok:
                sents.append(sent)
            else:
                lab.excluded[name] = outcome.error
        outcome, sent = send_ecg(ecg, page, connection, ecg_residents(residents)[0])
        if not outcome.ok:
            raise BenchError(f"the ECG upload was refused: {outcome.error}")
        page.wait([*sents, sent], NEWS_TIMEOUT_S)
        if any(s.arrived is None for s in [*sents, sent]):
            raise BenchError("the doctor's page heard nothing of the warm-up results")
    finally:
        connection.close()
    for name in lab.excluded:
        del lab.samples[name]
        log(f"  {name}: not stored ({lab.excluded[name]}); left out")
    if not lab.samples:
        raise BenchError("the bridge stored none of the sample messages")


def run(args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    from bridge.demo.laboratory import (
        DEMO_ANALYSER_CLIENT_ID,
        DEMO_ANALYSER_SECRET,
        DEMO_LAB_CLIENT_ID,
        DEMO_LAB_FACILITY,
        DEMO_LAB_SECRET,
    )
    from bridge.demo.seed import DEMO_PASSWORD
    from tests.support import free_port

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        record = crop_ecg(Path(tmp))
        files = ecg_files(record)
        log(f"seeding a {args.backend} database")
        with seeded_database(args.backend, tmp) as seeded:
            residents = residents_with_identifiers(seeded.url, seeded.residents)
            port, mllp_port = free_port(), free_port()
            env = bridge_environment(seeded.url, port, secrets.token_urlsafe(48))
            env.update(
                {
                    "BRIDGE_MLLP_PORT": str(mllp_port),
                    "BRIDGE_MLLP_HOST": "127.0.0.1",
                    "BRIDGE_MLLP_SENDERS": json.dumps({DEMO_LAB_FACILITY: DEMO_LAB_CLIENT_ID}),
                }
            )
            logs = str(args.logs) if args.logs else tmp
            with server_processes([ServerSpec("bridge", port, env)], logs) as (server,):
                log(f"bridge serve on port {port}, MLLP on {mllp_port} (pid {server.pid})")
                basic = {"grant_type": "client_credentials"}
                lab = Lab(port, mllp_port, Token(port, basic, (DEMO_LAB_CLIENT_ID, DEMO_LAB_SECRET)), sample_messages())
                ecg = Ecg(
                    port,
                    Token(port, basic, (DEMO_ANALYSER_CLIENT_ID, DEMO_ANALYSER_SECRET)),
                    record,
                    files,
                    {r.id: multipart({"patient": r.identifier}, files) for r in ecg_residents(residents)},
                )
                doctor = Token(port, {"grant_type": "password", "username": "doctor", "password": DEMO_PASSWORD})
                page = DoctorPage(server.ws_url, doctor.header().removeprefix("Bearer "))
                try:
                    warm_up(lab, ecg, page, residents)
                    c = workload.clients
                    out["http_1"] = hl7_phase(lab, page, server, residents, "http", 1, workload.http_1, None)
                    out[f"http_{c}"] = hl7_phase(
                        lab, page, server, residents, "http", c, workload.http_4_each, args.profile
                    )
                    out["mllp_1"] = hl7_phase(lab, page, server, residents, "mllp", 1, workload.mllp_1, None)
                    out[f"mllp_{c}"] = hl7_phase(
                        lab, page, server, residents, "mllp", c, workload.mllp_4_each, args.profile
                    )
                    out["ecg_1"] = ecg_phase(ecg, page, server, residents, workload.ecg, args.profile)
                    out["page"] = page_phase(lab, ecg, page, server, residents, workload)
                finally:
                    page.close()
                out["page_socket"] = {
                    "unmatched_news": page.unmatched,
                    "other_messages": dict(page.other_types),
                    "errors": page.errors,
                }
                out["server_errors"] = server_errors(server.log_path)
            out["baselines"] = {**hl7_baselines(lab, residents, workload.baseline_seconds)}
            out["baselines"].update(ecg_baselines(ecg, workload.baseline_seconds))
            out["samples"] = {
                "stored": sorted(lab.samples),
                "left_out": lab.excluded,
                "residents": len(residents.all),
            }
            out["ecg_record"] = {
                "leads": 12,
                "seconds": 10,
                "sampling_hz": 1000,
                "files": {name: len(content) for name, content in files.items()},
            }
    return out


def server_errors(log_path: Path) -> list[str]:
    """The server log's ERROR lines and the last line of each traceback (a few), to show what went wrong."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    found = []
    for n, line in enumerate(lines):
        if " ERROR " in line:
            found.append(line[:300])
        elif line.startswith("Traceback"):
            ending = next((x for x in lines[n + 1 :] if x and not x.startswith((" ", "Traceback"))), "")
            found.append(ending[:300])
    return found[:10]


HL7_PHASES = ("http_1", "http_4", "mllp_1", "mllp_4")


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """bridge / baseline: messages per second against hl7.parse's, an upload's p50 against rdrecord's."""
    baselines = results["baselines"]
    out: dict[str, Any] = {}
    for phase in HL7_PHASES:
        out[f"{phase}_per_s_over_hl7_parse_per_s"] = ratio(results[phase]["per_s"], baselines["hl7_parse"]["per_s"], 5)
        out[f"{phase}_server_cpu_over_hl7_parse"] = ratio(
            results[phase]["server_cpu_ms_per_message"], baselines["hl7_parse"]["mean_us"] / 1000, 1
        )
    out["ecg_p50_over_rdrecord_p50"] = ratio(results["ecg_1"]["p50_ms"], baselines["wfdb_rdrecord"]["p50_ms"], 1)
    out["ecg_server_cpu_over_rdrecord_p50"] = ratio(
        results["ecg_1"]["server_cpu_ms_per_message"], baselines["wfdb_rdrecord"]["p50_ms"], 1
    )
    out["http_4_over_http_1_per_s"] = ratio(results["http_4"]["per_s"], results["http_1"]["per_s"])
    out["mllp_1_over_http_1_per_s"] = ratio(results["mllp_1"]["per_s"], results["http_1"]["per_s"])
    return out


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    judged = [
        ("ingestion to the doctor's page p95 < 2 s, one result at a time (HL7 and ECG)", results["page"]["all"]),
        ("ingestion to the doctor's page p95 < 2 s, while 4 HTTP clients send HL7", results["http_4"]["to_page"]),
        ("ingestion to the doctor's page p95 < 2 s, while 4 MLLP connections send HL7", results["mllp_4"]["to_page"]),
    ]
    verdicts = []
    for description, summary in judged:
        value = summary.get("p95_ms")
        met = value is not None and value < PAGE_TARGET_MS and summary["missing"] == 0
        verdicts.append({"target": description, "value": value, "limit": PAGE_TARGET_MS, "comparison": "<", "met": met})
    return verdicts


def error_count(results: dict[str, Any]) -> int:
    phases = [results[p] for p in (*HL7_PHASES, "ecg_1")] + [results["page"]["hl7"], results["page"]["ecg"]]
    errors = sum(int(p["errors"]) for p in phases)
    return errors + len(results["page_socket"]["errors"]) + len(results["server_errors"])


def table(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = []
    head = (
        f"{'phase':<26} {'msgs':>5} {'p50 ms':>8} {'p95 ms':>8} {'/s':>8} {'srv ms/msg':>10} "
        f"{'page p50':>9} {'page p95':>9} {'errors':>6}"
    )
    lines += [head, "-" * len(head)]
    rows = [(f"HL7 {p.replace('_', ', ')} client(s)", results[p]) for p in HL7_PHASES]
    rows += [("ECG upload, 1 client", results["ecg_1"])]
    rows += [("page: HL7 one at a time", results["page"]["hl7"]), ("page: ECG one at a time", results["page"]["ecg"])]
    for label, f in rows:
        page = f["to_page"]
        lines.append(
            f"{label:<26} {f['messages']:>5} {f['p50_ms']:>8} {f['p95_ms']:>8} {f['per_s']:>8} "
            f"{f['server_cpu_ms_per_message']:>10} {page['p50_ms']:>9} {page['p95_ms']:>9} {f['errors']:>6}"
        )
    lines.append("")
    b = results["baselines"]
    lines.append(
        f"baselines in this process: hl7.parse {b['hl7_parse']['per_s']}/s ({b['hl7_parse']['mean_us']} µs), "
        f"bridge parse_oru + to_fhir {b['bridge_parse_oru_to_fhir']['per_s']}/s, "
        f"wfdb.rdrecord p50 {b['wfdb_rdrecord']['p50_ms']} ms, "
        f"bridge read_ecg p50 {b['bridge_read_ecg']['p50_ms']} ms, "
        f"measure_ecg p50 {b['bridge_measure_ecg']['p50_ms']} ms"
    )
    lines.append("ratios: " + json.dumps(report["ratios"]))
    if results["samples"]["left_out"]:
        lines.append("samples left out: " + json.dumps(results["samples"]["left_out"], ensure_ascii=False))
    for verdict in report["targets"]:
        lines.append(f"{'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']}: {verdict['value']} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few messages and uploads: a smoke run")
    parser.add_argument("--smoke", action="store_true", help="fewer still: the test suite's check that it runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--backend", choices=BACKENDS, default="postgresql")
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of the server (4 clients, ECG)")
    parser.add_argument("--logs", type=Path, help="keep the server's log in this directory")
    args = parser.parse_args(argv)
    workload = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    if args.backend == "postgresql":
        from tests.support import postgres_available

        if not postgres_available():
            log("PostgreSQL is not reachable at 127.0.0.1:5432/test (or pass --backend sqlite)")
            return 2
    started, load_at_start = datetime.now(UTC), load_average()
    try:
        results = run(args, workload)
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    c = workload.clients
    results["http_4"], results["mllp_4"] = results.pop(f"http_{c}"), results.pop(f"mllp_{c}")
    report = {
        "command": "python3 tests/benchmarks/bench_ingest.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "quick": args.quick or args.smoke,
        "smoke": args.smoke,
        "backend": args.backend,
        "machine": machine(load_at_start),
        "workload": asdict(workload),
        "method": {
            "server": "python3 -m bridge serve, one process, MLLP listener on, fresh seeded database",
            "load": "threads in this process, one keep-alive HTTP or persistent MLLP connection each, "
            "one message at a time",
            "latency": "from just before sending to the whole answer (HTTP response, MLLP ACK block) read",
            "to_page": "from just before sending to result.new for that resident on a doctor's signalling socket",
            "server_cpu": "server process CPU time (/proc) over the phase, per message",
        },
        "results": results,
        "ratios": ratios(results),
        "targets": evaluate_targets(results),
        "errors": error_count(results),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
