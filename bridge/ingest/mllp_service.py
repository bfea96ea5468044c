"""The MLLP listener wired to the bridge: who sent a message, and its processing in a transaction.

MLLP carries no credentials, so the sender is known by its sending facility (MSH-4) through
`BRIDGE_MLLP_SENDERS` (facility -> system client id; the demo adds its laboratory, DEMOLAB). A message
from a facility not listed, or one whose MSH cannot even be read, is still kept in the quarantine
(under the operator's view, `organization_id` "-"), and answered AR: nothing is dropped.
"""

from __future__ import annotations

import logging
import time

from fhir_adapter.hl7v2 import Hl7Error, build_ack
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from bridge.auth.resolve import client_principal
from bridge.auth.scopes import ScopeSet
from bridge.db.tables import ApiClient
from bridge.ingest.hl7_service import Hl7Ingestion
from bridge.ingest.mllp import MllpServer
from bridge.ingest.quarantine import InputKind, Quarantine, Rejection
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.settings import Settings

logger = logging.getLogger(__name__)

UNATTRIBUTED = "-"
LOCKED_ATTEMPTS = 5


def sending_facility(raw: bytes) -> str | None:
    """MSH-4's first component, read without parsing the rest (which may be what is broken)."""
    start = raw.find(b"MSH")
    if start < 0 or len(raw) < start + 8:
        return None
    separator = raw[start + 3 : start + 4]
    component = raw[start + 4 : start + 5]
    segment = raw[start:].split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = segment.split(separator)
    if len(fields) < 4 or not separator or not component:
        return None
    facility = fields[3].split(component, 1)[0].decode("ascii", "replace").strip()
    return facility or None


def mllp_senders(settings: Settings) -> dict[str, str]:
    senders = dict(settings.mllp_senders)
    if settings.demo_mode:
        from bridge.demo.laboratory import DEMO_LAB_CLIENT_ID, DEMO_LAB_FACILITY

        senders.setdefault(DEMO_LAB_FACILITY, DEMO_LAB_CLIENT_ID)
    return senders


def attributed_client(services: Services, raw: bytes) -> ApiClient | None:
    """The active system client the message's sending facility is mapped to, if any."""
    facility = sending_facility(raw)
    senders = mllp_senders(services.settings)
    if facility is None or facility not in senders:
        return None
    client = services.db.get(ApiClient, senders[facility])
    return client if client is not None and client.active else None


class BridgeMllp:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.server = MllpServer(self._on_message, self._on_broken, max_message_bytes=settings.hl7_max_message_bytes)

    async def start(self, host: str, port: int) -> None:
        await self.server.start(host, port)

    async def stop(self) -> None:
        await self.server.stop()

    async def _on_message(self, raw: bytes, address: str) -> bytes:
        return await run_in_threadpool(self._process, raw, address)

    def _process(self, raw: bytes, address: str) -> bytes:
        # SQLite refuses a transaction that read and then wants to write when another connection wrote in
        # between ("database is locked"); doing the message again in a new transaction is all it takes.
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            try:
                return self._process_once(raw, address)
            except OperationalError as exc:
                if attempt == LOCKED_ATTEMPTS or "locked" not in str(exc):
                    raise
                logger.info("MLLP message from %s met a locked database; attempt %d again", address, attempt + 1)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def _process_once(self, raw: bytes, address: str) -> bytes:
        with self.runtime.session_factory.begin() as db:
            services = Services(db, self.runtime)
            client = attributed_client(services, raw)
            if client is None:
                facility = sending_facility(raw)
                reason = (
                    f"sending facility {facility!r} is not a known MLLP sender"
                    if facility
                    else "no sending facility (MSH-4) could be read"
                )
                return self._unattributed(services, raw, address, Rejection("unknown_sender", reason))
            principal = client_principal(services, client, ScopeSet.parse(client.scopes))
            host = address.rsplit(":", 1)[0]
            answer = Hl7Ingestion(services, principal, channel="mllp", client_address=host).receive(raw)
            return answer.ack

    def _unattributed(self, services: Services, raw: bytes, address: str, rejection: Rejection) -> bytes:
        # Broken framing from a known facility is still that sender's, for its organisation's admins.
        client = attributed_client(services, raw)
        Quarantine(services).keep(
            InputKind.HL7V2,
            sender=f"client:{client.client_id}" if client is not None else f"mllp:{address}",
            organization_id=client.organization_id if client is not None else UNATTRIBUTED,
            channel="mllp",
            rejection=rejection,
            files={"message.hl7": raw},
        )
        error = Hl7Error(rejection.code, rejection.reason, "AR")
        return build_ack(raw, "AR", rejection.reason, error=error).encode("utf-8", "replace")

    async def _on_broken(self, reason: str, data: bytes, address: str) -> bytes:
        return await run_in_threadpool(self._keep_broken, reason, data, address)

    def _keep_broken(self, reason: str, data: bytes, address: str) -> bytes:
        with self.runtime.session_factory.begin() as db:
            return self._unattributed(Services(db, self.runtime), data, address, Rejection("broken_mllp", reason))
