"""Shared parts of the signalling benchmarks (bench_signalling.py, bench_call_setup.py).

- the machine: load average, CPU time and resident memory of a process from /proc, the descriptor limit;
- payloads of a browser's size: a Chrome-like offer and answer (audio, video, data channel) and trickled
  ICE candidates;
- a fresh seeded database, and bearer tokens minted with the app's own TokenService (no password logins:
  argon2 is slow on purpose, and sign-in is not what is measured);
- server processes: the real bridge exactly as ``bridge serve`` runs it (``python3 -m bridge serve``,
  configured by ``BRIDGE_`` variables), and the baseline, a bare WebSocket relay on the same stack
  (Starlette under uvicorn, same WebSocket implementation and defaults) that forwards each frame by its
  ``to`` field with no authentication, validation, membership check, hub or database;
- percentiles.

``python3 -m tests.benchmarks.signal_bench_support bare --port P`` serves the bare relay.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SERVER_START_TIMEOUT_S = 60
BARE_PATH = "/ws/bare"
SIGNAL_PATH = "/ws/signal"


class BenchError(RuntimeError):
    pass


_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- the machine ----------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine(load_at_start: list[float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "memory_gb": _memory_gb(),
        # Other work on the machine skews every figure; the load average says how busy it was.
        "load_average_1_5_15_at_start": load_at_start,
        "load_average_1_5_15_at_end": load_average(),
    }


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (and its live children), from /proc; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) or 0.0 for child in children)


def process_rss_bytes(pid: int) -> int | None:
    """Resident set size of one process, from /proc/<pid>/status (VmRSS); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (up to the hard limit); returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# --- payloads of a browser's size -------------------------------------------------------------------

# A Chrome offer for a call with a microphone, a camera and a data channel (BUNDLE, one m-line each),
# shortened to the codecs Chrome 120+ actually lists; 5-6 kB like the real thing.
_OFFER = """v=0
o=- {session} {version} IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1 2
a=extmap-allow-mixed
a=msid-semantic: WMS {stream}
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:{stream} {audio_track}
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:{ssrc_a} cname:{cname}
a=ssrc:{ssrc_a} msid:{stream} {audio_track}
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendrecv
a=msid:{stream} {video_track}
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=rtcp-fb:106 goog-remb
a=rtcp-fb:106 transport-cc
a=rtcp-fb:106 ccm fir
a=rtcp-fb:106 nack
a=rtcp-fb:106 nack pli
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 H264/90000
a=rtcp-fb:127 goog-remb
a=rtcp-fb:127 transport-cc
a=rtcp-fb:127 ccm fir
a=rtcp-fb:127 nack
a=rtcp-fb:127 nack pli
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:39 AV1/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-idx=5;profile=0;tier=0
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 VP9/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 profile-id=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=2
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 red/90000
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:112 ulpfec/90000
a=rtpmap:113 flexfec-03/90000
a=rtcp-fb:113 goog-remb
a=rtcp-fb:113 transport-cc
a=fmtp:113 repair-window=10000000
a=rtpmap:116 H264/90000
a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:118 H264/90000
a=fmtp:118 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=64001f
a=ssrc-group:FID {ssrc_v} {ssrc_r}
a=ssrc:{ssrc_v} cname:{cname}
a=ssrc:{ssrc_v} msid:{stream} {video_track}
a=ssrc:{ssrc_r} cname:{cname}
a=ssrc:{ssrc_r} msid:{stream} {video_track}
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:actpass
a=mid:2
a=sctp-port:5000
a=max-message-size:262144
"""

# Chrome's answer to it: the same m-lines with the codecs both sides have (opus, VP8, H264 42e01f, AV1).
_ANSWER = """v=0
o=- {session} {version} IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1 2
a=extmap-allow-mixed
a=msid-semantic: WMS {stream}
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:active
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:{stream} {audio_track}
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:{ssrc_a} cname:{cname}
m=video 9 UDP/TLS/RTP/SAVPF 96 97 106 107 39 40 100 101 112
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:active
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:{stream} {video_track}
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:106 H264/90000
a=rtcp-fb:106 goog-remb
a=rtcp-fb:106 transport-cc
a=rtcp-fb:106 ccm fir
a=rtcp-fb:106 nack
a=rtcp-fb:106 nack pli
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:39 AV1/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-idx=5;profile=0;tier=0
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:100 red/90000
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:112 ulpfec/90000
a=ssrc-group:FID {ssrc_v} {ssrc_r}
a=ssrc:{ssrc_v} cname:{cname}
a=ssrc:{ssrc_r} cname:{cname}
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=ice-options:trickle
a=fingerprint:sha-256 {fingerprint}
a=setup:active
a=mid:2
a=sctp-port:5000
a=max-message-size:262144
"""

CANDIDATES_PER_SIDE = 4  # host (mDNS), host over a second interface, server-reflexive, relay; then the end


def _identity(seed: int) -> dict[str, Any]:
    hexes = f"{seed * 2654435761 % 2**64:016x}" * 4
    return {
        "stream": f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:32]}",
        "audio_track": f"a{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-8{hexes[17:20]}-{hexes[20:32]}",
        "video_track": f"v{hexes[2:10]}-{hexes[10:14]}-4{hexes[15:18]}-8{hexes[19:22]}-{hexes[22:34]}",
        "ufrag": hexes[:4],
        "pwd": hexes[4:28],
        "fingerprint": ":".join(hexes[i : i + 2].upper() for i in range(0, 64, 2)),
        "cname": hexes[30:46],
        "ssrc_a": 1_000_000 + seed % 1_000_000,
        "ssrc_v": 2_000_000 + seed % 1_000_000,
        "ssrc_r": 3_000_000 + seed % 1_000_000,
    }


def offer_sdp(seed: int, version: int) -> str:
    """A Chrome-like offer (about 6 kB); ``version`` is the o= line's session version (counts renegotiations)."""
    return _OFFER.format(session=4_000_000_000_000_000_000 + seed, version=version, **_identity(seed)).replace(
        "\n", "\r\n"
    )


def answer_sdp(seed: int, version: int) -> str:
    """The matching Chrome-like answer (about 4 kB)."""
    return _ANSWER.format(session=5_000_000_000_000_000_000 + seed, version=version, **_identity(seed + 7)).replace(
        "\n", "\r\n"
    )


def sdp_version(sdp: str) -> int:
    origin = sdp.split("\r\n", 2)[1]
    return int(origin.split()[2])


def candidates(seed: int) -> list[dict[str, Any]]:
    """A browser's trickled candidates (RTCIceCandidate.toJSON()) for one BUNDLE transport."""
    ufrag = _identity(seed)["ufrag"]
    port = 40_000 + seed % 20_000
    mdns = f"{seed:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b.local"
    lines = [
        f"candidate:{seed % 4_000_000_000} 1 udp 2122260223 {mdns} {port} typ host generation 0 "
        f"ufrag {ufrag} network-id 1 network-cost 10",
        f"candidate:{(seed + 1) % 4_000_000_000} 1 udp 2122194687 192.0.2.{seed % 250 + 2} {port + 1} typ host "
        f"generation 0 ufrag {ufrag} network-id 2",
        f"candidate:{(seed + 2) % 4_000_000_000} 1 udp 1685987071 203.0.113.{seed % 250 + 2} {port} typ srflx "
        f"raddr 0.0.0.0 rport 0 generation 0 ufrag {ufrag} network-id 1 network-cost 10",
        f"candidate:{(seed + 3) % 4_000_000_000} 1 udp 41885439 198.51.100.7 {50_000 + seed % 10_000} typ relay "
        f"raddr 203.0.113.{seed % 250 + 2} rport {port} generation 0 ufrag {ufrag} network-id 1 network-cost 10",
    ]
    return [{"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": ufrag} for line in lines]


# --- a seeded database and bearer tokens --------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    role: str
    organization_id: str


@dataclass
class Seeded:
    url: str
    accounts: dict[str, Account]
    # home id -> ids of residents without a recording consent: consults of the others are recorded
    # (the server's recorder joins them as a peer), which the signalling benchmarks leave out
    residents: dict[str, list[str]] = field(default_factory=dict)
    recorded: list[str] = field(default_factory=list)  # residents with a recording consent


@contextmanager
def seeded_database(backend: str, tmp: str) -> Iterator[Seeded]:
    """A fresh migrated database with the demo data (a SQLite file, or a new PostgreSQL schema)."""
    from bridge.db.migrate import upgrade
    from bridge.demo.seed import seed_demo
    from bridge.recording.consent import recording_consented
    from bridge.runtime import Runtime
    from bridge.services import Services
    from bridge.settings import Settings
    from tests.support import fresh_database

    with fresh_database(backend, tmp) as url:
        upgrade(url)
        runtime = Runtime.from_settings(Settings(database_url=url, secret_key="bench-seed-" + "x" * 32))
        seeded = Seeded(url, {})
        try:
            with runtime.session_factory.begin() as db:
                services = Services(db, runtime)
                summary = seed_demo(services)
                for resident in summary.residents:
                    if recording_consented(services, resident["id"]):
                        seeded.recorded.append(resident["id"])
                    else:
                        seeded.residents.setdefault(resident["home_id"], []).append(resident["id"])
        finally:
            runtime.engine.dispose()
        seeded.accounts = {
            a["username"]: Account(a["id"], a["username"], a["role"], a["organization_id"]) for a in summary.accounts
        }
        yield seeded


def mint_tokens(settings_env: Mapping[str, str], account: Account, count: int) -> list[str]:
    """``count`` bearer tokens for one account, as its password grant would issue them (each one distinct)."""
    from bridge.accounts.roles import ROLE_MAX_SCOPES, Role
    from bridge.auth.tokens import TokenService

    tokens = TokenService(
        settings_env["BRIDGE_SECRET_KEY"],
        issuer=settings_env["BRIDGE_PUBLIC_BASE_URL"],
        audience=settings_env["BRIDGE_PUBLIC_BASE_URL"],
        lifetime_seconds=int(settings_env["BRIDGE_TOKEN_LIFETIME_SECONDS"]),
    )
    scope = ROLE_MAX_SCOPES[Role(account.role)]
    now = datetime.now(UTC)
    return [tokens.issue("user", account.id, scope, account.organization_id, now) for _ in range(count)]


# --- server processes ---------------------------------------------------------------------------------


def bridge_environment(
    database_url: str, port: int, secret: str, redis_url: str | None = None, public_port: int | None = None
) -> dict[str, str]:
    """``BRIDGE_`` variables of one instance. Instances of one deployment share the key and public URL."""
    env = {
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_SECRET_KEY": secret,
        # Behind a proxy every instance has the public URL of the proxy: tokens name it as audience.
        "BRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{public_port or port}",
        "BRIDGE_TOKEN_LIFETIME_SECONDS": "900",
        # The per-socket rate limit (default 50 frames/s) is a policy against runaway clients, not a
        # cost: quick runs saturate 80 sockets at over 100 frames/s each and would measure the limit.
        "BRIDGE_SIGNAL_RATE_PER_SECOND": "100000",
        "BRIDGE_SIGNAL_RATE_BURST": "100000",
    }
    if redis_url:
        env["BRIDGE_REDIS_URL"] = redis_url
    return env


@dataclass
class ServerProcess:
    kind: str  # bridge | bare
    port: int
    pid: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{SIGNAL_PATH if self.kind == 'bridge' else BARE_PATH}"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid) or 0.0

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.pid) or 0


@dataclass(frozen=True)
class ServerSpec:
    kind: str  # bridge | bare
    port: int
    env: Mapping[str, str] = field(default_factory=dict)


@contextmanager
def server_processes(specs: Sequence[ServerSpec], tmp: str) -> Iterator[list[ServerProcess]]:
    """Servers in processes of their own, started together; yields once every one answers /healthz.

    The bridge runs as in production, ``python3 -m bridge serve`` configured by ``BRIDGE_`` variables;
    the bare relay as ``python3 -m tests.benchmarks.signal_bench_support bare``. On exit they are killed:
    closing thousands of sockets one by one first would only measure the clean-up.
    """
    started: list[tuple[ServerSpec, subprocess.Popen[bytes], Path]] = []
    try:
        for spec in specs:
            if spec.kind == "bridge":
                command = [sys.executable, "-m", "bridge", "serve", "--host", "127.0.0.1", "--port", str(spec.port)]
            elif spec.kind == "bare":
                command = [
                    sys.executable,
                    "-m",
                    "tests.benchmarks.signal_bench_support",
                    "bare",
                    "--port",
                    str(spec.port),
                ]
            else:
                raise ValueError(spec.kind)
            log_path = Path(tmp) / f"{spec.kind}-{spec.port}.log"
            child_env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
            child_env.update(spec.env)
            with log_path.open("wb") as server_log:
                process = subprocess.Popen(
                    command, cwd=REPO, env=child_env, stdout=server_log, stderr=subprocess.STDOUT
                )
            started.append((spec, process, log_path))
        for spec, process, log_path in started:
            _wait_until_healthy(spec.port, process, log_path)
        yield [ServerProcess(spec.kind, spec.port, process.pid, log_path) for spec, process, log_path in started]
    finally:
        for _, process, _ in started:
            process.kill()
        for _, process, _ in started:
            process.wait(timeout=30)


def _wait_until_healthy(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the server exited with {process.returncode}:\n{tail(log_path)}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s:\n{tail(log_path)}")


def tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-4000:]


# --- the bare relay (the baseline) --------------------------------------------------------------------


def bare_relay_app() -> Any:
    """A WebSocket relay with nothing but forwarding: ``?id=`` names the socket, a frame goes to its ``to``.

    It parses the JSON, swaps ``to`` for ``from`` and sends the re-encoded frame straight to the target
    socket: the least a relay that addresses by a field can do. No authentication, validation, rate
    limit, membership check, queue per socket, broker or database.
    """
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sockets: dict[str, WebSocket] = {}

    async def relay(websocket: WebSocket) -> None:
        await websocket.accept()
        me = websocket.query_params.get("id", "")
        sockets[me] = websocket
        await websocket.send_text('{"v":1,"type":"welcome"}')
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                target = sockets.get(message.pop("to", None))
                if target is not None:
                    message["from"] = me
                    await target.send_text(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
        except WebSocketDisconnect:
            pass
        finally:
            if sockets.get(me) is websocket:
                del sockets[me]

    async def healthz(_: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", healthz), WebSocketRoute(BARE_PATH, relay)])


# --- figures ------------------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def latency_summary(latencies_s: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(latencies_s)
    if not ordered:
        return {"messages": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    return {
        "messages": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="serve the bare relay (the benchmark's baseline)")
    parser.add_argument("kind", choices=["bare"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # uvicorn's defaults, as `bridge serve` uses them (same WebSocket implementation and options).
    uvicorn.run(
        bare_relay_app(),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        proxy_headers=True,
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
