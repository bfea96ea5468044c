"""Parsing client frames of signalling protocol v1 (docs/signalling.md): one model per message type.

Unknown fields are refused so that a typo fails loudly instead of being ignored; the original dict is
kept beside the model so that relayed SDP and candidates pass on exactly as they came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.consults.states import Urgency

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 65_536

Id = Field(min_length=1, max_length=64)


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    type: str
    ref: str | None = Field(default=None, max_length=64)


class Ping(ClientMessage):
    pass


class QueueWatch(ClientMessage):
    pass


class ConsultRequest(ClientMessage):
    patient_id: str = Id
    urgency: Urgency
    reason: str = Field(min_length=1, max_length=500)
    station_id: str | None = Field(default=None, min_length=1, max_length=64)


class ConsultAction(ClientMessage):
    """accept, cancel, join, leave and end: they name only the consult."""

    consult_id: str = Id


class ConsultDecline(ClientMessage):
    consult_id: str = Id
    reason: str | None = Field(default=None, max_length=500)


class ConsultInvite(ClientMessage):
    consult_id: str = Id
    role: Literal["specialist", "interpreter", "family"]


class SignalOffer(ClientMessage):
    consult_id: str = Id
    to: str = Id
    sdp: str = Field(min_length=1)
    ice_restart: bool = False


class SignalAnswer(ClientMessage):
    consult_id: str = Id
    to: str = Id
    sdp: str = Field(min_length=1)


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str = Field(max_length=4096)
    sdpMid: str | None = Field(default=None, max_length=64)  # noqa: N815 - the browser's field name
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=1024)  # noqa: N815
    usernameFragment: str | None = Field(default=None, max_length=256)  # noqa: N815


class SignalCandidate(ClientMessage):
    consult_id: str = Id
    to: str = Id
    candidate: Candidate | None


class StationRegister(ClientMessage):
    room: str = Id
    bed: str = Id
    auto_answer: bool = False


class StationArm(ClientMessage):
    station_id: str = Id
    armed: bool


MESSAGE_TYPES: dict[str, type[ClientMessage]] = {
    "ping": Ping,
    "queue.watch": QueueWatch,
    "consult.request": ConsultRequest,
    "consult.accept": ConsultAction,
    "consult.decline": ConsultDecline,
    "consult.cancel": ConsultAction,
    "consult.join": ConsultAction,
    "consult.leave": ConsultAction,
    "consult.end": ConsultAction,
    "consult.invite": ConsultInvite,
    "signal.offer": SignalOffer,
    "signal.answer": SignalAnswer,
    "signal.candidate": SignalCandidate,
    "station.register": StationRegister,
    "station.arm": StationArm,
}
RELAYED_TYPES = frozenset({"signal.offer", "signal.answer", "signal.candidate"})


@dataclass(frozen=True)
class Frame:
    message: ClientMessage
    raw: dict[str, Any]

    @property
    def type(self) -> str:
        return self.message.type


def frame_size(text: str) -> int:
    # Cheap upper bound first: a str of n characters is at most 4n bytes in UTF-8.
    if len(text) * 4 <= MAX_MESSAGE_BYTES:
        return len(text)
    return len(text.encode("utf-8"))


def parse_frame(text: str) -> Frame:
    """The message in one text frame, or ProtocolError with the code the sender is told."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("bad_json", f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError("bad_json", "a frame must be a JSON object")
    ref = raw.get("ref") if isinstance(raw.get("ref"), str) and len(raw["ref"]) <= 64 else None
    if raw.get("v") != PROTOCOL_VERSION or isinstance(raw.get("v"), bool):
        raise ProtocolError("unsupported_version", f"protocol version must be {PROTOCOL_VERSION}", ref)
    kind = raw.get("type")
    model = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError("unknown_type", f"no such message type: {str(kind)[:64]!r}", ref)
    try:
        message = model.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError("invalid_message", _describe(exc), ref) from exc
    return Frame(message, raw)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
