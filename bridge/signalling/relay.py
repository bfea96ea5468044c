"""Who is in which consult, as far as relaying SDP and candidates needs to know, without a database
query per candidate: a small cache that is reloaded whenever it cannot vouch for a recipient."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bridge.consults.states import ConsultState, ParticipantStatus
from bridge.db.tables import Consult, ConsultParticipant
from bridge.runtime import Runtime

# How long a cached membership is trusted for a recipient it lists; a recipient it does not list is
# looked up again, at most once per RELOAD_AT_MOST seconds per consult.
TRUST_SECONDS = 5.0
RELOAD_AT_MOST = 0.25
MAX_CONSULTS = 20_000


@dataclass(frozen=True)
class Membership:
    live: bool
    participants: frozenset[str]
    loaded_at: float


class ParticipantDirectory:
    def __init__(self, runtime: Runtime, clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime = runtime
        self._clock = clock
        self._cache: OrderedDict[str, Membership] = OrderedDict()

    async def may_receive(self, consult_id: str, participant_id: str) -> bool:
        """True when the consult is live and the participant is in it (connected or reconnecting)."""
        entry = self._cache.get(consult_id)
        now = self._clock()
        if entry is not None:
            fresh = now - entry.loaded_at < TRUST_SECONDS
            if fresh and entry.live and participant_id in entry.participants:
                return True
            if now - entry.loaded_at < RELOAD_AT_MOST:
                return entry.live and participant_id in entry.participants
        entry = await run_in_threadpool(self._load, consult_id)
        self._remember(consult_id, entry)
        return entry.live and participant_id in entry.participants

    def forget(self, consult_id: str) -> None:
        """This instance changed the consult's membership: the next relay reloads it."""
        self._cache.pop(consult_id, None)

    def _remember(self, consult_id: str, entry: Membership) -> None:
        self._cache[consult_id] = entry
        self._cache.move_to_end(consult_id)
        while len(self._cache) > MAX_CONSULTS:
            self._cache.popitem(last=False)

    def _load(self, consult_id: str) -> Membership:
        with self._runtime.session_factory() as db:
            state = db.scalar(select(Consult.state).where(Consult.id == consult_id))
            ids = db.scalars(
                select(ConsultParticipant.id).where(
                    ConsultParticipant.consult_id == consult_id,
                    ConsultParticipant.status != ParticipantStatus.LEFT.value,
                )
            )
            live = state is not None and ConsultState(state).is_live
            return Membership(live, frozenset(ids), self._clock())
