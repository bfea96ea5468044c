"""The agent on a bedside station (the cart PC by the resident's bed).

It registers the station, joins every consult the server calls it into with the station's camera,
microphone and monitor readings, and keeps doing so across signalling outages: it reconnects with
backoff and rejoins the consult it was in, which the server holds open for its reconnect window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterable, Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from rtc.media import LocalMedia
from rtc.mesh import TERMINAL_STATES, MeshPeer
from rtc.readings import Reading
from rtc.signalling_client import Message, SignallingClient, SignallingError

logger = logging.getLogger(__name__)

# A rejoin refused with one of these means the consult is gone for this station: stop trying it.
_CONSULT_GONE = frozenset({"consult_ended", "not_found", "not_in_consult", "forbidden", "invalid_transition"})
_STABLE_SECONDS = 30.0


class StationAgent:
    """Runs a station until cancelled: `await StationAgent(client, media, room=..., bed=...).run()`.

    `client` may be connected already or not; reconnections use `client.clone()`. An
    `auth_required` refusal is not retried (a station with a bad or expired token needs a new one,
    not more attempts): run() raises SignallingError.
    """

    def __init__(
        self,
        client: SignallingClient,
        media: LocalMedia | None,
        *,
        room: str,
        bed: str,
        auto_answer: bool = False,
        readings: AsyncIterable[Reading] | None = None,
        on_track: Callable[[str, MediaStreamTrack], None] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.client = client
        self.room, self.bed, self.auto_answer = room, bed, auto_answer
        self.name = f"{room}/{bed}"  # for logs
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.registration: Message | None = None
        self.consult_id: str | None = None
        self.connections = 0  # successful (re)connections, for monitoring and tests
        self.registered = asyncio.Event()
        self.mesh = MeshPeer(client, media=media, readings=readings, on_track=on_track)
        self._detach: list[Callable[[], None]] = []
        self._delay = backoff_initial

    async def run(self) -> None:
        try:
            while True:
                await self._connect()
                self.connections += 1
                connected_at = time.monotonic()
                await self._serve()
                self.registered.clear()
                logger.warning("station %s: signalling closed (code %s)", self.name, self.client.close_code)
                # Backoff restarts only after a connection that held: a server that accepts and
                # then drops the socket at once must not be hammered.
                if time.monotonic() - connected_at >= _STABLE_SECONDS:
                    self._delay = self.backoff_initial
                await self._pause()
        finally:
            await self._shutdown()

    async def _connect(self) -> None:
        while not self.client.connected:
            if self.connections or self.client.closed.is_set():
                self.client = self.client.clone()
            try:
                await self.client.connect()
            except SignallingError as exc:
                if exc.code == "auth_required":
                    raise
                logger.warning("station %s: cannot connect (%s); retrying in %.1f s", self.name, exc, self._delay)
                await self._pause()

    async def _pause(self) -> None:
        # Jitter, so that a home's stations do not all come back in the same instant.
        await asyncio.sleep(self._delay * random.uniform(0.8, 1.2))
        self._delay = min(self.backoff_max, self._delay * 2)

    async def _serve(self) -> None:
        """One connection's life: register, rejoin, then handle calls until the socket closes."""
        for detach in self._detach:
            detach()
        self._detach = [
            self.client.on("station.call", self._on_call),
            self.client.on("station.registered", self._on_registered),
            self.client.on("consult.state", self._on_state),
        ]
        self.mesh.attach(self.client)
        try:
            reply = await self.client.request(
                "station.register", room=self.room, bed=self.bed, auto_answer=self.auto_answer
            )
            await self._on_registered(reply)
            if self.consult_id is not None:
                logger.info("station %s: rejoining consult %s", self.name, self.consult_id)
                await self._join(self.consult_id)
        except SignallingError as exc:
            if exc.code != "closed":
                raise
        await self.client.closed.wait()

    async def _join(self, consult_id: str) -> None:
        self.consult_id = consult_id
        try:
            await self.mesh.join(consult_id)
        except SignallingError as exc:
            if exc.code in _CONSULT_GONE:
                logger.info("station %s: consult %s is gone (%s)", self.name, consult_id, exc.code)
                self.consult_id = None
                await self.mesh.close_connections()
            elif exc.code != "closed":
                raise

    async def _on_call(self, message: Message) -> None:
        consult_id = str(message.get("consult_id"))
        if consult_id == self.consult_id:
            return
        if self.consult_id is not None:
            # One bed, one consult: a second call while one is live is declined, never taken over.
            logger.warning("station %s: busy in %s, declining %s", self.name, self.consult_id, consult_id)
            await self.client.send("consult.decline", consult_id=consult_id, reason="station busy in another consult")
            return
        logger.info("station %s: called into consult %s", self.name, consult_id)
        await self._join(consult_id)

    async def _on_registered(self, message: Message) -> None:
        self.registration = {k: v for k, v in message.items() if k not in ("v", "ref")}
        self.registered.set()

    async def _on_state(self, message: Message) -> None:
        consult: dict[str, Any] = message.get("consult") or {}
        if consult.get("id") == self.consult_id and consult.get("state") in TERMINAL_STATES:
            logger.info("station %s: consult %s %s", self.name, self.consult_id, consult.get("state"))
            self.consult_id = None  # the mesh closes its connections on the same message

    async def _shutdown(self) -> None:
        if self.consult_id is not None:
            with contextlib.suppress(SignallingError, TimeoutError):
                await asyncio.wait_for(self.mesh.leave(), 5)
        await self.mesh.close()
        await self.client.close()
