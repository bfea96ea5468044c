"""Who is in which consult, as far as relaying SDP and candidates needs to know, without a database
query per candidate: a cache of each consult's membership, dropped whenever this instance sees the
consult change.

Every membership change is announced as a `consult.state` message on the consult's topic, and a socket
can only relay in a consult it has joined, so it listens to that topic: the instance that relays for it
hears every change and forgets the entry (`forget`) before any of its sockets can act on the news.
A recipient missing from an entry is looked up again, but an entry loaded moments ago is reloaded only
after RELOAD_AT_MOST seconds, so messages to a participant who is not there cost at most a few queries a
second per consult. TRUST_SECONDS is only the backstop for a change announced while Redis was away.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from bridge.consults.states import ConsultState, ParticipantStatus
from bridge.db.tables import Consult, ConsultParticipant
from bridge.runtime import Runtime

TRUST_SECONDS = 60.0
RELOAD_AT_MOST = 0.25
MAX_CONSULTS = 20_000


@dataclass(frozen=True)
class Membership:
    live: bool
    participants: frozenset[str]
    loaded_at: float

    def admits(self, participant_id: str) -> bool:
        return self.live and participant_id in self.participants


class ParticipantDirectory:
    def __init__(self, runtime: Runtime, clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime = runtime
        self._clock = clock
        self._cache: OrderedDict[str, Membership] = OrderedDict()
        # Bumped by forget(): a load that was running when the consult changed is not kept.
        self._forgotten = 0

    async def may_receive(self, consult_id: str, participant_id: str) -> bool:
        """True when the consult is live and the participant is in it (connected or reconnecting)."""
        entry = self._cache.get(consult_id)
        if entry is not None:
            age = self._clock() - entry.loaded_at
            if age < TRUST_SECONDS and entry.admits(participant_id):
                return True
            if age < RELOAD_AT_MOST:
                # Not a cached "no": the participant may have joined since, on another instance whose
                # announcement has not arrived yet. Wait out the rest of the interval, then look again.
                await asyncio.sleep(RELOAD_AT_MOST - age)
                newer = self._cache.get(consult_id)
                if newer is not None and newer is not entry and newer.admits(participant_id):
                    return True
        forgotten = self._forgotten
        entry = await run_in_threadpool(self._load, consult_id)
        if forgotten == self._forgotten:
            self._remember(consult_id, entry)
        return entry.admits(participant_id)

    def forget(self, consult_id: str) -> None:
        """The consult's membership changed (or may have): the next relay reloads it."""
        self._cache.pop(consult_id, None)
        self._forgotten += 1

    def _remember(self, consult_id: str, entry: Membership) -> None:
        self._cache[consult_id] = entry
        self._cache.move_to_end(consult_id)
        while len(self._cache) > MAX_CONSULTS:
            self._cache.popitem(last=False)

    def _load(self, consult_id: str) -> Membership:
        loaded_at = self._clock()
        with self._runtime.session_factory() as db:
            state = db.scalar(select(Consult.state).where(Consult.id == consult_id))
            ids = db.scalars(
                select(ConsultParticipant.id).where(
                    ConsultParticipant.consult_id == consult_id,
                    ConsultParticipant.status != ParticipantStatus.LEFT.value,
                )
            )
            live = state is not None and ConsultState(state).is_live
            return Membership(live, frozenset(ids), loaded_at)
