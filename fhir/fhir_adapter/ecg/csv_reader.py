"""CSV exports: a header row of lead names, then one row per sample and one column per lead.

- Delimiter: comma, semicolon or tab (whichever the header row uses). UTF-8, with or without BOM.
- Values are microvolts (``units="uV"``, the default) or millivolts (``units="mV"``), decimals allowed.
- The sampling rate comes from the caller or from a comment line before the header,
  ``# sampling_rate=500`` (Hz); when both are given they must agree. Other ``#`` lines are ignored.
- A first column named t, sample or index, or whose name starts with "time" ("time", "Time (s)"), is
  skipped: the rate is what counts.

Values are stored as integers of the finest decimal step the file uses (``12.5`` uV: 0.1 uV units), at most
0.001 uV; anything finer is rounded to that, which is within one quantum. Refused: empty or non-numeric
cells, NaN or infinity, rows of different lengths, values beyond +/-1 V (not an ECG in these units).
"""

from __future__ import annotations

import io
import math
import re

import numpy as np

from fhir_adapter.ecg.lead_codes import normalise_lead_name
from fhir_adapter.ecg.recording import (
    EcgFormatError,
    EcgRecording,
    FloatArray,
    IntArray,
    Lead,
    check_lead_count,
    check_sampling_rate,
)

_UV_PER_UNIT = {"uV": 1.0, "µV": 1.0, "mV": 1000.0}
_MAX_DECIMALS_UV = 3  # finest step kept: 0.001 uV
_LIMIT_UV = 1e6
_INDEX_COLUMNS = frozenset({"t", "sample", "index"})
_RATE_COMMENT = re.compile(r"^#\s*sampling_rate\s*[=:]\s*(?P<rate>\S+)\s*(?:hz)?\s*$", re.IGNORECASE)


def read_csv(data: bytes, *, sampling_rate: float | None = None, units: str = "uV") -> EcgRecording:
    if units not in _UV_PER_UNIT:
        raise EcgFormatError("unsupported", f"CSV units {units!r}: use uV or mV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EcgFormatError("malformed", "the CSV file is not UTF-8 text") from None
    lines = text.splitlines()
    declared_rate, header_index = _leading_comments(lines)
    rate = _rate(sampling_rate, declared_rate)
    if header_index >= len(lines):
        raise EcgFormatError("no-leads", "the CSV file has no header row")
    header = lines[header_index]
    delimiter = next((d for d in (",", ";", "\t") if d in header), ",")
    names = [cell.strip().strip('"').strip() for cell in header.split(delimiter)]
    values = _values(lines[header_index + 1 :], delimiter, len(names), header_index + 2)
    first = 1 if names and _is_time_column(names[0]) else 0
    names, values = names[first:], values[:, first:]
    check_lead_count(len(names))
    if any(not name for name in names):
        raise EcgFormatError("malformed", "a CSV column has no lead name")
    microvolts = values * _UV_PER_UNIT[units]
    if np.abs(microvolts).max(initial=0.0) > _LIMIT_UV:
        raise EcgFormatError("bad-value", f"CSV values beyond +/-1 V: not an ECG in {units}")
    samples, decimals = _quantise(microvolts)
    gain = 1000.0 * 10**decimals  # units per mV when one unit is 10^-decimals uV
    leads = tuple(Lead(normalise_lead_name(name), samples[:, i], gain) for i, name in enumerate(names))
    return EcgRecording(leads, rate, "csv", None, {"csv_units": units})


def _is_time_column(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in _INDEX_COLUMNS or lowered.startswith("time")


def _leading_comments(lines: list[str]) -> tuple[float | None, int]:
    rate, index = None, 0
    while index < len(lines) and (not lines[index].strip() or lines[index].lstrip().startswith("#")):
        match = _RATE_COMMENT.match(lines[index].strip())
        if match:
            rate = _number(match["rate"], "sampling_rate comment")
        index += 1
    return rate, index


def _rate(given: float | None, declared: float | None) -> float:
    if given is None:
        if declared is None:
            raise EcgFormatError(
                "sampling-rate",
                "a CSV ECG needs its sampling rate: pass it, or start the file with # sampling_rate=500",
            )
        return check_sampling_rate(declared)
    if declared is not None and not math.isclose(given, declared, rel_tol=1e-9):
        raise EcgFormatError("sampling-rate", f"the CSV file says {declared:g} Hz but {given:g} Hz was given")
    return check_sampling_rate(given)


def _values(rows: list[str], delimiter: str, columns: int, first_line: int) -> FloatArray:
    body = "\n".join(row for row in rows if row.strip())
    if not body:
        raise EcgFormatError("too-short", "the CSV file has a header but no samples")
    try:
        values = np.loadtxt(io.StringIO(body), delimiter=delimiter, dtype=np.float64, ndmin=2, comments="#")
    except ValueError as exc:
        raise EcgFormatError("malformed", f"CSV sample rows from line {first_line}: {exc}") from None
    if values.shape[1] != columns:
        raise EcgFormatError("lead-length", f"the header names {columns} columns but rows have {values.shape[1]}")
    if not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise EcgFormatError("bad-value", f"the CSV holds NaN or infinite values (first in sample row {row + 1})")
    return values


def _quantise(microvolts: FloatArray) -> tuple[IntArray, int]:
    """Integers in units of 10^-k uV for the smallest k that represents every value exactly."""
    for decimals in range(_MAX_DECIMALS_UV + 1):
        scaled = microvolts * 10**decimals
        rounded = np.rint(scaled)
        # Decimal text such as 0.1 is not exact in binary; a millionth of a step tells rounding from content.
        if np.all(np.abs(scaled - rounded) <= 1e-6):
            return rounded.astype(np.int64), decimals
    return np.rint(microvolts * 10**_MAX_DECIMALS_UV).astype(np.int64), _MAX_DECIMALS_UV


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EcgFormatError("sampling-rate", f"{what}: {text!r} is not a number") from None
