"""The outbox in tests: a runtime with short timers and its own clock, one worker round, and Medplum's
in-memory FHIR server (../shared/tools/medplum/server.js) standing in for a hospital's endpoint."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from bridge.outbox.endpoints import HOSPITAL_FHIR
from bridge.outbox.fhir_push import HospitalFhirSender
from bridge.outbox.worker import OutboxWorker, Sender
from bridge.runtime import Runtime
from tests.conftest import make_settings
from tests.fhir_peer import medplum_peer_dir
from tests.support import AdjustableClock, free_port

FAST = {
    "outbox_backoff_base_seconds": 5.0,
    "outbox_backoff_max_seconds": 60.0,
    "outbox_max_attempts": 4,
    "outbox_timeout_seconds": 5.0,
    "outbox_poll_seconds": 0.05,
}


def outbox_runtime(database_url: str, **overrides: Any) -> Runtime:
    """A runtime of its own on the database: its clock moves without moving anybody else's."""
    settings = make_settings(database_url, **{**FAST, **overrides})
    return Runtime.from_settings(settings, clock=AdjustableClock())


def clock_of(runtime: Runtime) -> AdjustableClock:
    assert isinstance(runtime.clock, AdjustableClock)
    return runtime.clock


def run_round(runtime: Runtime, senders: Mapping[str, Sender] | None = None) -> int:
    """One worker round (claim, deliver, record), with the real FHIR sender unless told otherwise."""

    async def one_round() -> int:
        chosen = dict(senders) if senders is not None else {HOSPITAL_FHIR: HospitalFhirSender(runtime)}
        try:
            return await OutboxWorker(runtime, chosen).run_once()
        finally:
            if senders is None:
                for sender in chosen.values():
                    await sender.aclose()

    return asyncio.run(one_round())


class MedplumServer:
    """server.js on a loopback port, started and stopped by its process (its data dies with it)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="medplum-server-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self) -> MedplumServer:
        peer = medplum_peer_dir()
        environment = {**os.environ, "PORT": str(self.port)}
        self._process = subprocess.Popen(
            [shutil.which("node") or "node", str(Path(peer) / "server.js")],
            cwd=peer,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/Patient?_count=0", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server.js did not start: {self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def log(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")[-4000:]

    def search(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/{resource_type}", params={**params, "_count": "100"}, timeout=10)
        assert response.status_code == 200, response.text
        return [entry["resource"] for entry in response.json().get("entry", [])]

    def __enter__(self) -> MedplumServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
