"""The in-memory ECG every reader produces: leads of raw integer samples with their calibration.

Samples stay as the source's integers (ADC units) so nothing is lost to rounding; a lead's physical value
is ``(sample - baseline) / gain`` millivolts. Constructing an ``EcgRecording`` checks what every format
must satisfy (at least one lead, equal lengths, a plausible sampling rate), so each reader gets these
refusals for free and the caller only ever sees ``EcgFormatError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# 100 Hz: below it a QRS complex (80-120 ms) gets fewer than ten samples and the 40 Hz a rhythm strip needs
# is above Nyquist. Holter recorders at 125-256 Hz still pass; diagnostic 12-lead devices record at 500 Hz+.
MIN_SAMPLING_RATE_HZ = 100.0
# 20 kHz: pacemaker-spike capture tops out around 16 kHz; anything faster is not an ECG.
MAX_SAMPLING_RATE_HZ = 20_000.0
# 256 covers body-surface maps; a header claiming more is damaged or hostile.
MAX_LEADS = 256
# A rhythm strip shorter than a second holds no complete beat at 60/min.
MIN_DURATION_S = 1.0


class EcgFormatError(ValueError):
    """An input that cannot become an ECG; ``code`` is stable for programs, ``reason`` is for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def check_sampling_rate(rate: float) -> float:
    """The rate as a float, or EcgFormatError("sampling-rate") outside the accepted range."""
    if not math.isfinite(rate) or rate <= 0:
        raise EcgFormatError("sampling-rate", f"the sampling rate {rate} Hz is not a positive number")
    if rate < MIN_SAMPLING_RATE_HZ:
        raise EcgFormatError(
            "sampling-rate",
            f"the sampling rate {rate:g} Hz is below {MIN_SAMPLING_RATE_HZ:g} Hz, too slow for a diagnostic ECG",
        )
    if rate > MAX_SAMPLING_RATE_HZ:
        raise EcgFormatError(
            "sampling-rate", f"the sampling rate {rate:g} Hz is above {MAX_SAMPLING_RATE_HZ:g} Hz, not an ECG"
        )
    return float(rate)


def check_lead_count(count: int) -> None:
    if count <= 0:
        raise EcgFormatError("no-leads", "the recording has no ECG leads")
    if count > MAX_LEADS:
        raise EcgFormatError("too-large", f"{count} leads declared; at most {MAX_LEADS} are accepted")


@dataclass(frozen=True, eq=False)
class Lead:
    """One lead: raw samples and the calibration that turns them into millivolts."""

    name: str  # I, II, III, aVR, aVL, aVF, V1..V6 when recognised, else the source's own name (MLII, vx)
    samples: IntArray  # read-only, 1-D
    gain: float  # ADC units per mV
    baseline: float = 0.0  # the ADC value of 0 mV (usually integral)
    adc_range: tuple[int, int] | None = None  # smallest and largest value the source's ADC can hold, if known

    def __post_init__(self) -> None:
        given = np.asarray(self.samples)
        if given.dtype.kind not in "iu":
            # Raw ADC values are integers; a float here would be a reader that lost the calibration.
            raise EcgFormatError("malformed", f"lead {self.name!r} has {given.dtype} samples, not integers")
        samples = np.array(given, dtype=np.int64, copy=True)
        if samples.ndim != 1:
            raise EcgFormatError("malformed", f"lead {self.name!r} is not a one-dimensional series")
        samples.setflags(write=False)
        object.__setattr__(self, "samples", samples)
        if not self.name.strip():
            raise EcgFormatError("malformed", "a lead has no name")
        if not math.isfinite(self.gain) or self.gain <= 0:
            raise EcgFormatError("malformed", f"lead {self.name} has an unusable gain {self.gain}")
        if not math.isfinite(self.baseline):
            raise EcgFormatError("malformed", f"lead {self.name} has an unusable baseline {self.baseline}")

    @property
    def quantum_uv(self) -> float:
        """One ADC unit in microvolts."""
        return 1000.0 / self.gain

    def millivolts(self) -> FloatArray:
        return (self.samples.astype(np.float64) - self.baseline) / self.gain

    def window(self, start: int, stop: int) -> Lead:
        return Lead(self.name, self.samples[start:stop], self.gain, self.baseline, self.adc_range)


@dataclass(frozen=True, eq=False)
class EcgRecording:
    """Simultaneously sampled leads of one ECG, as a reader found them.

    ``offset_s`` and ``source_duration_s`` are set on an extract (see ``extract.display_extract``): where
    the window starts in the source and how long the source is. A whole recording has offset 0 and
    ``source_duration_s`` None.
    """

    leads: tuple[Lead, ...]
    sampling_rate: float  # Hz
    source_format: str  # wfdb | hl7-aecg | scp-ecg | dicom | csv
    start: datetime | None = None  # first sample; naive when the source gives no time zone
    metadata: Mapping[str, str] = field(default_factory=dict)  # device model, manufacturer, comments
    offset_s: float = 0.0
    source_duration_s: float | None = None

    def __post_init__(self) -> None:
        check_lead_count(len(self.leads))
        object.__setattr__(self, "leads", tuple(self.leads))
        object.__setattr__(self, "sampling_rate", check_sampling_rate(self.sampling_rate))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        lengths = {lead.name: lead.samples.size for lead in self.leads}
        if len(lengths) != len(self.leads):
            names = [lead.name for lead in self.leads]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            raise EcgFormatError("malformed", f"lead names repeat: {', '.join(duplicates)}")
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{name} {count}" for name, count in lengths.items())
            raise EcgFormatError("lead-length", f"the leads have different numbers of samples ({described})")
        if self.duration_s < MIN_DURATION_S:
            raise EcgFormatError(
                "too-short",
                f"{self.n_samples} samples at {self.sampling_rate:g} Hz last {self.duration_s:.3f} s, "
                f"less than {MIN_DURATION_S:g} s",
            )

    @property
    def n_samples(self) -> int:
        return int(self.leads[0].samples.size)

    @property
    def duration_s(self) -> float:
        """Seconds covered by these samples."""
        return self.n_samples / self.sampling_rate

    @property
    def duration(self) -> float:
        """The same as ``duration_s``."""
        return self.duration_s

    @property
    def is_extract(self) -> bool:
        return self.source_duration_s is not None

    @property
    def lead_names(self) -> tuple[str, ...]:
        return tuple(lead.name for lead in self.leads)

    def lead(self, name: str) -> Lead:
        for lead in self.leads:
            if lead.name == name:
                return lead
        raise KeyError(name)
