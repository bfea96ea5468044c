"""Which format an upload is, and the one entry point that reads any of them.

Detection, in order:

1. a ``.hea`` among the files: WFDB (the other files are its signal files);
2. otherwise exactly one file is expected, recognised by content first and name second:
   ``DICM`` at byte 128 (or ``.dcm``): DICOM; ``SCPECG`` in section 0 (or ``.scp``): SCP-ECG;
   text starting with ``<`` (or ``.xml``): HL7 aECG; ``.csv``: CSV;
3. anything else: ``EcgFormatError("unknown-format")``.

Every failure of every reader is an ``EcgFormatError``; anything else escaping a reader is a bug, and is
still turned into one (logged with its traceback) so an upload is quarantined, never a server error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from fhir_adapter.ecg.aecg_reader import read_aecg
from fhir_adapter.ecg.csv_reader import read_csv
from fhir_adapter.ecg.recording import EcgFormatError, EcgRecording
from fhir_adapter.ecg.scp_reader import is_scp, read_scp

logger = logging.getLogger(__name__)

# Far above any real ECG file (a 24-hour 12-lead Holter in WFDB 212 is about 1.5 GB, and is not an upload);
# the caller limits uploads itself, this is the library's own ceiling.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def detect_format(files: Mapping[str, bytes]) -> str:
    """``wfdb``, ``dicom``, ``scp-ecg``, ``hl7-aecg`` or ``csv``; EcgFormatError when none fits."""
    if not files:
        raise EcgFormatError("unknown-format", "no file was uploaded")
    if any(name.lower().endswith(".hea") for name in files):
        return "wfdb"
    if len(files) != 1:
        raise EcgFormatError(
            "unknown-format", f"{len(files)} files without a WFDB .hea header: upload one ECG file at a time"
        )
    ((name, data),) = files.items()
    lower = name.lower()
    if not data:
        raise EcgFormatError("truncated", f"{name} is empty")
    if data[128:132] == b"DICM" or lower.endswith(".dcm"):
        return "dicom"
    if is_scp(data) or lower.endswith(".scp"):
        return "scp-ecg"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or lower.endswith(".xml"):
        return "hl7-aecg"
    if lower.endswith(".csv"):
        return "csv"
    raise EcgFormatError("unknown-format", f"{name} is not a WFDB, HL7 aECG, SCP-ECG, DICOM or CSV ECG")


def read_ecg(files: Mapping[str, bytes], *, sampling_rate: float | None = None, csv_units: str = "uV") -> EcgRecording:
    """The ECG in ``files`` (upload name to content). ``sampling_rate`` and ``csv_units`` apply to CSV only."""
    total = sum(len(data) for data in files.values())
    if total > MAX_UPLOAD_BYTES:
        raise EcgFormatError("too-large", f"{total} bytes uploaded; at most {MAX_UPLOAD_BYTES} are read")
    files = {_base_name(name): data for name, data in files.items()}
    kind = detect_format(files)
    try:
        return _reader(kind, sampling_rate, csv_units)(files)
    except EcgFormatError as error:
        logger.info("ECG upload refused (%s): %s", error.code, error.reason)
        raise
    except Exception as exc:
        logger.exception("the %s reader failed unexpectedly", kind)
        raise EcgFormatError("malformed", f"the {kind} file could not be read ({type(exc).__name__})") from exc


def _base_name(name: str) -> str:
    # Browsers send bare names, but some clients send paths; only the last part means anything.
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _reader(kind: str, sampling_rate: float | None, csv_units: str) -> Callable[[Mapping[str, bytes]], EcgRecording]:
    # wfdb (with pandas) and pydicom take a quarter of a second each to import, which every process that
    # merely imports fhir_adapter.ecg would otherwise pay: they are imported on first use.
    if kind == "wfdb":
        from fhir_adapter.ecg.wfdb_reader import read_wfdb

        return read_wfdb
    if kind == "dicom":
        from fhir_adapter.ecg.dicom_reader import read_dicom

        return lambda files: read_dicom(_only(files))
    if kind == "scp-ecg":
        return lambda files: read_scp(_only(files))
    if kind == "hl7-aecg":
        return lambda files: read_aecg(_only(files))
    return lambda files: read_csv(_only(files), sampling_rate=sampling_rate, units=csv_units)


def _only(files: Mapping[str, bytes]) -> bytes:
    (data,) = files.values()
    return data
