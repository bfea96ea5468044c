"""Shared helpers of the ECG tests: the sample files of ../shared/data/ecg and the one-quantum check."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir_adapter.ecg import EcgRecording, read_ecg

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "ecg"

# Every ECG sample file, as the upload that carries it.
SAMPLE_UPLOADS: dict[str, tuple[str, ...]] = {
    "mitbih-100": ("100.hea", "100.dat"),
    "ptb-s0010": ("s0010_re.hea", "s0010_re.dat", "s0010_re.xyz"),
    "aecg-example": ("aecg/Example_aECG.xml",),
    "aecg-subject1": ("aecg/subject1_0.xml",),
    "scp-example": ("scp/Example.scp",),
}


def data_bytes(relative: str) -> bytes:
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is missing (shared/data beside the repository)")
    return path.read_bytes()


def upload(*relative: str) -> dict[str, bytes]:
    """Files by their upload name (the base name), as the ingest route passes them."""
    return {Path(name).name: data_bytes(name) for name in relative}


@cache
def sample_recording(key: str) -> EcgRecording:
    """Each sample file read once per test session (record 100 alone is 1.3 million samples)."""
    return read_ecg(upload(*SAMPLE_UPLOADS[key]))


def component_microvolts(component: Mapping[str, Any]) -> np.ndarray:
    """What a FHIR reader computes from a SampledData component: origin + factor x data."""
    sampled = component["valueSampledData"]
    assert sampled["origin"]["code"] == "uV"
    data = np.array(sampled["data"].split(), dtype=np.float64)
    return sampled["origin"]["value"] + sampled["factor"] * data


def assert_within_one_quantum(observation: Mapping[str, Any], expected_uv: Mapping[str, np.ndarray]) -> None:
    """Each lead component reproduces the source's values (microvolts) within one ADC unit."""
    components = {c["code"].get("text", ""): c for c in observation["component"] if "valueSampledData" in c}
    assert len(components) == len(expected_uv)
    for name, expected in expected_uv.items():
        component = components.get(f"Lead {name}") or components[name]
        got = component_microvolts(component)
        quantum = component["valueSampledData"]["factor"]
        assert got.shape == expected.shape, name
        worst = float(np.max(np.abs(got - expected)))
        assert worst <= quantum, f"lead {name}: off by {worst} uV, one quantum is {quantum} uV"
