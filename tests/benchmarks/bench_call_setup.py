#!/usr/bin/env python3
"""From a nurse's consult request to the first video frame decoded at the doctor, through the real server.

    python3 tests/benchmarks/bench_call_setup.py [--quick] [--json] [--backend postgresql|sqlite] [--calls N]

The bridge runs as ``bridge serve`` runs it (``python3 -m bridge serve``, a process of its own) on a
fresh seeded database. In this process, two real aiortc peers (rtc.mesh.MeshPeer over
rtc.signalling_client.SignallingClient, the code the station agent uses):

- the doctor's page: its socket sends ``queue.watch``; when ``queue.ring`` arrives it sends
  ``consult.accept`` and joins (``consult.join``, then an offer to the nurse), receiving video;
- the nurse's side: its socket sends ``consult.request`` for a resident, then joins the consult it got
  back; it sends a 320x240, 15 fps test pattern (rtc.media.TestPatternVideoTrack).

One call: from just before the nurse's ``consult.request`` is sent to the moment the doctor's peer has
the first decoded video frame of the call (``track.recv()`` returns an av.VideoFrame). Then the nurse
ends the consult and the next call starts on the same two sockets, as pages that stay open do.
A first call warms up (codecs, imports) and is not counted. Target: p95 < 1 s.

ICE: the server has no STUN/TURN configured, so the welcome's ice_servers is empty and the peers use
host candidates only; aiortc ignores 127.0.0.1, so they meet over the machine's other interface.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.signal_bench_support import (  # noqa: E402
    BenchError,
    ServerSpec,
    bridge_environment,
    latency_summary,
    load_average,
    log,
    machine,
    mint_tokens,
    seeded_database,
    server_processes,
)

BACKENDS = ("postgresql", "sqlite")
FULL_CALLS, QUICK_CALLS = 20, 3
CALL_TIMEOUT_S = 20.0
TARGET_P95_MS = 1000.0
MARKS = ("rung", "accepted", "joined", "nurse_connecting", "first_frame")


@dataclass
class Call:
    """Timestamps of one call (perf_counter seconds), from the nurse's request onwards."""

    requested: float
    marks: dict[str, float] = field(default_factory=dict)
    consult_id: str = ""

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter())

    def since_request_ms(self) -> dict[str, float]:
        return {name: round((at - self.requested) * 1000, 1) for name, at in self.marks.items()}


class Doctor:
    """The doctor's page: watches the queue, accepts every ring, joins and watches the video."""

    def __init__(self, client: Any) -> None:
        from rtc.mesh import MeshPeer

        self.client = client
        self.call: Call | None = None
        self.first_frame = asyncio.Event()
        self.peer: MeshPeer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        client.on("queue.ring", self._rung)

    def expect(self, call: Call) -> None:
        self.call = call
        self.first_frame = asyncio.Event()

    async def _rung(self, message: dict[str, Any]) -> None:
        from rtc.mesh import MeshPeer

        call = self.call
        if call is None:
            return
        call.mark("rung")
        consult_id = message["item"]["consult_id"]
        await self.client.request("consult.accept", consult_id=consult_id)
        call.mark("accepted")
        if self.peer is not None:
            await self.peer.close()
        self.peer = MeshPeer(self.client, on_track=self._track)
        await self.peer.join(consult_id)
        call.mark("joined")

    def _track(self, pid: str, track: Any) -> None:
        task = asyncio.create_task(self._watch(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        call = self.call
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()  # decoded: an av.VideoFrame (or AudioFrame)
                if track.kind == "video" and call is not None and "first_frame" not in call.marks:
                    call.mark("first_frame")
                    assert frame.width > 0
                    self.first_frame.set()

    async def close(self) -> None:
        if self.peer is not None:
            await self.peer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def one_call(nurse_client: Any, doctor: Doctor, patient_id: str, media: Any) -> Call:
    from rtc.mesh import MeshPeer

    nurse = MeshPeer(nurse_client, media=media)

    def answered(pid: str, state: str) -> None:
        if state == "connecting":
            call.mark("nurse_connecting")

    nurse.on_peer_state = answered
    call = Call(requested=time.perf_counter())
    doctor.expect(call)
    try:
        reply = await nurse_client.request(
            "consult.request", patient_id=patient_id, urgency="routine", reason="benchmark call"
        )
        call.consult_id = reply["consult"]["id"]
        await nurse.join(call.consult_id)  # the nurse's page follows the consult it asked for
        await asyncio.wait_for(doctor.first_frame.wait(), CALL_TIMEOUT_S)
    except TimeoutError as exc:
        raise BenchError(f"no video at the doctor within {CALL_TIMEOUT_S} s (marks {call.since_request_ms()})") from exc
    finally:
        if call.consult_id:
            with contextlib.suppress(Exception):
                await nurse_client.request("consult.end", consult_id=call.consult_id)
        await nurse.close()
    return call


async def run_calls(ws_url: str, nurse_token: str, doctor_token: str, patient_id: str, calls: int) -> list[Call]:
    from rtc.media import LocalMedia, TestPatternVideoTrack
    from rtc.signalling_client import SignallingClient

    nurse_client = SignallingClient(ws_url, token=nurse_token)
    doctor_client = SignallingClient(ws_url, token=doctor_token)
    await nurse_client.connect()
    await doctor_client.connect()
    doctor = Doctor(doctor_client)
    results: list[Call] = []
    try:
        await doctor_client.request("queue.watch")
        for n in range(calls + 1):
            media = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
            try:
                call = await one_call(nurse_client, doctor, patient_id, media)
            finally:
                media.close()
            if n == 0:
                log(f"  warm-up call: first frame after {call.since_request_ms()['first_frame']} ms (not counted)")
            else:
                results.append(call)
                log(f"  call {n}: {call.since_request_ms()}")
            await asyncio.sleep(0.2)  # the ended consult's last messages settle before the next request
    finally:
        await doctor.close()
        await doctor_client.close()
        await nurse_client.close()
    return results


def measure(backend: str, calls: int) -> dict[str, Any]:
    from tests.support import free_port

    with tempfile.TemporaryDirectory(prefix="bench-call-") as tmp:
        log(f"seeding a {backend} database")
        with seeded_database(backend, tmp) as seeded:
            port = free_port()
            env = bridge_environment(seeded.url, port, secrets.token_urlsafe(48))
            nurse = seeded.accounts["nurse1"]
            (nurse_token,) = mint_tokens(env, nurse, 1)
            (doctor_token,) = mint_tokens(env, seeded.accounts["doctor"], 1)
            patient_id = seeded.residents[nurse.organization_id][0]
            with server_processes([ServerSpec("bridge", port, env)], tmp) as (server,):
                log(f"bridge serve on port {port} (pid {server.pid}); {calls} calls")
                cpu_before = server.cpu_seconds()
                results = asyncio.run(run_calls(server.ws_url, nurse_token, doctor_token, patient_id, calls))
                server_cpu = server.cpu_seconds() - cpu_before
    first = [c.marks["first_frame"] - c.requested for c in results]
    steps = {
        name: latency_summary([c.marks[name] - c.requested for c in results if name in c.marks])
        for name in MARKS
        if name != "first_frame"
    }
    return {
        "calls": len(results),
        "request_to_first_frame": latency_summary(first),
        "milestones_since_request": steps,
        "server_cpu_ms_per_call": round(server_cpu / (len(results) + 1) * 1000, 1),
        "per_call_ms": [c.since_request_ms() for c in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CALLS} calls instead of {FULL_CALLS}")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.add_argument("--backend", choices=BACKENDS, default="postgresql")
    parser.add_argument("--calls", type=int, help="calls to measure (after one warm-up call)")
    args = parser.parse_args(argv)
    calls = args.calls or (QUICK_CALLS if args.quick else FULL_CALLS)
    if args.backend == "postgresql":
        from tests.support import postgres_available

        if not postgres_available():
            log("PostgreSQL is not reachable at 127.0.0.1:5432/test (or pass --backend sqlite)")
            return 2
    started, load_at_start = datetime.now(UTC), load_average()
    try:
        result = measure(args.backend, calls)
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    figures = result["request_to_first_frame"]
    p95 = figures["p95_ms"]
    report = {
        "command": "python3 tests/benchmarks/bench_call_setup.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "quick": args.quick,
        "backend": args.backend,
        "machine": machine(load_at_start),
        "method": {
            "server": "python3 -m bridge serve, one process, separate from the peers",
            "peers": "two aiortc MeshPeers in this process; nurse sends a 320x240 15 fps test pattern",
            "doctor": "watches the queue; on queue.ring: consult.accept, consult.join, offer to the nurse",
            "measured": "consult.request sent (nurse) -> first decoded video frame (doctor)",
            "warm_up_calls": 1,
        },
        "result": result,
        "targets": [
            {
                "target": "request to first frame p95 < 1 s",
                "value": p95,
                "limit": TARGET_P95_MS,
                "met": p95 is not None and p95 < TARGET_P95_MS,
            }
        ],
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        steps = result["milestones_since_request"]
        print(f"{result['calls']} calls, request -> first decoded frame at the doctor:")
        print(f"  p50 {figures['p50_ms']} ms, p95 {p95} ms, max {figures['max_ms']} ms")
        for name, s in steps.items():
            print(f"  {name:<15} p50 {s['p50_ms']} ms after the request")
        verdict = report["targets"][0]
        print(f"{'MET   ' if verdict['met'] else 'MISSED'} {verdict['target']}: {p95} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
