"""One participant's side of a consult's full mesh (docs/signalling.md, "Media between participants").

ICE restart: aiortc cannot restart ICE (its agent keeps its first credentials for life). Where the
protocol says "offer with ice_restart", this peer closes the failed connection and sends a plain
offer on a new one, which by the glare rule makes the other side replace its connection too. An
incoming `ice_restart` offer is handled the same way: answered on the old connection, the
restarted ICE checks could never succeed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcsessiondescription import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from rtc.media import LocalMedia, TrackFanout, drain
from rtc.readings import CHANNEL_LABEL, Reading, ReadingsChannels
from rtc.signalling_client import Message, SignallingClient, SignallingError

logger = logging.getLogger(__name__)

TERMINAL_STATES = frozenset({"ended", "declined", "timed_out", "cancelled"})
# A reconnecting participant keeps its connection: media often survives a signalling blip.
_LIVE_STATUSES = frozenset({"connected", "reconnecting"})


def ice_configuration(ice_servers: Sequence[Mapping[str, Any]] | None) -> RTCConfiguration:
    """RTCConfiguration from the welcome's `ice_servers`; none means none (aiortc would otherwise
    add a public STUN server). aiortc uses the first STUN and the first TURN server it is given."""
    servers = []
    for entry in ice_servers or ():
        urls = entry.get("urls")
        url_list = [urls] if isinstance(urls, str) else list(urls or [])
        usable = [u for u in url_list if isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns")]
        if usable:
            servers.append(RTCIceServer(usable, entry.get("username"), entry.get("credential")))
    return RTCConfiguration(iceServers=servers)


def parse_candidate(candidate: Mapping[str, Any]) -> RTCIceCandidate:
    """A browser's RTCIceCandidateInit as an aiortc candidate; ValueError if it is malformed."""
    line = str(candidate.get("candidate", "")).strip().removeprefix("a=").removeprefix("candidate:")
    try:
        parsed = candidate_from_sdp(line)
    except (AssertionError, ValueError, IndexError) as exc:  # candidate_from_sdp asserts on short lines
        raise ValueError(f"malformed ICE candidate {line!r}") from exc
    parsed.sdpMid, parsed.sdpMLineIndex = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
    return parsed


@dataclass(eq=False)
class _Peer:
    pc: RTCPeerConnection
    initiator: bool


class MeshPeer:
    """Connections to every other participant of one consult, driven by a SignallingClient.

    Callbacks are plain functions: `on_track(participant_id, track)` (which must keep reading the
    track; without it remote media is read and dropped), `on_reading(participant_id, reading)`,
    `on_peer_state(participant_id, connection_state)`."""

    def __init__(
        self,
        client: SignallingClient,
        *,
        media: LocalMedia | None = None,
        readings: AsyncIterable[Reading] | None = None,
        on_track: Callable[[str, MediaStreamTrack], None] | None = None,
        on_reading: Callable[[str, Reading], None] | None = None,
        on_peer_state: Callable[[str, str], None] | None = None,
        restart_grace: float = 3.0,
    ) -> None:
        self.consult_id: str | None = None
        self.participant_id: str | None = None
        self.consult: dict[str, Any] | None = None
        self.on_track, self.on_peer_state = on_track, on_peer_state
        self.channels = ReadingsChannels(on_reading)
        self.restart_grace = restart_grace
        self._readings = readings
        self._fanouts = [TrackFanout(t) for t in (media.audio, media.video) if t] if media else []
        self._peers: dict[str, _Peer] = {}
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[None]] = set()
        self._readings_task: asyncio.Task[None] | None = None
        self._detach: list[Callable[[], None]] = []
        self.client = client
        self.attach(client)

    @property
    def peers(self) -> Mapping[str, RTCPeerConnection]:
        return {pid: peer.pc for pid, peer in self._peers.items()}

    def attach(self, client: SignallingClient) -> None:
        """Follow a (new) signalling client, e.g. after a reconnect; existing connections stay up."""
        for detach in self._detach:
            detach()
        self.client = client
        self._detach = [
            client.on("signal.offer", self._on_offer),
            client.on("signal.answer", self._on_answer_or_candidate),
            client.on("signal.candidate", self._on_answer_or_candidate),
            client.on("consult.state", self._on_state),
        ]

    async def join(self, consult_id: str) -> Message:
        """Join (or rejoin) a consult and offer to every other connected participant."""
        if self.consult_id not in (None, consult_id):
            await self.close_connections()
        reply = await self.client.request("consult.join", consult_id=consult_id)
        self.consult_id, self.consult = consult_id, reply.get("consult")
        self.participant_id = reply.get("you") or self.participant_id
        if self._readings is not None and (self._readings_task is None or self._readings_task.done()):
            self._readings_task = asyncio.create_task(self.channels.pump(self._readings), name="mesh-readings")
        for participant in (self.consult or {}).get("participants", []):
            pid = participant.get("id")
            if pid and pid != self.participant_id and participant.get("status") == "connected":
                async with self._locks[pid]:
                    await self._offer(pid)
        return reply

    async def leave(self) -> None:
        """Tell the server we left (if it can hear us) and close every connection."""
        if self.consult_id is not None and self.client.connected:
            try:
                await self.client.request("consult.leave", consult_id=self.consult_id, timeout=5)
            except SignallingError as exc:
                logger.info("consult.leave for %s: %s", self.consult_id, exc)
        await self.close_connections()

    async def close(self) -> None:
        """Close every connection and stop following the client (which stays open)."""
        while self._detach:
            self._detach.pop()()
        await self.close_connections()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for fanout in self._fanouts:
            await fanout.aclose()

    async def close_connections(self) -> None:
        """Forget the consult and close every connection, without telling the server."""
        self.consult_id = None
        if self._readings_task is not None:
            self._readings_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._readings_task
            self._readings_task = None
        for pid in list(self._peers):
            async with self._locks[pid]:
                await self._remove(pid)

    def _new_peer(self, pid: str, *, initiator: bool) -> _Peer:
        config = ice_configuration((self.client.welcome or {}).get("ice_servers"))
        peer = _Peer(RTCPeerConnection(configuration=config), initiator)
        self._peers[pid] = peer
        peer.pc.on("track", lambda track: self.on_track(pid, track) if self.on_track else self._spawn(drain(track)))
        peer.pc.on("datachannel", lambda channel: self._peers.get(pid) is peer and self.channels.add(pid, channel))
        peer.pc.on("connectionstatechange", lambda: self._state_changed(pid, peer))
        return peer

    async def _offer(self, pid: str) -> None:
        await self._remove(pid, replaced=True)
        peer = self._new_peer(pid, initiator=True)
        # The offerer always opens it, so that a station that answers can send without renegotiating.
        self.channels.add(pid, peer.pc.createDataChannel(CHANNEL_LABEL))
        sending = {fanout.source.kind: fanout for fanout in self._fanouts}
        for kind in ("audio", "video"):
            if kind in sending:
                peer.pc.addTrack(sending[kind].subscribe())
            else:
                peer.pc.addTransceiver(kind, direction="recvonly")
        await peer.pc.setLocalDescription(await peer.pc.createOffer())
        await self._send_description("signal.offer", pid, peer)

    async def _on_offer(self, message: Message) -> None:
        if (pid := self._sender(message)) is None:
            return
        async with self._locks[pid]:
            if message.get("ice_restart") and pid in self._peers:
                logger.info("ice_restart offer from %s: aiortc cannot restart ICE, re-offering", pid)
                await self._offer(pid)
                return
            mine = self._peers.get(pid)
            if mine is not None and mine.pc.signalingState == "have-local-offer" and not self._polite_to(pid):
                # Glare: both offered. The polite side (the lower participant id) answers the other's
                # offer; we are the impolite one and keep waiting for the answer to ours. Should
                # ours have reached them before they had joined (and been dropped), we offer again.
                logger.info("offer from %s crossed ours; waiting for the answer to ours", pid)
                self._spawn(self._reoffer_unless_answered(pid, mine))
                return
            await self._remove(pid, replaced=True)
            peer = self._new_peer(pid, initiator=False)
            try:
                await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=str(message["sdp"]), type="offer"))
            except Exception as exc:  # a remote SDP is untrusted input; whatever it breaks, drop it
                logger.warning("unusable offer from %s: %s", pid, exc)
                await self._remove(pid)
                return
            offered = {t.kind for t in peer.pc.getTransceivers()}
            for fanout in self._fanouts:
                if fanout.source.kind in offered:
                    peer.pc.addTrack(fanout.subscribe())
            await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            await self._send_description("signal.answer", pid, peer)

    async def _reoffer_unless_answered(self, pid: str, peer: _Peer) -> None:
        await asyncio.sleep(self.restart_grace)
        async with self._locks[pid]:
            if self._peers.get(pid) is peer and peer.pc.signalingState == "have-local-offer" and self.client.connected:
                logger.info("no answer from %s to our offer; offering again", pid)
                await self._offer(pid)

    def _polite_to(self, pid: str) -> bool:
        return self.participant_id is None or self.participant_id < pid

    def _sender(self, message: Message) -> str | None:
        pid = message.get("from")
        return pid if message.get("consult_id") == self.consult_id and isinstance(pid, str) else None

    async def _send_description(self, kind: str, pid: str, peer: _Peer) -> None:
        description = peer.pc.localDescription
        await self.client.send(kind, consult_id=self.consult_id, to=pid, sdp=description.sdp)
        # aiortc has gathered every candidate into the SDP already: only the end remains to say.
        await self.client.send("signal.candidate", consult_id=self.consult_id, to=pid, candidate=None)

    async def _on_answer_or_candidate(self, message: Message) -> None:
        if (pid := self._sender(message)) is None:
            return
        async with self._locks[pid]:
            peer = self._peers.get(pid)
            if message["type"] == "signal.answer":
                if peer is None or peer.pc.signalingState != "have-local-offer":
                    logger.info("ignoring an answer from %s that matches no offer of ours", pid)
                else:
                    await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=str(message["sdp"]), type="answer"))
                return
            if peer is None or peer.pc.remoteDescription is None:
                return
            candidate = message.get("candidate")
            try:
                # Browsers end a generation of candidates with an empty string rather than null.
                if candidate is None or not candidate.get("candidate"):
                    await peer.pc.addIceCandidate(None)
                else:
                    await peer.pc.addIceCandidate(parse_candidate(candidate))
            except (ValueError, AttributeError) as exc:
                logger.warning("bad ICE candidate from %s: %s", pid, exc)

    async def _on_state(self, message: Message) -> None:
        consult = message.get("consult") or {}
        if self.consult_id is None or consult.get("id") != self.consult_id:
            return
        self.consult = consult
        if consult.get("state") in TERMINAL_STATES:
            logger.info("consult %s is %s; closing its connections", self.consult_id, consult.get("state"))
            await self.close_connections()
            return
        live = {p.get("id") for p in consult.get("participants", []) if p.get("status") in _LIVE_STATUSES}
        for pid in [pid for pid in self._peers if pid not in live]:
            async with self._locks[pid]:
                await self._remove(pid)

    async def _remove(self, pid: str, *, replaced: bool = False) -> None:
        peer = self._peers.pop(pid, None)
        if peer is None:
            return
        for sender in peer.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()  # ends this connection's subscription to the local media
        self.channels.discard(pid)
        await peer.pc.close()
        if not replaced and self.on_peer_state is not None:
            self.on_peer_state(pid, "closed")

    def _state_changed(self, pid: str, peer: _Peer) -> None:
        if self._peers.get(pid) is not peer:
            return  # a connection we replaced or removed, closing
        state = peer.pc.connectionState
        if self.on_peer_state is not None:
            self.on_peer_state(pid, state)
        # aiortc often reports a lost network as "closed", not "failed": when ICE dies, DTLS ends
        # and the connection closes itself. We never close a connection that is still current.
        if state in ("failed", "closed"):
            self._spawn(self._recover(pid, peer))

    async def _recover(self, pid: str, peer: _Peer) -> None:
        # Both sides may see the failure. The side that offered re-offers after a short pause (in
        # which a new offer or a "left" state may arrive); the other waits longer, so that the two
        # offers rarely cross.
        await asyncio.sleep(self.restart_grace / 3 if peer.initiator else self.restart_grace)
        async with self._locks[pid]:
            statuses = {p.get("id"): p.get("status") for p in (self.consult or {}).get("participants", [])}
            if self._peers.get(pid) is not peer or not self.client.connected or statuses.get(pid) != "connected":
                return
            logger.info("connection to %s %s; offering a new one", pid, peer.pc.connectionState)
            try:
                await self._offer(pid)
            except SignallingError as exc:
                logger.warning("could not re-offer to %s: %s", pid, exc)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
