"""The FHIR benchmark keeps working: a quick run on SQLite reports every figure (their size is not judged
here; docs/benchmarks.md records real runs). The ECG it sends is valid R4 to Medplum's validator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fhir_peer import MedplumValidator, assert_all_pass
from tests.support import IN_CI

BENCH = Path(__file__).with_name("bench_fhir.py")
MEASURES = ("create_1", "create_8", "search_1", "search_8", "ecg_create_1")
FIGURES = ("requests", "clients", "p50_ms", "p95_ms", "mean_ms", "max_ms", "per_s")


def require_ecg_record() -> None:
    from tests.benchmarks.bench_fhir import ECG_RECORD

    if not ECG_RECORD.with_suffix(".hea").is_file():
        message = f"{ECG_RECORD} is missing (shared/ is expected beside the repository)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_a_quick_run_reports_every_figure(tmp_path: Path) -> None:
    require_ecg_record()
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", "--backends", "sqlite"],
        cwd=tmp_path,  # the script must find the repository by itself
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout)
    assert report["quick"] is True and report["machine"]["cpus"] >= 1
    assert list(report["results"]) == ["sqlite"]
    results = report["results"]["sqlite"]
    for measure in MEASURES:
        for target in ("bridge", "baseline"):
            figures = results[measure][target]
            assert all(isinstance(figures[f], int | float) and figures[f] > 0 for f in FIGURES), (measure, figures)
            assert figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
            # CPU time comes in clock ticks (often 10 ms), so a few quick requests may show none.
            assert figures["server_cpu_ms"] is None or figures["server_cpu_ms"] >= 0
        assert set(results[measure]["ratio"]) == {"p50", "p95", "per_s", "server_cpu"}
    assert results["create_8"]["bridge"]["clients"] == 8
    verdicts = {(v["measure"], v["backend"]) for v in report["targets"]}
    assert verdicts == {("create_1", "sqlite"), ("ecg_create_1", "sqlite")}  # the 200/s target is PostgreSQL's
    assert all(isinstance(v["met"], bool) for v in report["targets"])


def test_the_benchmark_ecg_is_a_valid_12_lead_10_second_observation(medplum: MedplumValidator) -> None:
    require_ecg_record()
    from tests.benchmarks.bench_fhir import twelve_lead_ecg

    ecg = json.loads(twelve_lead_ecg("demo-resident-01"))
    assert len(ecg["component"]) == 12
    for component in ecg["component"]:
        sampled = component["valueSampledData"]
        assert len(sampled["data"].split()) == 5000 and sampled["period"] == 2  # 10 s at 500 Hz
    assert_all_pass(medplum.validate([ecg]))
