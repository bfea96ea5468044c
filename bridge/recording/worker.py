"""The recorder worker: records the consults the server calls it into, and stores what it recorded.

It holds one signalling connection with the recorder's token and waits for `recorder.call`. For each
call it checks consent itself (the server checked when it called, and checks again at the join:
without consent nothing is recorded, whoever errs), records the consult with rtc.recorder until the
consult ends, and writes a DocumentReference per file in one transaction. It reconnects with
backoff (a fresh token each time; recordings in progress rejoin over the new connection) and, every
`sweep_interval` seconds, deletes recordings whose retention has passed.

Start it in-process (`asyncio.create_task(run_recorder(runtime, url))`) or as its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.recording.consent import recording_consented
from bridge.recording.documents import RecordingStore, store_recordings
from bridge.recording.retention import sweep_expired_recordings
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.settings import Settings
from bridge.signalling.tokens import issue_recorder_token
from rtc.recorder import SAFE_NAME, ConsultRecorder, RecordedFile, RecordingOptions
from rtc.signalling_client import Message, SignallingClient, SignallingError

logger = logging.getLogger(__name__)

_STABLE_SECONDS = 30.0
_STORE_ATTEMPTS = 5
_LIVE_ENCOUNTER = frozenset({"planned", "arrived", "triaged", "in-progress"})


def recording_store(settings: Settings) -> RecordingStore:
    return RecordingStore(
        Path(settings.recording_dir),
        f"{settings.public_base_url.rstrip('/')}/recordings",
        timedelta(days=settings.recording_retention_days),
    )


async def run_recorder(runtime: Runtime, url: str) -> None:
    """Run a recorder worker against the bridge's `/ws/signal` at `url` until cancelled."""
    # One identity for the worker's life: after a reconnect it rejoins as the same participant.
    recorder_id = f"recorder-{uuid.uuid4().hex[:12]}"
    worker = RecorderWorker(
        runtime,
        url,
        token=lambda: issue_recorder_token(runtime, recorder_id),
        store=recording_store(runtime.settings),
        sweep_interval=runtime.settings.recording_sweep_interval_seconds,
    )
    await worker.run()


class RecorderWorker:
    def __init__(
        self,
        runtime: Runtime,
        url: str,
        *,
        token: Callable[[], str],
        store: RecordingStore,
        options: RecordingOptions | None = None,
        sweep_interval: float | None = 3600.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.runtime, self.url, self.token, self.store = runtime, url, token, store
        self.options = options or RecordingOptions()
        self.sweep_interval = sweep_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.client: SignallingClient | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.stored: list[str] = []  # DocumentReference ids written, for monitoring and tests
        self.recorders: dict[str, ConsultRecorder] = {}
        self._claimed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._delay = backoff_initial

    async def run(self) -> None:
        sweeper = asyncio.create_task(self._sweep_loop(), name="recording-sweep") if self.sweep_interval else None
        try:
            while True:
                client = SignallingClient(self.url, token=self.token())
                try:
                    await client.connect()
                except SignallingError as exc:
                    # auth_required too: the token is minted here, so a refusal is a server-side
                    # problem (key, clock, not yet started) that may pass.
                    logger.warning("recorder: cannot connect (%s); retrying in %.1f s", exc, self._delay)
                    await self._pause()
                    continue
                await self._serve(client)
        finally:
            if sweeper is not None:
                sweeper.cancel()
            await self._shutdown()

    async def _serve(self, client: SignallingClient) -> None:
        self.client, connected_at = client, time.monotonic()
        self.connections += 1
        detach = client.on("recorder.call", self._on_call)
        self.connected.set()
        for consult_id, recorder in list(self.recorders.items()):
            logger.info("recorder: rejoining consult %s", consult_id)
            self._spawn(self._reattach(recorder, client))
        try:
            await client.closed.wait()
        finally:
            detach()
            self.connected.clear()
        logger.warning("recorder: signalling closed (code %s)", client.close_code)
        if time.monotonic() - connected_at >= _STABLE_SECONDS:
            self._delay = self.backoff_initial
        await self._pause()

    async def _pause(self) -> None:
        await asyncio.sleep(self._delay * random.uniform(0.8, 1.2))
        self._delay = min(self.backoff_max, self._delay * 2)

    async def _on_call(self, message: Message) -> None:
        consult_id = message.get("consult_id")
        if not isinstance(consult_id, str) or not SAFE_NAME.match(consult_id):
            logger.warning("recorder: ignoring a call with consult id %r", consult_id)
            return
        if consult_id in self._claimed:
            return
        self._claimed.add(consult_id)
        self._spawn(self._record(consult_id))

    async def _record(self, consult_id: str) -> None:
        try:
            if not await asyncio.to_thread(self._may_record, consult_id):
                logger.info("recorder: consult %s has no consent to record on record; not joining", consult_id)
                return
            client = self.client
            if client is None or not client.connected:
                return
            recorder = ConsultRecorder(
                client, consult_id, self.store.directory / consult_id, options=self.options, now=self.runtime.clock.now
            )
            self.recorders[consult_id] = recorder
            try:
                files = await recorder.run()
            except SignallingError as exc:
                logger.warning("recorder: could not record consult %s: %s", consult_id, exc)
                return
            finally:
                self.recorders.pop(consult_id, None)
            logger.info("recorder: consult %s %s; %d file(s)", consult_id, recorder.final_state, len(files))
            if files:
                await self._store(consult_id, files)
        finally:
            self._claimed.discard(consult_id)

    def _may_record(self, consult_id: str) -> bool:
        with self.runtime.session_factory.begin() as db:
            services = Services(db, self.runtime)
            try:
                encounter = services.repository.read("Encounter", consult_id)
            except OperationOutcomeError:
                return False
            subject = str((encounter.get("subject") or {}).get("reference", ""))
            if encounter.get("status") not in _LIVE_ENCOUNTER or not subject.startswith("Patient/"):
                return False
            return recording_consented(services, subject.removeprefix("Patient/"))

    async def _store(self, consult_id: str, files: Sequence[RecordedFile]) -> None:
        delay = 1.0
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            try:
                self.stored += await asyncio.to_thread(self._store_now, consult_id, files)
                return
            except Exception:
                logger.exception("recorder: storing consult %s's recordings failed (attempt %d)", consult_id, attempt)
            await asyncio.sleep(delay)
            delay *= 2
        logger.error(
            "recorder: consult %s's recordings have no DocumentReference; files kept: %s",
            consult_id,
            ", ".join(str(f.path) for f in files),
        )

    def _store_now(self, consult_id: str, files: Sequence[RecordedFile]) -> list[str]:
        with self.runtime.session_factory.begin() as db:
            return store_recordings(Services(db, self.runtime), consult_id, files, self.store)

    async def _reattach(self, recorder: ConsultRecorder, client: SignallingClient) -> None:
        try:
            await recorder.reattach(client)
        except SignallingError as exc:
            logger.warning("recorder: could not rejoin consult %s: %s", recorder.consult_id, exc)

    async def _sweep_loop(self) -> None:
        assert self.sweep_interval is not None
        while True:
            try:
                deleted = await asyncio.to_thread(self._sweep_now)
                if deleted:
                    logger.info("recorder: deleted %d recording(s) past their retention", len(deleted))
            except Exception:
                logger.exception("recorder: the retention sweep failed; trying again later")
            await asyncio.sleep(self.sweep_interval)

    def _sweep_now(self) -> list[str]:
        with self.runtime.session_factory.begin() as db:
            return sweep_expired_recordings(Services(db, self.runtime), self.store.directory)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        """Stop every recording, store what was recorded, and close the socket."""
        for recorder in list(self.recorders.values()):
            recorder.stop()
        pending = list(self._tasks)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 30)
        if self.client is not None:
            await self.client.close()
