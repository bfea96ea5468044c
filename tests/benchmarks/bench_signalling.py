#!/usr/bin/env python3
"""Relaying SDP and ICE candidates through /ws/signal: latency, throughput and memory, against a bare relay.

    python3 tests/benchmarks/bench_signalling.py [--quick|--smoke] [--json] [--backend postgresql|sqlite]

Three servers, each in processes of their own, measured one after the other with the same load:

- ``bridge, one instance``: the real app as ``bridge serve`` runs it (``python3 -m bridge serve``) on a
  fresh seeded database; no Redis, as a single instance runs.
- ``bare relay``: Starlette under uvicorn (same WebSocket stack and defaults) forwarding each frame to
  the socket its ``to`` field names, with nothing else (signal_bench_support.bare_relay_app).
- ``bridge, two instances``: two ``bridge serve`` processes on one new database with
  ``BRIDGE_REDIS_URL``; each consult's nurse is on one instance and its doctor on the other, so every
  relayed frame crosses Redis.

For the bridge, every consult is set up through the protocol itself, as real clients do it: a nurse
socket sends ``consult.request``, a doctor socket ``consult.accept`` and ``consult.join``. Each of the
2,000 sockets has a bearer token of its own, minted with the app's TokenService (demo accounts nurse1,
nurse2, doctor, doctor2; a staff user may have many sockets).

A negotiation is what a browser pair sends for one call set-up or ICE restart: the doctor's offer
(Chrome-like, about 6 kB) and 4 trickled candidates plus the end-of-candidates, then the nurse's answer
(about 4 kB) and its 4 candidates plus the end: 12 relayed frames. Latency is from just before the
sender's ``send`` to the moment the receiver's reader has the frame (same process, same clock).

- ``paced``: every consult negotiates once every ``interval`` seconds at a random phase (full run: 1,000
  consults every 10 s, i.e. 100 call set-ups and 1,200 relayed frames per second). The latency targets
  are judged here.
- ``saturated``: every consult negotiates back to back for ``duration`` seconds: relayed frames per
  second is the throughput (the latency under saturation is reported, not judged).
- ``idle memory``: server RSS (from /proc) before and after opening N idle authenticated sockets
  (welcomed, in no consult), divided by N.

The load generator runs in worker processes of its own (asyncio, uvloop), never in a server's process;
its CPU time is reported beside the servers' so that the figures can be read honestly on 2 cores.
The WebSocket client offers permessage-deflate, as browsers do (``--no-compression`` turns it off).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

# Run as a script (`python3 tests/benchmarks/bench_signalling.py`): the repository root holds `tests`.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.signal_bench_support import (  # noqa: E402
    CANDIDATES_PER_SIDE,
    BenchError,
    ServerProcess,
    ServerSpec,
    answer_sdp,
    bridge_environment,
    candidates,
    latency_summary,
    load_average,
    log,
    machine,
    mint_tokens,
    offer_sdp,
    raise_fd_limit,
    ratio,
    seeded_database,
    server_processes,
)

BACKENDS = ("postgresql", "sqlite")
REDIS_URL = os.environ.get("BRIDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
NURSES = ("nurse1", "nurse2")
DOCTORS = ("doctor", "doctor2")
FRAMES_PER_SIDE = 1 + CANDIDATES_PER_SIDE + 1  # a description, the candidates, the end of candidates
REPLY_TIMEOUT_S = 60.0
DRAIN_S = 60.0  # how long a phase waits for its last frames


@dataclass(frozen=True)
class Workload:
    consults: int
    idle_sockets: int
    paced_interval_s: float
    paced_duration_s: float
    saturated_duration_s: float
    workers: int
    setup_concurrency: int  # consults being set up at once, per worker
    quiet_s: float  # all sockets in their consults, nothing sent: the server's own background work


FULL = Workload(
    consults=1000,
    idle_sockets=1000,
    paced_interval_s=10.0,
    paced_duration_s=20.0,
    saturated_duration_s=15.0,
    workers=2,
    setup_concurrency=8,
    quiet_s=10.0,
)
QUICK = Workload(
    consults=40,
    idle_sockets=40,
    paced_interval_s=1.0,
    paced_duration_s=2.0,
    saturated_duration_s=1.5,
    workers=2,
    setup_concurrency=8,
    quiet_s=1.0,
)
# The test suite's run: every scenario, step and figure, on the fewest consults and the shortest phases
# that still give each figure (the idle sockets stay at 40: the memory figure divides an RSS growth).
SMOKE = Workload(
    consults=8,
    idle_sockets=40,
    paced_interval_s=0.5,
    paced_duration_s=1.0,
    saturated_duration_s=0.5,
    workers=2,
    setup_concurrency=8,
    quiet_s=0.5,
)

TARGETS = (
    # (description, scenario, phase, figure, comparison, limit)
    ("relay p99 < 20 ms on one instance", "bridge_one", "paced", "p99_ms", "<", 20.0),
    ("relay p99 < 50 ms across two instances (Redis)", "bridge_two", "paced", "p99_ms", "<", 50.0),
    ("throughput at least half the bare relay's", "ratios", "throughput", "bridge_one_over_bare", ">=", 0.5),
    ("at most 32 KiB per idle socket", "bridge_one", "idle_memory", "kib_per_socket", "<=", 32.0),
)


# --- the load generator: one worker process ----------------------------------------------------------


class ServerSaid(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.reply = reply


class Socket:
    """One client WebSocket: replies matched by ref, relayed frames handed to its pair."""

    def __init__(self, ws: Any, worker: Worker) -> None:
        self.ws = ws
        self.worker = worker
        self.pair: Pair | None = None
        self.closed = False
        self.side = ""  # "nurse" or "doctor" once in a pair
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.refs = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        clock = time.perf_counter
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                arrived = clock()
                message = json.loads(raw)
                kind = message.get("type", "")
                if kind.startswith("signal."):
                    if self.pair is not None:
                        await self.pair.arrived(self.side, kind, arrived, message.get("from"))
                    continue
                ref = message.get("ref")
                future = self.pending.pop(ref, None) if ref else None
                if future is not None and not future.done():
                    if kind == "error":
                        future.set_exception(ServerSaid(message))
                    else:
                        future.set_result(message)
                elif kind == "error":
                    self.worker.errors.append(f"{message.get('code')}: {message.get('message')}")
        if self.pair is not None and self.ws.close_code not in (None, 1000):
            self.worker.errors.append(f"the server closed a {self.side} socket (code {self.ws.close_code})")
        self.closed = True

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.refs += 1
        ref = f"r{self.refs}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ref] = future
        await self.ws.send(json.dumps({"v": 1, "type": kind, "ref": ref, **fields}, separators=(",", ":")))
        return await asyncio.wait_for(future, REPLY_TIMEOUT_S)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


class Pair:
    """The two sockets of one consult and the frames of its negotiations, pre-encoded."""

    def __init__(
        self, worker: Worker, seed: int, consult_id: str, nurse: Socket, doctor: Socket, pids: tuple[str, str]
    ):
        self.worker = worker
        self.nurse, self.doctor = nurse, doctor
        nurse.pair, nurse.side, doctor.pair, doctor.side = self, "nurse", self, "doctor"
        nurse_pid, doctor_pid = pids
        self.peer_of = {"nurse": doctor_pid, "doctor": nurse_pid}  # whom each side hears from

        def frame(kind: str, to: str, **fields: Any) -> str:
            body = {"v": 1, "type": kind, "consult_id": consult_id, "to": to, **fields}
            return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

        self.doctor_frames = [("signal.offer", frame("signal.offer", nurse_pid, sdp=offer_sdp(seed, 2)))]
        self.doctor_frames += [
            ("signal.candidate", frame("signal.candidate", nurse_pid, candidate=c)) for c in candidates(seed)
        ]
        self.doctor_frames.append(("signal.candidate", frame("signal.candidate", nurse_pid, candidate=None)))
        self.nurse_frames = [("signal.answer", frame("signal.answer", doctor_pid, sdp=answer_sdp(seed, 2)))]
        self.nurse_frames += [
            ("signal.candidate", frame("signal.candidate", doctor_pid, candidate=c)) for c in candidates(seed + 7)
        ]
        self.nurse_frames.append(("signal.candidate", frame("signal.candidate", doctor_pid, candidate=None)))
        # Frames in flight towards each side, oldest first: (type, send time). One sender per direction and
        # one socket each way keep them in order, so the oldest is the one that arrives next.
        self.in_flight: dict[str, collections.deque[tuple[str, float]]] = {
            "nurse": collections.deque(),
            "doctor": collections.deque(),
        }
        self.expected = {"nurse": 0, "doctor": 0}
        self.done: asyncio.Future[None] | None = None

    async def negotiate(self) -> None:
        """One offer/answer with trickled candidates; returns when both sides have every frame."""
        self.done = asyncio.get_running_loop().create_future()
        self.expected["nurse"] += FRAMES_PER_SIDE
        self.expected["doctor"] += FRAMES_PER_SIDE
        await self._send(self.doctor, "nurse", self.doctor_frames)
        await self.done

    async def _send(self, sender: Socket, towards: str, frames: list[tuple[str, str]]) -> None:
        queue = self.in_flight[towards]
        clock = time.perf_counter
        for kind, text in frames:
            if sender.closed:
                return
            queue.append((kind, clock()))
            try:
                await sender.ws.send(text)
            except ConnectionClosed as exc:
                queue.pop()
                sender.closed = True
                code = exc.rcvd.code if exc.rcvd else None
                self.worker.errors.append(f"the server closed a {sender.side} socket (code {code})")
                return

    async def arrived(self, side: str, kind: str, at: float, sender: Any) -> None:
        if sender != self.peer_of[side]:
            # e.g. the server's recorder, which joins consults of residents who consented to recording
            self.worker.foreign += 1
            return
        queue = self.in_flight[side]
        if not queue:
            self.worker.errors.append(f"unexpected {kind} at the {side}")
            return
        sent_kind, sent_at = queue.popleft()
        if sent_kind != kind:
            self.worker.errors.append(f"out of order at the {side}: {kind} where {sent_kind} was next")
        self.worker.record(at - sent_at, at)
        if kind == "signal.offer":
            await self._send(self.nurse, "doctor", self.nurse_frames)
        self.expected[side] -= 1
        if self.expected["nurse"] == 0 and self.expected["doctor"] == 0 and self.done and not self.done.done():
            self.done.set_result(None)


class Worker:
    def __init__(self, compression: bool) -> None:
        self.compression = compression
        self.pairs: list[Pair] = []
        self.idle: list[Socket] = []
        self.errors: list[str] = []
        self.foreign = 0  # relayed frames from someone other than the pair's other side, ignored
        self.latencies = array("d")
        self.recording = False
        self.window = (0.0, 0.0)
        self.in_window = 0

    def record(self, latency: float, at: float) -> None:
        if self.recording:
            self.latencies.append(latency)
            if self.window[0] <= at < self.window[1]:
                self.in_window += 1

    async def open(self, url: str, token: str | None) -> Socket:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await connect(
            url,
            additional_headers=headers,
            compression="deflate" if self.compression else None,
            open_timeout=REPLY_TIMEOUT_S,
            ping_interval=None,  # the bridge's clients ping by protocol; here nothing idles long enough
            max_size=2**20,
        )
        welcome = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT_S))
        if welcome.get("type") != "welcome":
            await ws.close()
            raise BenchError(f"expected welcome, got {welcome}")
        return Socket(ws, self)

    # --- commands -------------------------------------------------------------------------------------

    async def open_idle(self, sockets: list[dict[str, Any]]) -> dict[str, Any]:
        limit = asyncio.Semaphore(50)

        async def one(spec: dict[str, Any]) -> Socket:
            async with limit:
                return await self.open(spec["url"], spec.get("token"))

        started = time.perf_counter()
        self.idle.extend(await asyncio.gather(*(one(s) for s in sockets)))
        return {"opened": len(sockets), "seconds": time.perf_counter() - started}

    async def close_idle(self) -> dict[str, Any]:
        await asyncio.gather(*(s.close() for s in self.idle))
        closed, self.idle = len(self.idle), []
        return {"closed": closed}

    async def setup(self, kind: str, consults: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
        limit = asyncio.Semaphore(concurrency)
        steps: dict[str, array[float]] = {"connect": array("d"), "request": array("d"), "accept": array("d")}
        steps["join"] = array("d")

        async def timed(step: str, work: Any) -> Any:
            started = time.perf_counter()
            result = await work
            steps[step].append(time.perf_counter() - started)
            return result

        async def one(spec: dict[str, Any]) -> Pair:
            async with limit:
                seed = spec["seed"]
                if kind == "bare":
                    nurse_id, doctor_id = f"n{seed}", f"d{seed}"
                    nurse = await timed("connect", self.open(f"{spec['nurse_url']}?id={nurse_id}", None))
                    doctor = await timed("connect", self.open(f"{spec['doctor_url']}?id={doctor_id}", None))
                    return Pair(self, seed, f"c{seed}", nurse, doctor, (nurse_id, doctor_id))
                nurse = await timed("connect", self.open(spec["nurse_url"], spec["nurse_token"]))
                doctor = await timed("connect", self.open(spec["doctor_url"], spec["doctor_token"]))
                requested = await timed(
                    "request",
                    nurse.request(
                        "consult.request", patient_id=spec["patient_id"], urgency="routine", reason="benchmark"
                    ),
                )
                consult_id = requested["consult"]["id"]
                accepted = await timed("accept", doctor.request("consult.accept", consult_id=consult_id))
                joined = await timed("join", doctor.request("consult.join", consult_id=consult_id))
                if joined["consult"]["state"] != "in_call":
                    raise BenchError(f"consult {consult_id} is {joined['consult']['state']} after the join")
                return Pair(self, seed, consult_id, nurse, doctor, (requested["you"], accepted["you"]))

        started = time.perf_counter()
        self.pairs = list(await asyncio.gather(*(one(s) for s in consults)))
        return {
            "consults": len(self.pairs),
            "seconds": time.perf_counter() - started,
            "steps": {k: v.tolist() for k, v in steps.items()},
        }

    async def paced(self, interval: float, duration: float) -> dict[str, Any]:
        rng = random.Random(len(self.pairs))
        started = time.perf_counter()
        end = started + duration
        failures = 0

        async def consult(pair: Pair) -> None:
            nonlocal failures
            at = started + rng.uniform(0, interval)
            while at < end:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                try:
                    await asyncio.wait_for(pair.negotiate(), max(interval, 5.0))
                except TimeoutError:
                    failures += 1  # the load stays as offered: the next negotiation starts on time
                at += interval

        return await self._phase(started, end, [consult(p) for p in self.pairs], lambda: failures)

    async def saturated(self, duration: float) -> dict[str, Any]:
        started = time.perf_counter()
        end = started + duration
        failures = 0

        async def consult(pair: Pair) -> None:
            nonlocal failures
            while time.perf_counter() < end:
                try:
                    await asyncio.wait_for(pair.negotiate(), 60)
                except TimeoutError:
                    failures += 1
                    return

        return await self._phase(started, end, [consult(p) for p in self.pairs], lambda: failures)

    async def _phase(self, started: float, end: float, loops: list[Any], failures: Any) -> dict[str, Any]:
        self.latencies, self.errors, self.foreign = array("d"), [], 0
        self.in_window, self.window, self.recording = 0, (started, end), True
        cpu = time.process_time()
        await asyncio.gather(*loops)
        # Frames still on their way are waited for (and recorded) a while, so that the next phase does
        # not start behind this one's backlog.
        drain_until = time.perf_counter() + DRAIN_S
        while any(q for p in self.pairs for q in p.in_flight.values()) and time.perf_counter() < drain_until:
            await asyncio.sleep(0.05)
        finished = time.perf_counter()
        self.recording = False
        # Frames still on their way count with the age they have now (a lower bound of their latency):
        # leaving them out would make an overloaded server look fast.
        undelivered = [finished - sent for p in self.pairs for queue in p.in_flight.values() for _, sent in queue]
        self.latencies.extend(undelivered)
        return {
            "undelivered": len(undelivered),
            "foreign": self.foreign,
            "latencies": self.latencies.tobytes(),
            "in_window": self.in_window,
            "window_s": end - started,
            "wall_s": finished - started,
            "cpu_s": time.process_time() - cpu,
            "failures": failures(),
            "errors": self.errors[-20:],
            "error_count": len(self.errors),
        }

    async def close_all(self) -> dict[str, Any]:
        sockets = [s for p in self.pairs for s in (p.nurse, p.doctor)] + self.idle
        await asyncio.gather(*(s.close() for s in sockets))
        self.pairs, self.idle = [], []
        return {"closed": len(sockets)}


def worker_main(connection: multiprocessing.connection.Connection, compression: bool, fd_limit: int) -> None:
    raise_fd_limit(fd_limit)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_commands(connection, Worker(compression)))


async def _serve_commands(connection: multiprocessing.connection.Connection, worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command: dict[str, Any] = await loop.run_in_executor(None, connection.recv)
        name = command.pop("cmd")
        if name == "exit":
            await worker.close_all()
            connection.send({"ok": True})
            return
        handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
            "open_idle": worker.open_idle,
            "close_idle": worker.close_idle,
            "setup": worker.setup,
            "paced": worker.paced,
            "saturated": worker.saturated,
            "close_all": worker.close_all,
        }
        handler = handlers[name]
        try:
            connection.send({"ok": True, **await handler(**command)})
        except Exception as exc:
            connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


class Generator:
    """The worker processes; commands go to all of them at once and their answers are gathered."""

    def __init__(self, workers: int, compression: bool, fd_limit: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connections = []
        self.processes = []
        for _ in range(workers):
            mine, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, compression, fd_limit), daemon=True)
            process.start()
            self.connections.append(mine)
            self.processes.append(process)

    def run(self, commands: list[dict[str, Any]], timeout: float = 600) -> list[dict[str, Any]]:
        for connection, command in zip(self.connections, commands, strict=True):
            connection.send(command)
        answers = []
        for connection in self.connections:
            if not connection.poll(timeout):
                raise BenchError(f"a load generator did not answer {commands[0]['cmd']} within {timeout} s")
            answer = connection.recv()
            if not answer.get("ok"):
                raise BenchError(f"load generator failed in {commands[0]['cmd']}: {answer.get('error')}")
            answers.append(answer)
        return answers

    def broadcast(self, command: dict[str, Any], timeout: float = 600) -> list[dict[str, Any]]:
        return self.run([dict(command) for _ in self.connections], timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.broadcast({"cmd": "exit"}, timeout=60)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


# --- one scenario --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    servers: list[ServerProcess]
    # per consult: (nurse url, doctor url, nurse token, doctor token, patient id); tokens None for bare
    consults: list[dict[str, Any]]
    idle: list[dict[str, Any]] | None  # idle sockets for the memory figure, or None


@contextlib.contextmanager
def profiling(scenario: Scenario, profile_dir: Path | None, seconds: float) -> Iterator[None]:
    """With --profile: py-spy samples each server process during the phase (collapsed stacks, one file each)."""
    if profile_dir is None:
        yield
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for server in scenario.servers:
        out = profile_dir / f"{scenario.key}-{server.port}.txt"
        command = ["py-spy", "record", "--pid", str(server.pid), "--duration", str(max(1, int(seconds)))]
        command += ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)]
        spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        yield
    finally:
        for spy in spies:
            spy.wait(timeout=60)


def measure(
    generator: Generator, scenario: Scenario, workload: Workload, profile_dir: Path | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"label": scenario.label, "server_pids": [s.pid for s in scenario.servers]}
    workers = len(generator.connections)
    if scenario.idle is not None:
        result["idle_memory"] = idle_memory(generator, scenario, workers)
    if scenario.servers[0].kind == "bridge":
        log(f"  {scenario.label}: setting up {len(scenario.consults)} consults through the protocol")
    cpu_before = _servers_cpu(scenario)
    answers = generator.run(
        [
            {
                "cmd": "setup",
                "kind": scenario.servers[0].kind,
                "consults": part,
                "concurrency": workload.setup_concurrency,
            }
            for part in split(scenario.consults, workers)
        ]
    )
    setup_s = max(a["seconds"] for a in answers)
    result["setup"] = {
        "consults": sum(a["consults"] for a in answers),
        "sockets": 2 * sum(a["consults"] for a in answers),
        "seconds": round(setup_s, 2),
        "consults_per_s": round(sum(a["consults"] for a in answers) / setup_s, 1),
        "server_cpu_s": round(_servers_cpu(scenario) - cpu_before, 2),
        "steps": {
            step: latency_summary([x for a in answers for x in a["steps"][step]])
            for step in answers[0]["steps"]
            if any(a["steps"][step] for a in answers)
        },
    }
    # With every socket open and every consult in a call but nothing sent: what the server spends on
    # its own (timers, presence heartbeat, keep-alive pings), which relaying then competes with.
    cpu_before, wall_before = _servers_cpu(scenario), time.perf_counter()
    time.sleep(workload.quiet_s)
    wall = time.perf_counter() - wall_before
    result["quiet"] = {
        "seconds": round(wall, 2),
        "server_cpu_s": round(_servers_cpu(scenario) - cpu_before, 2),
        "server_cores_busy": round((_servers_cpu(scenario) - cpu_before) / wall, 3),
    }
    log(f"  {scenario.label}: {result['quiet']['server_cores_busy']} cores busy with no traffic")
    log(f"  {scenario.label}: paced load, every consult negotiates every {workload.paced_interval_s} s")
    result["paced"] = phase(
        generator,
        scenario,
        {"cmd": "paced", "interval": workload.paced_interval_s, "duration": workload.paced_duration_s},
    )
    log(f"  {scenario.label}: saturated load for {workload.saturated_duration_s} s")
    with profiling(scenario, profile_dir, workload.saturated_duration_s):
        result["saturated"] = phase(
            generator, scenario, {"cmd": "saturated", "duration": workload.saturated_duration_s}
        )
    return result


def phase(generator: Generator, scenario: Scenario, command: dict[str, Any]) -> dict[str, Any]:
    cpu_before, wall_before = _servers_cpu(scenario), time.perf_counter()
    answers = generator.broadcast(command)
    wall = time.perf_counter() - wall_before
    server_cpu = _servers_cpu(scenario) - cpu_before
    latencies = array("d")
    for answer in answers:
        latencies.frombytes(answer["latencies"])
    relayed = len(latencies)  # with the undelivered ones, which count in the percentiles
    window = max(a["window_s"] for a in answers)
    in_window = sum(a["in_window"] for a in answers)
    generator_cpu = sum(a["cpu_s"] for a in answers)
    figures: dict[str, Any] = latency_summary(latencies)
    figures["messages"] = relayed - sum(a["undelivered"] for a in answers)
    figures.update(
        {
            "relayed_per_s": round(in_window / window, 1),
            "wall_s": round(wall, 2),
            "server_cpu_s": round(server_cpu, 2),
            # Server CPU per relayed frame: what bounds throughput on a machine of its own.
            "server_cpu_us_per_message": round(server_cpu / figures["messages"] * 1e6, 1)
            if figures["messages"]
            else None,
            "server_cores_busy": round(server_cpu / wall, 2),
            "generator_cpu_s": round(generator_cpu, 2),
            "generator_cores_busy": round(generator_cpu / wall, 2),
            "failures": sum(a["failures"] for a in answers),
            "undelivered_at_end": sum(a["undelivered"] for a in answers),
            "foreign_frames_ignored": sum(a["foreign"] for a in answers),
            "errors": sum(a["error_count"] for a in answers),
            "error_samples": [e for a in answers for e in a["errors"]][:5],
        }
    )
    if figures["errors"] or figures["failures"]:
        log(
            f"  {scenario.label}: {figures['errors']} errors, {figures['failures']} failures: "
            f"{figures['error_samples']}"
        )
    return figures


def idle_memory(generator: Generator, scenario: Scenario, workers: int) -> dict[str, Any]:
    assert scenario.idle is not None
    server = scenario.servers[0]
    warm = scenario.idle[: max(workers, min(50, len(scenario.idle) // 10))]
    # Warm up first (code paths, pools, caches), so the figure is the sockets' and not the first use's.
    generator.run([{"cmd": "open_idle", "sockets": part} for part in split(warm, workers)])
    generator.broadcast({"cmd": "close_idle"})
    time.sleep(1.0)
    before = server.rss_bytes()
    log(f"  {scenario.label}: opening {len(scenario.idle)} idle sockets (RSS {before / 2**20:.1f} MiB)")
    answers = generator.run([{"cmd": "open_idle", "sockets": part} for part in split(scenario.idle, workers)])
    time.sleep(2.0)
    after = server.rss_bytes()
    generator.broadcast({"cmd": "close_idle"})
    time.sleep(1.0 if len(scenario.idle) < 200 else 3.0)
    sockets = sum(a["opened"] for a in answers)
    return {
        "sockets": sockets,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "kib_per_socket": round((after - before) / sockets / 1024, 1),
        "open_seconds": round(max(a["seconds"] for a in answers), 2),
    }


def _servers_cpu(scenario: Scenario) -> float:
    return sum(s.cpu_seconds() for s in scenario.servers)


# --- the run ---------------------------------------------------------------------------------------------


def bridge_consults(seeded: Any, env_a: dict[str, str], urls: tuple[str, str], count: int) -> list[dict[str, Any]]:
    nurse_tokens = {name: mint_tokens(env_a, seeded.accounts[name], count) for name in NURSES}
    doctor_tokens = {name: mint_tokens(env_a, seeded.accounts[name], count) for name in DOCTORS}
    consults = []
    for i in range(count):
        nurse = seeded.accounts[NURSES[i % 2]]
        residents = seeded.residents[nurse.organization_id]
        consults.append(
            {
                "seed": i,
                "nurse_url": urls[0],
                "doctor_url": urls[1],
                "nurse_token": nurse_tokens[nurse.username][i],
                "doctor_token": doctor_tokens[DOCTORS[i % 2]][i],
                "patient_id": residents[(i // 2) % len(residents)],
            }
        )
    return consults


def idle_sockets(seeded: Any, env: dict[str, str], url: str, count: int) -> list[dict[str, Any]]:
    names = (*NURSES, *DOCTORS)
    tokens = {name: mint_tokens(env, seeded.accounts[name], count // len(names) + 1) for name in names}
    return [{"url": url, "token": tokens[names[i % len(names)]][i // len(names)]} for i in range(count)]


def run(args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    from tests.support import free_port

    wanted = set(args.scenarios.split(","))
    results: dict[str, Any] = {}
    generator = Generator(workload.workers, not args.no_compression, 4 * workload.consults + 2 * workload.idle_sockets)
    try:
        # Server logs go to --logs when given (kept), else to a temporary directory.
        tmp = str(args.logs) if args.logs else None
        # The bare relay starts at once: it is idle (and tiny) until its turn.
        with (
            tempfile.TemporaryDirectory(prefix="bench-signal-") as scratch,
            server_processes([ServerSpec("bare", free_port())], tmp := tmp or scratch) as (bare,),
        ):
            log(f"seeding a {args.backend} database; server logs in {tmp}")
            with seeded_database(args.backend, tmp) as seeded:
                if "bridge_one" in wanted:
                    log("bridge, one instance")
                    port = free_port()
                    env = bridge_environment(seeded.url, port, secrets.token_urlsafe(48))
                    with server_processes([ServerSpec("bridge", port, env)], tmp) as (server,):
                        consults = bridge_consults(seeded, env, (server.ws_url, server.ws_url), workload.consults)
                        idle = idle_sockets(seeded, env, server.ws_url, workload.idle_sockets)
                        scenario = Scenario("bridge_one", "bridge, one instance", [server], consults, idle)
                        results["bridge_one"] = measure(generator, scenario, workload, args.profile)
                    generator.broadcast({"cmd": "close_all"})
                    end_consults(seeded.url)
                if "bare" in wanted:
                    log("bare relay")
                    consults = [
                        {"seed": i, "nurse_url": bare.ws_url, "doctor_url": bare.ws_url}
                        for i in range(workload.consults)
                    ]
                    idle = [{"url": f"{bare.ws_url}?id=idle{i}"} for i in range(workload.idle_sockets)]
                    scenario = Scenario("bare", "bare relay", [bare], consults, idle)
                    results["bare"] = measure(generator, scenario, workload, args.profile)
                    generator.broadcast({"cmd": "close_all"})
                if "bridge_two" in wanted and args.skip_redis:
                    log("two instances skipped (--skip-redis)")
                elif "bridge_two" in wanted:
                    log("bridge, two instances through Redis")
                    _require_redis()
                    port_a, port_b = free_port(), free_port()
                    secret = secrets.token_urlsafe(48)
                    env_a = bridge_environment(seeded.url, port_a, secret, REDIS_URL, public_port=port_a)
                    env_b = bridge_environment(seeded.url, port_b, secret, REDIS_URL, public_port=port_a)
                    specs = [ServerSpec("bridge", port_a, env_a), ServerSpec("bridge", port_b, env_b)]
                    with server_processes(specs, tmp) as (a, b):
                        consults = bridge_consults(seeded, env_a, (a.ws_url, b.ws_url), workload.consults)
                        scenario = Scenario("bridge_two", "bridge, two instances (Redis)", [a, b], consults, None)
                        results["bridge_two"] = measure(generator, scenario, workload, args.profile)
                    generator.broadcast({"cmd": "close_all"})
    finally:
        generator.close()
    return results


def end_consults(database_url: str) -> None:
    """Between scenarios on one database: the consults of the last one are over and its sockets gone.

    Done in the database (unmeasured set-up), so that the next servers' timers do not spend the next
    measurement sweeping a thousand abandoned consults into ``reconnecting`` and ``ended``.
    """
    from sqlalchemy import delete, update

    from bridge.db.engine import make_engine
    from bridge.db.tables import Consult, ConsultParticipant, LiveConnection

    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(ConsultParticipant).values(status="left", connection_id=None))
            connection.execute(
                update(Consult)
                .where(Consult.state.not_in(["ended", "declined", "timed_out", "cancelled"]))
                .values(state="ended", end_reason="hung_up", ended_at=datetime.now(UTC), deadline_at=None)
            )
            connection.execute(delete(LiveConnection))
    finally:
        engine.dispose()


def _require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        raise BenchError(
            f"Redis is not reachable at {REDIS_URL} ({exc}); pass --skip-redis to skip two instances"
        ) from exc


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """bridge / bare relay, for each figure that both have."""
    figures = {
        "throughput": ("saturated", "relayed_per_s"),
        "server_cpu_per_message": ("saturated", "server_cpu_us_per_message"),
        "paced_p99": ("paced", "p99_ms"),
        "idle_memory": ("idle_memory", "kib_per_socket"),
    }
    out: dict[str, Any] = {name: {} for name in figures}
    bare = results.get("bare")
    for scenario in ("bridge_one", "bridge_two"):
        mine = results.get(scenario)
        if bare is None or mine is None:
            continue
        for name, (section, figure) in figures.items():
            if section in mine and section in bare:
                out[name][f"{scenario}_over_bare"] = ratio(mine[section][figure], bare[section][figure])
    return out


def evaluate_targets(results: dict[str, Any], report_ratios: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for description, scenario, section, figure, comparison, limit in TARGETS:
        source = report_ratios if scenario == "ratios" else results.get(scenario)
        if source is None or figure not in source.get(section, {}):
            continue
        value = source[section][figure]
        met = value is not None and (
            value < limit if comparison == "<" else value >= limit if comparison == ">=" else value <= limit
        )
        verdicts.append({"target": description, "value": value, "limit": limit, "comparison": comparison, "met": met})
    return verdicts


def table(report: dict[str, Any]) -> str:
    lines = []
    head = (
        f"{'scenario':<31} {'phase':<10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'frames/s':>9} "
        f"{'srv µs/msg':>10} {'srv cores':>9} {'gen cores':>9}"
    )
    lines += [head, "-" * len(head)]
    for result in report["results"].values():
        for name in ("paced", "saturated"):
            f = result[name]
            lines.append(
                f"{result['label']:<31} {name:<10} {f['p50_ms']:>7} {f['p99_ms']:>7} {f['max_ms']:>7} "
                f"{f['relayed_per_s']:>9} {f['server_cpu_us_per_message']:>10} {f['server_cores_busy']:>9} "
                f"{f['generator_cores_busy']:>9}"
            )
    lines.append("")
    for result in report["results"].values():
        if "idle_memory" in result:
            m = result["idle_memory"]
            lines.append(
                f"{result['label']}: {m['kib_per_socket']} KiB per idle socket "
                f"({m['sockets']} sockets, RSS {m['rss_before_mib']} -> {m['rss_after_mib']} MiB)"
            )
        if "quiet" in result:
            lines.append(f"{result['label']}: {result['quiet']['server_cores_busy']} server cores busy with no traffic")
        if "setup" in result and result["setup"]["steps"].get("request"):
            s = result["setup"]
            steps = ", ".join(f"{k} p50 {v['p50_ms']} ms" for k, v in s["steps"].items())
            lines.append(f"{result['label']}: {s['consults']} consults set up in {s['seconds']} s ({steps})")
    lines.append("")
    lines.append("ratios: " + json.dumps(report["ratios"]))
    for verdict in report["targets"]:
        lines.append(f"{'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']}: {verdict['value']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few consults, short phases: a smoke run")
    parser.add_argument("--smoke", action="store_true", help="fewer still: the test suite's check that it runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--backend", choices=BACKENDS, default="postgresql")
    parser.add_argument("--consults", type=int, help="concurrent consults (default 1000; --quick 40)")
    parser.add_argument(
        "--scenarios", default="bridge_one,bare,bridge_two", help="comma-separated subset (for profiling)"
    )
    parser.add_argument(
        "--profile", type=Path, help="directory for py-spy profiles of the servers under saturated load"
    )
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this directory")
    parser.add_argument("--skip-redis", action="store_true", help="leave out the two-instance measurement")
    parser.add_argument("--no-compression", action="store_true", help="clients do not offer permessage-deflate")
    args = parser.parse_args(argv)
    workload = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.consults:
        workload = Workload(**{**asdict(workload), "consults": args.consults})
    if args.backend == "postgresql":
        from tests.support import postgres_available

        if not postgres_available():
            log("PostgreSQL is not reachable at 127.0.0.1:5432/test (or pass --backend sqlite)")
            return 2
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    raise_fd_limit(4 * workload.consults + 2 * workload.idle_sockets + 256)
    started, load_at_start = datetime.now(UTC), load_average()
    try:
        results = run(args, workload)
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    report_ratios = ratios(results)
    report = {
        "command": "python3 tests/benchmarks/bench_signalling.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "quick": args.quick or args.smoke,
        "smoke": args.smoke,
        "backend": args.backend,
        "compression": not args.no_compression,
        "machine": machine(load_at_start),
        "workload": asdict(workload),
        "negotiation": {
            "frames": 2 * FRAMES_PER_SIDE,
            "offer_bytes": len(offer_sdp(0, 2).encode()),
            "answer_bytes": len(answer_sdp(0, 2).encode()),
            "candidates_per_side": CANDIDATES_PER_SIDE,
        },
        "results": results,
        "ratios": report_ratios,
        "targets": evaluate_targets(results, report_ratios),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
