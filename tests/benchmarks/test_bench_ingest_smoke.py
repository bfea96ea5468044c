"""The ingestion benchmark keeps working: a smoke run (``--smoke``, the fewest messages that give every
figure) reports every figure without an error (their size is not judged here; docs/benchmarks.md records
real runs). What it sends is what the bridge takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI, require_postgres

BENCH = Path(__file__).with_name("bench_ingest.py")
PHASES = ("http_1", "http_4", "mllp_1", "mllp_4", "ecg_1")
FIGURES = ("messages", "p50_ms", "p95_ms", "max_ms", "per_s", "server_cpu_ms_per_message")
BASELINES = ("hl7_parse", "bridge_parse_oru", "bridge_parse_oru_to_fhir", "wfdb_rdrecord", "bridge_read_ecg")


def require_samples() -> None:
    from tests.benchmarks.ingest_bench_support import ECG_SOURCE, HL7_DIR

    if not ECG_SOURCE.with_suffix(".hea").is_file() or not any(HL7_DIR.glob("*.hl7")):
        message = f"{HL7_DIR} or {ECG_SOURCE} is missing (shared/ is expected beside the repository)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_a_quick_run_reports_every_figure_without_errors(tmp_path: Path) -> None:
    # PostgreSQL, as production runs: on SQLite concurrent senders are refused ("database is locked").
    require_postgres()
    require_samples()
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json"],
        cwd=tmp_path,  # the script must find the repository by itself
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout)
    assert report["quick"] is True and report["smoke"] is True and report["backend"] == "postgresql"
    assert len(report["machine"]["load_average_1_5_15_at_start"]) == 3
    results = report["results"]
    assert report["errors"] == 0, {p: results[p]["error_samples"] for p in PHASES} | {
        "server": results["server_errors"],
        "page": results["page_socket"]["errors"],
    }
    for phase in PHASES:
        figures = results[phase]
        assert all(number(figures[f]) and figures[f] >= 0 for f in FIGURES), (phase, figures)
        assert figures["messages"] > 0 and figures["stored"] == figures["messages"], phase
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"], phase
        assert figures["per_s"] > 0 and figures["resources_stored"] > 0, phase
        page = figures["to_page"]
        assert page["missing"] == 0 and page["messages"] == figures["stored"], phase
        assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"], phase
    assert results["http_4"]["clients"] == results["mllp_4"]["clients"] == 4
    for kind in ("hl7", "ecg"):
        assert results["page"][kind]["to_page"]["messages"] == report["workload"][f"page_{kind}"]
    assert results["page"]["all"]["missing"] == 0 and number(results["page"]["all"]["p95_ms"])
    for baseline in BASELINES:
        figures = results["baselines"][baseline]
        assert figures["per_s"] > 0 and figures["p50_ms"] > 0, baseline
    assert results["samples"]["stored"], "the bridge stored none of the sample messages"
    assert all(number(value) and value > 0 for value in report["ratios"].values()), report["ratios"]
    targets = report["targets"]
    assert len(targets) == 3 and all(isinstance(t["met"], bool) and number(t["value"]) for t in targets)


def test_what_is_sent_is_a_fresh_result_from_the_laboratory(tmp_path: Path) -> None:
    require_samples()
    from fhir_adapter.ecg import read_ecg
    from fhir_adapter.hl7v2 import parse_oru

    from tests.benchmarks.ingest_bench_support import crop_ecg, ecg_files, prepared, sample_messages

    template = sample_messages()["msft_LRI_2.0-NG_CBC_Typ_Message.hl7"]
    first, second = (parse_oru(prepared(template, "H1-0003")) for _ in range(2))
    for message in (first, second):
        assert message.sending_facility == "DEMOLAB"
        assert [i.value for i in message.patient.identifiers] == ["H1-0003"]
    assert first.control_id != second.control_id  # not answered from the receipts
    assert {o.key for o in first.orders}.isdisjoint(o.key for o in second.orders)  # not a correction
    recording = read_ecg(ecg_files(crop_ecg(tmp_path)))
    assert len(recording.leads) == 12 and recording.duration_s == pytest.approx(10)
