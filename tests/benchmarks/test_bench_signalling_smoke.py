"""The signalling benchmarks keep working: short runs (bench_signalling.py ``--smoke``, bench_call_setup.py
``--quick``) report every figure (their size is not judged here; docs/benchmarks.md records real runs).
The payloads they relay are what the protocol accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI

HERE = Path(__file__).parent
PHASE_FIGURES = ("messages", "p50_ms", "p99_ms", "max_ms", "relayed_per_s", "server_cpu_us_per_message")


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis(socket_connect_timeout=2).ping())
    except Exception:
        return False


def run_bench(tmp_path: Path, script: str, *args: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, str(HERE / script), "--json", "--backend", "sqlite", *args],
        cwd=tmp_path,  # the script must find the repository by itself
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report: dict[str, object] = json.loads(completed.stdout)
    return report


def test_a_quick_signalling_run_reports_every_figure(tmp_path: Path) -> None:
    with_redis = redis_available()
    if not with_redis and IN_CI:
        pytest.fail("Redis is required in CI")
    report = run_bench(tmp_path, "bench_signalling.py", "--smoke", *([] if with_redis else ["--skip-redis"]))
    assert report["quick"] is True and report["smoke"] is True
    results = report["results"]
    assert isinstance(results, dict)
    expected = {"bridge_one", "bare", "bridge_two"} if with_redis else {"bridge_one", "bare"}
    assert set(results) == expected
    for key, result in results.items():
        for phase in ("paced", "saturated"):
            figures = result[phase]
            assert all(isinstance(figures[f], int | float) and figures[f] > 0 for f in PHASE_FIGURES), (key, figures)
            assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
            # No protocol errors; slowness (late or undelivered frames) is a figure, not a failure.
            assert figures["errors"] == 0, figures["error_samples"]
            # every consult negotiated at least once: 12 frames each
            assert figures["messages"] + figures["undelivered_at_end"] >= 12 * result["setup"]["consults"]
        if key != "bare":
            assert result["setup"]["consults"] == report["workload"]["consults"]  # type: ignore[index]
            assert set(result["setup"]["steps"]) == {"connect", "request", "accept", "join"}
    for key in ("bridge_one", "bare"):
        memory = results[key]["idle_memory"]
        assert memory["sockets"] == report["workload"]["idle_sockets"] and memory["kib_per_socket"] > 0  # type: ignore[index]
    ratios = report["ratios"]
    assert isinstance(ratios, dict) and ratios["throughput"]["bridge_one_over_bare"] > 0
    targets = report["targets"]
    assert isinstance(targets, list) and len(targets) == (4 if with_redis else 3)
    assert all(isinstance(t["met"], bool) for t in targets)


def test_a_quick_call_setup_run_reports_every_figure(tmp_path: Path) -> None:
    report = run_bench(tmp_path, "bench_call_setup.py", "--quick")
    result = report["result"]
    assert isinstance(result, dict) and result["calls"] == 3
    figures = result["request_to_first_frame"]
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
    for call in result["per_call_ms"]:
        # the milestones of a call come in protocol order
        assert call["rung"] <= call["accepted"] <= call["joined"] <= call["first_frame"]
    targets = report["targets"]
    assert isinstance(targets, list) and isinstance(targets[0]["met"], bool)


def test_the_relayed_payloads_are_valid_protocol_frames() -> None:
    from bridge.signalling.protocol import parse_frame
    from tests.benchmarks.signal_bench_support import answer_sdp, candidates, offer_sdp

    offer, answer = offer_sdp(3, 2), answer_sdp(3, 2)
    assert 5000 < len(offer) < 7000 and 3000 < len(answer) < 5000  # the size of Chrome's
    frames = [
        {"v": 1, "type": "signal.offer", "consult_id": "c", "to": "p-1", "sdp": offer},
        {"v": 1, "type": "signal.answer", "consult_id": "c", "to": "p-1", "sdp": answer},
        {"v": 1, "type": "signal.candidate", "consult_id": "c", "to": "p-1", "candidate": None},
    ]
    frames += [
        {"v": 1, "type": "signal.candidate", "consult_id": "c", "to": "p-1", "candidate": c} for c in candidates(3)
    ]
    for frame in frames:
        assert parse_frame(json.dumps(frame)).type == frame["type"]


def test_the_candidates_parse_as_ice_candidates() -> None:
    from rtc.mesh import parse_candidate
    from tests.benchmarks.signal_bench_support import candidates

    kinds = [parse_candidate(c).type for c in candidates(11)]
    assert kinds == ["host", "host", "srflx", "relay"]
