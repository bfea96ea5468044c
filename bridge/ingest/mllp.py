"""The MLLP listener: HL7 v2 over TCP, as laboratory systems and analysers send it.

Each message travels in a block <VT> message <FS><CR>; every block gets one ACK block back, in order,
on the same connection. A block without its end is waited for up to `block_timeout` seconds and then
refused; bytes before a <VT> or a block over the size limit are garbage, answered with a rejection
(AR) so that the sender knows, and the connection is closed, since a sender that lost the framing
cannot be trusted to find it again. Whatever was received is handed over to be kept, even then. The
processing itself (and its database work) runs in a thread: the listener only frames bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"

# (raw message, peer address) -> the ACK to send back, encoded as the message was
MessageHandler = Callable[[bytes, str], Awaitable[bytes]]
# (reason, the bytes concerned, peer address) -> an ACK (AR) for input that is not a framed message;
# also where those bytes are kept: nothing received is dropped
BrokenInput = Callable[[str, bytes, str], Awaitable[bytes]]

READ_SIZE = 65536


class MllpServer:
    def __init__(
        self,
        handler: MessageHandler,
        broken: BrokenInput,
        *,
        max_message_bytes: int,
        block_timeout: float = 30.0,
        idle_timeout: float = 600.0,
    ) -> None:
        self._handler = handler
        self._broken = broken
        self._max = max_message_bytes
        self._block_timeout = block_timeout
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        logger.info("MLLP listener on %s:%d", host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            await self._conversation(reader, writer, address)
        except ConnectionError:
            logger.info("MLLP connection from %s lost", address)
        except Exception:
            # Not even the quarantine could keep the message (the database is down): no ACK, so the
            # sender sends it again, and the connection closes so that it reconnects.
            logger.exception("MLLP connection from %s: processing failed; closing without an ACK", address)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _conversation(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        buffer = bytearray()
        while True:
            if not buffer:
                chunk = await self._read(reader, self._idle_timeout)
                if not chunk:
                    return  # closed, or idle for long: the sender reconnects when it has something
                buffer += chunk
            if buffer[:1] != START_BLOCK:
                garbage = bytes(buffer)
                await self._refuse(writer, address, "bytes outside an MLLP block (no <VT> start)", garbage)
                return
            end = buffer.find(END_BLOCK)
            if end < 0:
                if len(buffer) > self._max + len(START_BLOCK):
                    await self._refuse(writer, address, f"an MLLP block over {self._max} bytes", bytes(buffer))
                    return
                chunk = await self._read(reader, self._block_timeout)
                if chunk is None:
                    await self._refuse(writer, address, "an MLLP block that never ended (no <FS><CR>)", bytes(buffer))
                    return
                if not chunk:
                    await self._broken("the connection closed in the middle of an MLLP block", bytes(buffer), address)
                    return
                buffer += chunk
                continue
            message = bytes(buffer[len(START_BLOCK) : end])
            del buffer[: end + len(END_BLOCK)]
            if START_BLOCK in message:
                await self._refuse(writer, address, "a <VT> inside an MLLP block (a block lost its end)", message)
                return
            writer.write(START_BLOCK + await self._handler(message, address) + END_BLOCK)
            await writer.drain()

    async def _read(self, reader: asyncio.StreamReader, timeout: float) -> bytes | None:
        """Some bytes, b"" at the end of the stream, None after `timeout` seconds without any."""
        try:
            return await asyncio.wait_for(reader.read(READ_SIZE), timeout)
        except TimeoutError:
            return None

    async def _refuse(self, writer: asyncio.StreamWriter, address: str, reason: str, data: bytes) -> None:
        logger.warning("MLLP sender %s: %s; answering AR and closing", address, reason)
        ack = await self._broken(reason, data, address)
        writer.write(START_BLOCK + ack + END_BLOCK)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
