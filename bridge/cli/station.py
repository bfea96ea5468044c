"""``bridge station``: the agent on a bedside cart's PC. It signs in as its home's system client, registers
its room and bed, joins consults started at it (or ward-round calls it may answer by itself), and sends
camera, microphone and live readings. It needs no database: only the bridge's URL and its credentials."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import click
import httpx

from bridge.demo.clinical import load_ecg_excerpt
from bridge.demo.stations import DEMO_STATION_CLIENT_ID, DEMO_STATION_SECRET, DEMO_STATION_SPOT
from bridge.logging_config import configure_logging
from rtc.media import LocalMedia, MediaSourceError, open_local_media
from rtc.readings import ReadingsStream
from rtc.signalling_client import SignallingClient, SignallingError
from rtc.station import StationAgent

logger = logging.getLogger(__name__)


class TokenSource:
    """client_credentials tokens, renewed at half their lifetime so that a reconnect always has one."""

    def __init__(self, base_url: str, client_id: str, client_secret: str) -> None:
        self.base_url, self.client_id, self._secret = base_url.rstrip("/"), client_id, client_secret

    async def fetch(self) -> tuple[str, int]:
        async with httpx.AsyncClient(timeout=20) as http:
            response = await http.post(
                f"{self.base_url}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
        if response.status_code != 200:
            raise click.ClickException(f"the bridge refused the station's credentials ({response.status_code})")
        body = response.json()
        return str(body["access_token"]), int(body.get("expires_in", 300))

    async def keep_fresh(self, agent: StationAgent, lifetime: int) -> None:
        while True:
            await asyncio.sleep(max(5, lifetime // 2))
            try:
                token, lifetime = await self.fetch()
            except (httpx.HTTPError, click.ClickException) as exc:
                logger.warning("station token renewal failed (%s); retrying", exc)
                lifetime = 20
                continue
            agent.client.token = token  # a reconnect clones the client and so takes the new token


def ecg_readings() -> ReadingsStream:
    """The demo ECG excerpt (MIT-BIH record 100, lead MLII) in microvolts, played in real time."""
    excerpt = load_ecg_excerpt()
    lead = excerpt["leads"][0]
    gain, baseline = float(lead["adc_gain"]), int(lead["baseline"])
    microvolts = [round((int(raw) - baseline) / gain * 1000) for raw in lead["samples"]]
    return ReadingsStream(microvolts, int(excerpt["sampling_frequency_hz"]), lead="II")


async def run_station(
    url: str, client_id: str, secret: str, room: str, bed: str, auto_answer: bool, media: LocalMedia, readings: bool
) -> None:
    tokens = TokenSource(url, client_id, secret)
    token, lifetime = await tokens.fetch()
    ws_url = url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://") + "/ws/signal"
    agent = StationAgent(
        SignallingClient(ws_url, token=token),
        media,
        room=room,
        bed=bed,
        auto_answer=auto_answer,
        readings=ecg_readings() if readings else None,
    )
    renewing = asyncio.create_task(tokens.keep_fresh(agent, lifetime))
    try:
        await agent.run()
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing


@click.command(help="Run the bedside station agent (an aiortc peer) for one room and bed.")
@click.option("--url", default="http://localhost:8000", show_default=True, help="The bridge's base URL.")
@click.option("--demo", is_flag=True, help="Use the demo station's credentials, room and bed (demo-home-1).")
@click.option("--client-id", default=None, help="The station's system client id.")
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from standard input.")
@click.option("--room", default=None, help="Location id of the room.")
@click.option("--bed", default=None, help="Location id of the bed.")
@click.option("--auto-answer", is_flag=True, help="The home lets this station answer ward-round calls by itself.")
@click.option("--test-pattern", is_flag=True, help="Send a test pattern and a tone instead of camera and microphone.")
@click.option("--media", default=None, help='A media file, or devices: "v4l2:/dev/video0+alsa:default".')
@click.option("--no-readings", is_flag=True, help="Send no live readings.")
def station(
    url: str,
    demo: bool,
    client_id: str | None,
    client_secret_stdin: bool,
    room: str | None,
    bed: str | None,
    auto_answer: bool,
    test_pattern: bool,
    media: str | None,
    no_readings: bool,
) -> None:
    configure_logging("INFO")
    if demo:
        client_id = client_id or DEMO_STATION_CLIENT_ID
        room, bed = room or DEMO_STATION_SPOT[0], bed or DEMO_STATION_SPOT[1]
    secret = sys.stdin.readline().rstrip("\r\n") if client_secret_stdin else (DEMO_STATION_SECRET if demo else "")
    if not client_id or not secret or not room or not bed:
        raise click.UsageError("give --client-id, --client-secret-stdin, --room and --bed (or --demo)")
    if test_pattern == bool(media):
        raise click.UsageError("give exactly one of --test-pattern and --media")
    try:
        local = open_local_media("test-pattern" if test_pattern else str(media))
    except MediaSourceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        asyncio.run(run_station(url, client_id, secret, room, bed, auto_answer, local, not no_readings))
    except SignallingError as exc:
        raise click.ClickException(f"signalling refused the station: {exc}") from None
    except KeyboardInterrupt:
        pass
    finally:
        local.close()
