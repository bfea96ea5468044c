"""The loop dashboard benchmark keeps working: a quick in-process run on SQLite reports both figures and
their ratio, and the dashboard it times counted the clocks the run filled (their size is not judged here;
docs/benchmarks.md records real runs)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.benchmarks import bench_loops


def test_a_quick_run_reports_the_dashboard_beside_its_baseline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_loops.py", "--quick", "--json", "--backends", "sqlite", "--loops", "60"])
    bench_loops.main()
    report = json.loads(capsys.readouterr().out)
    figures = report["results"]["sqlite"]
    assert report["quick"] is True and figures["loops"] == 60 and figures["clock_rows"] == 60 * len(bench_loops.CLOCKS)
    # Most clocks were met (a few are left open or still running), and the dashboard counted the met ones.
    assert 0.8 * figures["clock_rows"] <= figures["clocks_met_counted"] <= figures["clock_rows"]
    for target in ("bridge", "baseline"):
        assert figures[target]["runs"] == 3 and 0 < figures[target]["p50_ms"] <= figures[target]["max_ms"]
    assert figures["ratio_p50"] == pytest.approx(figures["bridge"]["p50_ms"] / figures["baseline"]["p50_ms"], rel=0.01)
