"""SCP-ECG (EN 1064) default Huffman decoding and difference reconstruction.

The default table (used when section 2 is absent or holds the number 19999) is a unary code: ``0`` is 0;
``k`` ones, a zero and a sign bit are +k or -k for k = 1..8; nine ones and a zero are followed by the
value as an 8-bit two's complement, ten ones by a 16-bit one. Bits are read most significant first.

The decoder is a Python loop over samples (about 60,000 for a 12-lead 10 s ECG), kept tight by
precomputing, for every bit position, the run of ones starting there.
"""

from __future__ import annotations

import numpy as np

from fhir_adapter.ecg.recording import EcgFormatError, IntArray

DEFAULT_TABLE_MARKER = 19999
_MAX_RUN = 10  # the longest prefix of ones the default table uses
_PADDING = 26  # the longest code: ten ones and 16 value bits


def decode_default(data: bytes, count: int, *, what: str) -> IntArray:
    """``count`` values Huffman-coded with the default table in ``data``; ``what`` names the lead in errors."""
    available = len(data) * 8
    # Every value takes at least one bit: a claim of more values than bits is a lie, refused before any
    # allocation of its size.
    if count > available:
        raise EcgFormatError("truncated", f"{what}: {count} samples declared but only {len(data)} bytes of data")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    padded = np.concatenate([bits, np.zeros(_PADDING, dtype=np.uint8)])
    runs = np.zeros(available, dtype=np.int64)
    alive = np.ones(available, dtype=bool)
    for offset in range(_MAX_RUN):
        alive &= padded[offset : offset + available] == 1
        runs += alive
    run_at = runs.tolist()
    bit_at = padded.tolist()
    out = [0] * count
    pos = 0
    for index in range(count):
        if pos >= available:
            raise EcgFormatError("truncated", f"{what}: the data ends after {index} of {count} samples")
        run = run_at[pos]
        if run == 0:
            pos += 1
        elif run < 9:
            out[index] = -run if bit_at[pos + run + 1] else run
            pos += run + 2
        elif run == 9:
            out[index] = _signed(bit_at, pos + 10, 8)
            pos += 18
        else:
            out[index] = _signed(bit_at, pos + 10, 16)
            pos += 26
    if pos > available:
        raise EcgFormatError("truncated", f"{what}: the last sample runs past the end of the data")
    return np.array(out, dtype=np.int64)


def _signed(bits: list[int], start: int, width: int) -> int:
    value = 0
    for bit in bits[start : start + width]:
        value = (value << 1) | bit
    return value - (1 << width) if value >> (width - 1) else value


def undo_differences(values: IntArray, order: int, *, what: str) -> IntArray:
    """Samples from their first (order 1) or second (order 2) differences; order 0 is the samples.

    Second differences are ``d[n] = x[n] - 2x[n-1] + x[n-2]`` with x[0], x[1] stored as they are, so the
    first differences ``x[n] - x[n-1]`` are a running sum of d from n = 2 on, and x their running sum.
    """
    if order == 0:
        return values
    if order == 1:
        return np.cumsum(values)
    if order == 2:
        if values.size < 3:
            return values.copy()
        first = np.empty_like(values)
        first[0] = values[0]
        first[1] = values[1] - values[0]
        first[2:] = first[1] + np.cumsum(values[2:])
        return np.cumsum(first)
    raise EcgFormatError("unsupported", f"{what}: difference encoding {order} is not defined by SCP-ECG")
