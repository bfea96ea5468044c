"""ICE servers for clients, with short-lived TURN credentials in the coturn "TURN REST API" style.

coturn started with ``use-auth-secret`` and ``static-auth-secret=<secret>`` accepts any username of the
form ``<expiry unix seconds>:<user>`` whose password is ``base64(HMAC-SHA1(secret, username))``, until
the expiry passes. The application and coturn share only the secret; no per-user state exists anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)

# Credentials leave the server in every `welcome`; an hour bounds what a leaked one is worth.
MAX_TTL_SECONDS = 3600
# coturn's default `rest-api-separator`.
SEPARATOR = ":"

# RFC 7064 (stun, stuns) and RFC 7065 (turn, turns): scheme ":" host [":" port] ["?transport=" udp|tcp].
_URL = re.compile(
    r"^(?P<scheme>stuns?|turns?):"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?$"
)


@dataclass(frozen=True)
class IceUrl:
    """One parsed STUN or TURN URL."""

    url: str
    scheme: str
    host: str

    @property
    def is_turn(self) -> bool:
        return self.scheme in {"turn", "turns"}


def parse_ice_url(url: str) -> IceUrl:
    """Parse and validate a stun:, stuns:, turn: or turns: URL; raise ValueError otherwise."""
    match = _URL.match(url)
    if match is None:
        raise ValueError(f"not a valid STUN/TURN URL (stun:, stuns:, turn:, turns:): {url!r}")
    scheme = match["scheme"]
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"port out of range in {url!r}")
    if match["transport"] is not None and scheme not in {"turn", "turns"}:
        raise ValueError(f"only TURN URLs take a transport: {url!r}")
    return IceUrl(url=url, scheme=scheme, host=match["host"].lower())


@dataclass(frozen=True)
class IceServer:
    """One RTCIceServer as the WebRTC API (and aiortc) understands it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("an ICE server needs at least one URL")
        for url in self.urls:
            parse_ice_url(url)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


def _check_ttl(ttl_seconds: int) -> None:
    if ttl_seconds <= 0:
        raise ValueError(f"TURN credential lifetime must be positive, not {ttl_seconds}")
    if ttl_seconds > MAX_TTL_SECONDS:
        raise ValueError(f"TURN credential lifetime {ttl_seconds} s exceeds the cap of {MAX_TTL_SECONDS} s")


def turn_rest_credentials(shared_secret: str, user: str, now: datetime, ttl_seconds: int) -> tuple[str, str]:
    """(username, password) valid on coturn until ``now + ttl_seconds``."""
    if not shared_secret:
        raise ValueError("a TURN shared secret is required")
    if not user:
        raise ValueError("the TURN user must not be empty")
    if SEPARATOR in user:
        # Refused rather than rewritten: the user part is an identity in coturn's logs, and a silently
        # altered one would no longer match the participant it names.
        raise ValueError(f"the TURN user must not contain {SEPARATOR!r}: {user!r}")
    if now.tzinfo is None:
        # A naive datetime's timestamp() is local time, which would shift every expiry by the UTC offset.
        raise ValueError("now must be timezone-aware")
    _check_ttl(ttl_seconds)
    expiry = int(now.timestamp()) + ttl_seconds
    username = f"{expiry}{SEPARATOR}{user}"
    digest = hmac.new(shared_secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(
    user: str,
    *,
    stun_urls: Sequence[str],
    turn_urls: Sequence[str],
    shared_secret: str | None,
    ttl_seconds: int,
    now: datetime,
) -> list[IceServer]:
    """The RTCIceServer list for one client: STUN first, then TURN with fresh credentials.

    All STUN URLs go in one entry (they carry no credentials). TURN URLs get one entry per host, all with
    the same credentials: every coturn behind the bridge shares the secret, and an entry per host keeps
    "one RTCIceServer = one server" true, so a browser's ICE log names the server that failed.
    """
    _check_ttl(ttl_seconds)
    stun = [parse_ice_url(url) for url in stun_urls]
    turn = [parse_ice_url(url) for url in turn_urls]
    misplaced = [u.url for u in stun if u.is_turn] + [u.url for u in turn if not u.is_turn]
    if misplaced:
        raise ValueError(f"STUN and TURN URLs are in the wrong lists: {misplaced}")

    servers: list[IceServer] = []
    if stun:
        servers.append(IceServer(urls=tuple(u.url for u in stun)))
    if not turn:
        return servers
    if not shared_secret:
        # A static TURN password would be handed to every client and never expire; without the
        # shared secret the clients get no TURN at all.
        logger.warning("TURN URLs are configured without a shared secret; offering no TURN servers")
        return servers

    username, password = turn_rest_credentials(shared_secret, user, now, ttl_seconds)
    by_host: dict[str, list[str]] = {}
    for parsed in turn:
        urls = by_host.setdefault(parsed.host, [])
        if parsed.url not in urls:
            urls.append(parsed.url)
    servers.extend(IceServer(urls=tuple(urls), username=username, credential=password) for urls in by_host.values())
    return servers
