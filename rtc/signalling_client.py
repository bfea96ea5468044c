"""An asyncio client for signalling protocol v1 (docs/signalling.md).

One client is one WebSocket. Replies to `request()` are matched by `ref` and never reach the event
handlers; everything else (relayed SDP, state changes, calls) goes to the handlers registered with
`on()`, one message at a time and in arrival order, so an offer is always handled before the
candidates that follow it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]

# Kept per type so that a test calling next_event() late still sees an event that already arrived;
# bounded so that a long-lived agent nobody drains does not grow without limit.
_HISTORY_PER_TYPE = 256
_DEFAULT_MAX_BYTES = 65_536
_HANDLER_GRACE_SECONDS = 5.0


class SignallingError(Exception):
    """An `error` from the server, or a local failure with a code of the same vocabulary.

    Local codes: `unreachable` (no WebSocket could be opened), `closed` (the socket closed before
    the reply came), `timeout` (no reply in time), `protocol` (the server broke protocol v1).
    """

    def __init__(self, code: str, message: str = "", *, reply: Message | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.reply = reply


class SignallingClient:
    """One signalling connection: `connect()`, then `send()`/`request()`, events through `on()`."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.headers: dict[str, str] = dict(headers or {})
        self.open_timeout = open_timeout
        self.welcome: Message | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ws: ClientConnection | None = None
        self._handlers: dict[str, list[Handler]] = collections.defaultdict(list)
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._history: dict[str, collections.deque[Message]] = collections.defaultdict(
            lambda: collections.deque(maxlen=_HISTORY_PER_TYPE)
        )
        self._arrived = asyncio.Condition()
        self._events: asyncio.Queue[Message | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        # The prefix keeps refs unique across the reconnects of one agent, which matters when a
        # server logs them or a late reply to an old socket's request shows up in a trace.
        self._refs = (f"{secrets.token_hex(4)}-{n}" for n in itertools.count(1))
        self._max_bytes = _DEFAULT_MAX_BYTES

    def clone(self) -> SignallingClient:
        """A new, unconnected client with the same URL and credentials (for reconnecting)."""
        return SignallingClient(self.url, token=self.token, headers=self.headers, open_timeout=self.open_timeout)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self.closed.is_set()

    async def connect(self) -> Message:
        """Open the socket and wait for `welcome`, which is also stored as `.welcome`."""
        if self._ws is not None:
            raise RuntimeError("a SignallingClient connects once; use clone() to reconnect")
        headers = dict(self.headers)
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            ws = await connect(self.url, additional_headers=headers, open_timeout=self.open_timeout)
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = "auth_required" if status in (401, 403) else "unreachable"
            raise SignallingError(code, f"HTTP {status} from {self.url}") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise SignallingError("unreachable", f"{self.url}: {exc}") from exc
        self._ws = ws
        try:
            first = _parse(await asyncio.wait_for(ws.recv(), self.open_timeout))
        except (ConnectionClosed, TimeoutError) as exc:
            await self._abandon()
            raise SignallingError("closed", "the server closed the socket before its welcome") from exc
        if first is None or first.get("type") not in ("welcome", "error"):
            await self._abandon()
            raise SignallingError("protocol", f"expected welcome, got {first!r}")
        if first["type"] == "error":
            await self._abandon()
            raise _error_of(first)
        self.welcome = first
        self._max_bytes = int(first.get("max_message_bytes") or _DEFAULT_MAX_BYTES)
        self._reader = asyncio.create_task(self._read(ws), name="signalling-reader")
        self._dispatcher = asyncio.create_task(self._dispatch(), name="signalling-dispatcher")
        heartbeat = first.get("heartbeat_seconds")
        if isinstance(heartbeat, int | float) and heartbeat > 0:
            self._heartbeat_task = asyncio.create_task(self._heartbeat(float(heartbeat)), name="signalling-heartbeat")
        return first

    async def send(self, type: str, /, **fields: Any) -> None:
        """Send one frame; raises SignallingError("closed") when the socket is gone."""
        if self._ws is None or self.closed.is_set():
            raise SignallingError("closed", f"cannot send {type}: not connected")
        frame = json.dumps({"v": PROTOCOL_VERSION, "type": type, **fields}, ensure_ascii=False, separators=(",", ":"))
        if len(frame.encode("utf-8")) > self._max_bytes:
            # The server would close the socket (1009) for it; refusing here keeps the call alive.
            raise SignallingError("too_large", f"{type} is over {self._max_bytes} bytes")
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise SignallingError("closed", f"cannot send {type}: {exc}") from exc

    async def request(self, type: str, /, *, timeout: float = 10.0, **fields: Any) -> Message:
        """Send a frame with a fresh `ref` and return the server's direct reply to it.

        An `error` reply raises SignallingError with the server's code and message.
        """
        ref = next(self._refs)
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[ref] = reply
        try:
            await self.send(type, ref=ref, **fields)
            return await asyncio.wait_for(reply, timeout)
        except TimeoutError as exc:
            raise SignallingError("timeout", f"no reply to {type} within {timeout} s") from exc
        finally:
            self._pending.pop(ref, None)

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every event of this type; returns a function that unregisters it."""
        self._handlers[type].append(handler)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._handlers[type].remove(handler)

        return remove

    async def next_event(self, type: str, timeout: float = 10.0) -> Message:
        """The oldest event of this type not yet returned by next_event (for tests and scripts)."""
        history = self._history[type]

        async def arrived() -> Message:
            async with self._arrived:
                await self._arrived.wait_for(lambda: bool(history) or self.closed.is_set())
            if not history:
                raise SignallingError("closed", f"closed while waiting for {type}")
            return history.popleft()

        try:
            return await asyncio.wait_for(arrived(), timeout)
        except TimeoutError as exc:
            raise SignallingError("timeout", f"no {type} within {timeout} s") from exc

    async def close(self) -> None:
        """Close the socket and wait for the reader and dispatcher to finish."""
        if self._ws is not None:
            await self._ws.close()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        if self._reader is not None:
            await self._reader
        await self._mark_closed()
        # Called from an event handler, close() must not wait for the dispatcher running it; that
        # dispatcher ends by itself once the handler returns, as the queue now ends with None.
        if self._dispatcher is not None and self._dispatcher is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(self._dispatcher), _HANDLER_GRACE_SECONDS)
            except TimeoutError:
                logger.warning("signalling handlers still busy at close; cancelling them")
                self._dispatcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._dispatcher

    async def _abandon(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        await self._mark_closed()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = _parse(raw)
                if message is None:
                    logger.warning("signalling: ignoring a frame that is not a JSON object")
                    continue
                ref = message.get("ref")
                reply = self._pending.get(ref) if isinstance(ref, str) else None
                if reply is not None and not reply.done():
                    if message.get("type") == "error":
                        reply.set_exception(_error_of(message))
                    else:
                        reply.set_result(message)
                    continue
                if message.get("type") == "error":
                    logger.warning("signalling error from server: %s %s", message.get("code"), message.get("message"))
                self._events.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            logger.info("signalling socket to %s closed (code %s)", self.url, ws.close_code)
            await self._mark_closed()

    async def _dispatch(self) -> None:
        while (message := await self._events.get()) is not None:
            kind = str(message.get("type"))
            async with self._arrived:
                self._history[kind].append(message)
                self._arrived.notify_all()
            for handler in list(self._handlers.get(kind, ())):
                try:
                    await handler(message)
                except Exception:
                    # One bad message must not stop the client; the next one may be fine.
                    logger.exception("signalling handler for %s failed", kind)

    async def _heartbeat(self, interval: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval)
            with contextlib.suppress(SignallingError):
                await self.send("ping")

    async def _mark_closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(SignallingError("closed", "the socket closed before the reply"))
        self._events.put_nowait(None)
        async with self._arrived:
            self._arrived.notify_all()


def _parse(raw: str | bytes) -> Message | None:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def _error_of(message: Message) -> SignallingError:
    return SignallingError(str(message.get("code")), str(message.get("message", "")), reply=message)
