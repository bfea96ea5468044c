"""PhysioNet WFDB records: a ``.hea`` header and the signal files it names, read with the ``wfdb`` package.

``wfdb`` reads from a directory, so the uploaded files are written to a private temporary one under the
names the header gives. Before any signal is read, the header is checked against the bytes actually
uploaded: every signal file present, and long enough for the samples the header declares (so a small file
claiming hours of signal is refused before anything of that size is allocated). After reading, each
signal's checksum from the header is compared with the samples.

Supported: single-segment records in the uncompressed formats wfdb reads (8, 16, 24, 32, 61, 80, 160, 212,
310, 311), one sample per frame, voltage units (signals in other units, such as a blood pressure channel,
are dropped and named in ``metadata["dropped_signals"]``). Refused: multi-segment records, FLAC formats,
several samples per frame, missing or short signal files, checksum mismatches.
"""

from __future__ import annotations

import logging
import re
import tempfile
import warnings
from collections.abc import Mapping
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from fhir_adapter.ecg.lead_codes import normalise_lead_name
from fhir_adapter.ecg.recording import (
    EcgFormatError,
    EcgRecording,
    IntArray,
    Lead,
    check_lead_count,
    check_sampling_rate,
)

with warnings.catch_warnings():
    # wfdb 4.3 builds its annotation table at import time with a pandas call pandas 3.1 deprecates
    # (DataFrame.set_index(inplace=True)); harmless, and not ours to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    import wfdb  # type: ignore[import-untyped]  # untyped; used only in _read_header and _read_digital

logger = logging.getLogger(__name__)

# Bits each sample takes in the file, per WFDB format (310 and 311 pack three samples in four bytes).
_BITS_PER_SAMPLE = {
    "8": Fraction(8),
    "16": Fraction(16),
    "24": Fraction(24),
    "32": Fraction(32),
    "61": Fraction(16),
    "80": Fraction(8),
    "160": Fraction(16),
    "212": Fraction(12),
    "310": Fraction(32, 3),
    "311": Fraction(32, 3),
}
_MV_PER_UNIT = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "nv": 1e-6, "v": 1000.0}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def read_wfdb(files: Mapping[str, bytes]) -> EcgRecording:
    """The record whose ``.hea`` is among ``files`` (by upload name); other files are its signal files."""
    headers = [name for name in files if name.lower().endswith(".hea")]
    if len(headers) != 1:
        raise EcgFormatError("malformed", f"a WFDB upload needs exactly one .hea file, got {len(headers)}")
    header_name = headers[0]
    record_name = header_name[: -len(".hea")]
    _check_safe(header_name)
    with tempfile.TemporaryDirectory(prefix="ecg-wfdb-") as tmp:
        directory = Path(tmp)
        (directory / header_name).write_bytes(files[header_name])
        header = _read_header(directory / record_name)
        _check_header(header, header_name)
        for signal_file in dict.fromkeys(header["file_name"]):
            _check_safe(signal_file)
            if signal_file not in files:
                raise EcgFormatError("missing-file", f"{header_name} names the signal file {signal_file}, not uploaded")
            _check_size(header, signal_file, len(files[signal_file]), header_name)
            (directory / signal_file).write_bytes(files[signal_file])
        digital = _read_digital(directory / record_name)
    _check_checksums(header, digital, header_name)
    return _recording(header, digital)


def _check_safe(name: str) -> None:
    # Names become paths in the temporary directory: no separators, no "..", nothing hidden.
    if not _SAFE_NAME.match(name) or ".." in name:
        raise EcgFormatError("malformed", f"unsafe WFDB file name {name!r}")


def _read_header(path: Path) -> dict[str, Any]:
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:
        raise EcgFormatError("malformed", f"the WFDB header cannot be parsed ({exc})") from None
    if hasattr(header, "seg_name"):
        raise EcgFormatError("unsupported", "multi-segment WFDB records are not supported")
    fields: dict[str, Any] = dict(vars(header))
    return fields


def _check_header(header: dict[str, Any], header_name: str) -> None:
    check_lead_count(int(header["n_sig"] or 0))
    check_sampling_rate(float(header["fs"]))
    for fmt in header["fmt"]:
        if fmt not in _BITS_PER_SAMPLE:
            raise EcgFormatError("unsupported", f"{header_name}: WFDB signal format {fmt} is not supported")
    if any(spf not in (None, 1) for spf in header["samps_per_frame"]):
        raise EcgFormatError("unsupported", f"{header_name}: signals with several samples per frame are not supported")


def _check_size(header: dict[str, Any], signal_file: str, actual: int, header_name: str) -> None:
    """The signal file holds at least the samples the header declares (all of its signals, every frame)."""
    sig_len = header["sig_len"]
    if not sig_len:
        return  # no length declared: wfdb reads what the file holds, which bounds the allocation
    in_file = [i for i, name in enumerate(header["file_name"]) if name == signal_file]
    bits = sum((_BITS_PER_SAMPLE[header["fmt"][i]] for i in in_file), Fraction(0))
    offset = header["byte_offset"][in_file[0]] or 0
    needed = offset + -(-(bits * sig_len) // 8)
    if actual < needed:
        raise EcgFormatError(
            "size-mismatch",
            f"{header_name} declares {sig_len} samples of {len(in_file)} signals in {signal_file} "
            f"({needed} bytes) but the file holds {actual} bytes",
        )
    if actual > needed:
        logger.info("%s holds %d bytes beyond the samples its header declares", signal_file, actual - needed)


def _read_digital(path: Path) -> IntArray:
    try:
        record = wfdb.rdrecord(str(path), physical=False, return_res=64)
    except Exception as exc:
        raise EcgFormatError("malformed", f"the WFDB signal files cannot be read ({exc})") from None
    return np.asarray(record.d_signal, dtype=np.int64)


def _check_checksums(header: dict[str, Any], digital: IntArray, header_name: str) -> None:
    # WFDB's checksum: the 16-bit sum of a signal's samples. PhysioNet's headers write it signed, wfdb-python's
    # wrsamp unsigned: both are the same residue modulo 65536.
    sums = (digital.sum(axis=0) + 32768) % 65536 - 32768
    for index, expected in enumerate(header["checksum"] or []):
        if expected is not None and (int(sums[index]) - int(expected)) % 65536 != 0:
            raise EcgFormatError(
                "checksum",
                f"{header_name}: signal {header['sig_name'][index]} has checksum {int(sums[index])}, "
                f"the header says {expected}",
            )


def _recording(header: dict[str, Any], digital: IntArray) -> EcgRecording:
    leads, dropped = [], []
    for index, raw_name in enumerate(header["sig_name"]):
        unit = str(header["units"][index] or "mV")
        mv_per_unit = _MV_PER_UNIT.get(unit.lower())
        if mv_per_unit is None:
            dropped.append(f"{raw_name} ({unit})")
            continue
        resolution = int(header["adc_res"][index] or 0)
        zero = int(header["adc_zero"][index] or 0)
        adc_range = (zero - 2 ** (resolution - 1), zero + 2 ** (resolution - 1) - 1) if resolution else None
        gain = float(header["adc_gain"][index]) / mv_per_unit
        baseline = float(header["baseline"][index])
        leads.append(Lead(normalise_lead_name(str(raw_name)), digital[:, index], gain, baseline, adc_range))
    metadata = {"record_name": str(header["record_name"])}
    if dropped:
        logger.info("WFDB signals not in voltage units dropped: %s", ", ".join(dropped))
        metadata["dropped_signals"] = ", ".join(dropped)
    comments = [str(c).strip() for c in header.get("comments") or [] if str(c).strip()]
    if comments:
        metadata["comments"] = "\n".join(comments)
    return EcgRecording(tuple(leads), float(header["fs"]), "wfdb", _start(header), metadata)


def _start(header: dict[str, Any]) -> datetime | None:
    base_date, base_time = header.get("base_date"), header.get("base_time")
    if base_date is None or base_time is None:
        return None
    return datetime.combine(base_date, base_time)
