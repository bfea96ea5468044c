"""Shared parts of the ingestion benchmark (bench_ingest.py): payloads and the clients that send them.

- HL7 v2: the sample messages of ../shared/data/hl7v2, each send aimed at a demo resident (PID-3), with a
  control id of its own (MSH-10: the same sender and control id is answered from the receipts without new
  work), new order numbers (OBR-2/3, ORC-2/3: the same order again would be stored as a correction of
  the earlier result) and the demo laboratory's facility (MSH-4 ``DEMOLAB``, how MLLP knows the sender);
- ECG: a 10-second 12-lead WFDB record cropped from PTB's s0010_re with wfdb into a temporary
  directory, and its multipart upload;
- clients: a keep-alive HTTP connection, a plain MLLP connection that reads whole ACK blocks, a bearer
  token renewed at half its lifetime, and a doctor's page (its signalling socket) that notes when each
  ``result.new`` arrives.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import uuid
import warnings
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_fhir import TokenSource
from tests.benchmarks.signal_bench_support import REPO, BenchError, log

SHARED = REPO.parent / "shared" / "data"
HL7_DIR = SHARED / "hl7v2"
ECG_SOURCE = SHARED / "ecg" / "s0010_re"
ECG_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
ECG_SECONDS = 10
ECG_RECORD_NAME = "ecg12x10s"
LAB_FACILITY = "DEMOLAB"
HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"
START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\r"
REQUEST_TIMEOUT_S = 60.0


# --- HL7 v2 messages --------------------------------------------------------------------------------


def sample_messages() -> dict[str, bytes]:
    """Every sample message by file name."""
    paths = sorted(HL7_DIR.glob("*.hl7"))
    if not paths:
        raise BenchError(f"no HL7 samples in {HL7_DIR} (shared/ is expected beside the repository)")
    return {path.name: path.read_bytes() for path in paths}


def prepared(template: bytes, identifier: str) -> bytes:
    """One send of a sample: about ``identifier`` (PID-3), from DEMOLAB, with a fresh control id and order."""
    from tests.bridge.ingest.support import aimed_at, rewrite_field

    order = uuid.uuid4().hex[:16].encode()
    message = rewrite_field(aimed_at(template, identifier), b"MSH", 4, LAB_FACILITY.encode())
    for segment, index in ((b"OBR", 2), (b"OBR", 3), (b"ORC", 2), (b"ORC", 3)):
        if _has_field(message, segment, index):
            message = rewrite_field(message, segment, index, b"P" + order if index == 2 else b"F" + order)
    return message


def _has_field(message: bytes, segment: bytes, index: int) -> bool:
    from tests.bridge.ingest.support import segments

    return any(s.startswith(segment) and len(s.split(s[3:4])) > index for s in segments(message))


def ack_of(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an ACK; ("", "") when there is no MSA."""
    from tests.bridge.ingest.support import segments

    for line in segments(ack):
        if line.startswith(b"MSA"):
            fields = line.decode("utf-8", "replace").split(line[3:4].decode())
            return (fields[1] if len(fields) > 1 else "", fields[3] if len(fields) > 3 else "")
    return "", ""


def stored_count(ack_text: str) -> int:
    """The bridge's AA says how many resources it stored ("29 resources stored")."""
    found = re.match(r"(\d+) resources? stored", ack_text)
    return int(found.group(1)) if found else 0


# --- the ECG -------------------------------------------------------------------------------------------


@contextmanager
def quiet_wfdb() -> Iterator[Any]:
    """wfdb, with warnings off: it calls pandas APIs that pandas has deprecated (on import and when
    reading), and neurokit2 warns on flat stretches; nothing this script can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import wfdb  # type: ignore[import-untyped]
        except ImportError as exc:
            raise BenchError("wfdb is needed for the ECG: pip install -e .") from exc
        yield wfdb


def crop_ecg(directory: Path) -> Path:
    """A 10-second 12-lead WFDB record (1000 Hz, format 16) written by wfdb into ``directory``.

    wfdb 4.x writes each checksum as an unsigned 16-bit number (0..65535); the bridge's WFDB reader wants
    the signed form (-32768..32767) that the WFDB C tools write, and refuses the other as a bad checksum.
    Both mean the same sum modulo 2**16, so the header is given the signed form here.
    """
    if not ECG_SOURCE.with_suffix(".hea").is_file():
        raise BenchError(f"{ECG_SOURCE}.hea is missing (shared/ is expected beside the repository)")
    with quiet_wfdb() as wfdb:
        leads = list(ECG_LEADS)
        record = wfdb.rdrecord(str(ECG_SOURCE), sampto=ECG_SECONDS * 1000, channel_names=leads, physical=False)
        if record.fs != 1000 or record.sig_name != leads:
            raise BenchError(f"{ECG_SOURCE} is not the 1000 Hz 12-lead PTB record expected")
        wfdb.wrsamp(
            ECG_RECORD_NAME,
            fs=record.fs,
            units=record.units,
            sig_name=record.sig_name,
            d_signal=record.d_signal,
            fmt=record.fmt,
            adc_gain=record.adc_gain,
            baseline=record.baseline,
            comments=record.comments,
            write_dir=str(directory),
        )
    header = directory / f"{ECG_RECORD_NAME}.hea"
    lines = header.read_text().splitlines()
    for n, line in enumerate(lines[1:], start=1):
        fields = line.split(" ")
        if line.startswith(f"{ECG_RECORD_NAME}.dat") and len(fields) > 6 and int(fields[6]) > 32767:
            fields[6] = str(int(fields[6]) - 65536)
            lines[n] = " ".join(fields)
    header.write_text("\n".join(lines) + "\n")
    return directory / ECG_RECORD_NAME


def ecg_files(record: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (record.with_suffix(".hea"), record.with_suffix(".dat"))}


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body, as a browser or an analyser's uploader sends it."""
    boundary = f"----bench{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, content in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- clients -------------------------------------------------------------------------------------------


class HttpClient:
    """One keep-alive HTTP/1.1 connection; a connection the server closed while idle is opened again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reconnects = 0
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self._connection.request("POST", path, body=body, headers=headers)
                response = self._connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # uvicorn closes a keep-alive connection idle for 5 s; nothing was processed then.
                self._connection.close()
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._connection.close()


class MllpClient:
    """One persistent MLLP connection: a block out, the whole ACK block back (python-hl7's MLLPClient
    reads a single recv(), which may hold part of a block)."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def send(self, message: bytes) -> bytes:
        self._socket.sendall(START_BLOCK + message + END_BLOCK)
        while END_BLOCK not in self._buffer:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise BenchError("the MLLP listener closed the connection")
            self._buffer += chunk
        block, self._buffer = self._buffer.split(END_BLOCK, 1)
        if not block.startswith(START_BLOCK):
            raise BenchError(f"an ACK block without its start: {block[:80]!r}")
        return block[len(START_BLOCK) :]

    def close(self) -> None:
        self._socket.close()


class Token(TokenSource):
    """bench_fhir's token that is fetched again at half its lifetime, from any grant at ``POST /auth/token``:
    the laboratory's and the analyser's client_credentials, the doctor's password."""

    def __init__(self, port: int, form: dict[str, str], basic: tuple[str, str] | None = None) -> None:
        super().__init__(port)
        self.port, self.form, self.basic = port, form, basic

    def _fetch(self) -> tuple[str, float]:
        import httpx

        url = f"http://127.0.0.1:{self.port}/auth/token"
        response = httpx.post(url, data=self.form, auth=self.basic, timeout=REQUEST_TIMEOUT_S)
        if response.status_code != 200:
            raise BenchError(f"POST /auth/token answered {response.status_code}: {response.text[:300]}")
        answer = response.json()
        return str(answer["access_token"]), float(answer.get("expires_in", 300))


@dataclass
class Sent:
    """One result on its way to the page: when its sending started, and when its news arrived."""

    patient_id: str
    started: float
    channel: str
    arrived: float | None = None
    missing: bool = False  # no news within the wait: ``arrived`` is then when the wait ended


class DoctorPage:
    """A doctor's open page: its signalling socket, welcomed, noting every ``result.new`` as it arrives.

    Sends are matched to news per resident in order (first sent, first announced): each client of the
    load generator sends for residents of its own, one message at a time, so a resident's news come in
    the order of its sends.
    """

    def __init__(self, ws_url: str, token: str) -> None:
        from websockets.sync.client import connect

        self._ws = connect(
            ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**20, open_timeout=30
        )
        welcome = json.loads(self._ws.recv(timeout=30))
        if welcome.get("type") != "welcome":
            self._ws.close()
            raise BenchError(f"the signalling socket said {welcome} instead of welcome")
        self._lock = threading.Condition()
        self._waiting: dict[str, deque[Sent]] = defaultdict(deque)
        self.unmatched = 0  # news with no send waiting for it
        self.other_types: dict[str, int] = defaultdict(int)
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, name="doctor-page", daemon=True)
        self._reader.start()

    def expect(self, sent: Sent) -> None:
        """Register a send just before it goes out."""
        with self._lock:
            self._waiting[sent.patient_id].append(sent)

    def forget(self, sent: Sent) -> None:
        """A send that stored nothing (no news will come)."""
        with self._lock:
            queue = self._waiting.get(sent.patient_id)
            if queue and sent in queue:
                queue.remove(sent)

    def wait(self, sents: Iterable[Sent], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(sents)
        with self._lock:
            while any(s.arrived is None for s in pending) and time.monotonic() < deadline:
                self._lock.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self._ws:
                arrived = time.perf_counter()
                message = json.loads(raw)
                kind = message.get("type", "")
                if kind == "error":
                    self.errors.append(f"{message.get('code')}: {message.get('message')}")
                if kind != "result.new":
                    self.other_types[kind] += 1
                    continue
                with self._lock:
                    queue = self._waiting.get(message.get("patient_id", ""))
                    if queue:
                        queue.popleft().arrived = arrived
                        self._lock.notify_all()
                    else:
                        self.unmatched += 1
        except ConnectionClosed as exc:
            if exc.rcvd is None or exc.rcvd.code != 1000:
                self.errors.append(f"the signalling socket closed ({exc})")

    def close(self) -> None:
        self._ws.close()
        self._reader.join(timeout=10)
        if self._reader.is_alive():
            log("the doctor's page reader did not stop")


@dataclass
class Resident:
    id: str
    identifier: str
    home_id: str


@dataclass
class Residents:
    all: list[Resident] = field(default_factory=list)

    def of_home(self, home_id: str) -> list[Resident]:
        return [r for r in self.all if r.home_id == home_id]

    def groups(self, count: int) -> list[list[Resident]]:
        """``count`` disjoint groups of residents, one per concurrent client."""
        if len(self.all) < count:
            raise BenchError(f"{count} clients need {count} residents, the demo has {len(self.all)}")
        return [self.all[i::count] for i in range(count)]


def residents_with_identifiers(database_url: str, by_home: dict[str, list[str]]) -> Residents:
    """The seeded residents with the identifier a laboratory would put in PID-3 (their first)."""
    from bridge.runtime import Runtime
    from bridge.services import Services
    from bridge.settings import Settings

    runtime = Runtime.from_settings(Settings(database_url=database_url, secret_key="bench-read-" + "x" * 32))
    residents = Residents()
    try:
        with runtime.session_factory.begin() as db:
            services = Services(db, runtime)
            for home_id, ids in sorted(by_home.items()):
                for patient_id in ids:
                    patient = services.repository.read("Patient", patient_id)
                    residents.all.append(Resident(patient_id, str(patient["identifier"][0]["value"]), home_id))
    finally:
        runtime.engine.dispose()
    return residents
