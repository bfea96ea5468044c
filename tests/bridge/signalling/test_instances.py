"""Two `bridge serve` processes on one PostgreSQL and one Redis: a station and a nurse on instance A, the
doctor on instance B, real aiortc media between them; B crashes and restarts, the doctor rejoins the
same consult with the same participant id; a doctor who never comes back ends the consult when the
reconnect window passes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from bridge.demo.stations import DEMO_STATION_CLIENT_ID, DEMO_STATION_SECRET, DEMO_STATION_SPOT
from rtc.media import LocalMedia, TestPatternVideoTrack
from rtc.mesh import MeshPeer
from rtc.readings import ReadingsStream
from rtc.signalling_client import SignallingClient
from rtc.station import StationAgent
from tests.bridge.signalling.instances import Instance, client_token, instance_env, token
from tests.bridge.signalling.support import run
from tests.bridge.signalling.test_real_peers import wait_for_state
from tests.rtc.redis_support import REDIS_URL, require_redis
from tests.rtc.test_mesh import Watcher, heartbeat_ecg, increasing
from tests.support import free_port, fresh_database

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    require_redis()
    with fresh_database("postgresql", str(tmp_path_factory.mktemp("instances"))) as url:
        port_a = free_port()
        env = instance_env(url, REDIS_URL, f"http://127.0.0.1:{port_a}")
        a = Instance("A", env, port_a).start()  # migrates and seeds first; B then finds it done
        b = Instance("B", env)
        try:
            b.start()
            yield a, b
        finally:
            for instance in (a, b):
                log = instance.stop()
                assert "Traceback" not in log, log


def first_resident(instance: Instance, bearer: str) -> str:
    response = httpx.get(
        f"{instance.url}/fhir/Patient",
        params={"_count": "1", "_sort": "name"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["entry"][0]["resource"]["id"])


async def rejoin(doctor: MeshPeer, signalling: SignallingClient, consult_id: str, pid: str) -> SignallingClient:
    await signalling.connect()
    doctor.attach(signalling)
    await doctor.join(consult_id)
    assert doctor.participant_id == pid  # the same place in the consult
    return signalling


def test_a_consult_across_two_instances_survives_a_crash_and_ends_when_the_window_passes(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    nurse_token, doctor_token = token(a, "nurse1"), token(b, "doctor")
    station_token = client_token(a, DEMO_STATION_CLIENT_ID, DEMO_STATION_SECRET)
    patient = first_resident(a, nurse_token)

    async def body() -> None:
        media = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
        agent = StationAgent(
            SignallingClient(a.ws, token=station_token),
            media,
            room=DEMO_STATION_SPOT[0],
            bed=DEMO_STATION_SPOT[1],
            readings=ReadingsStream(heartbeat_ecg(), 250),
            backoff_initial=0.1,
        )
        running = asyncio.create_task(agent.run())
        nurse = SignallingClient(a.ws, token=nurse_token)
        doctor_client = SignallingClient(b.ws, token=doctor_token)
        seen = Watcher()
        doctor = MeshPeer(doctor_client, on_track=seen.on_track, on_reading=seen.on_reading)
        try:
            await nurse.connect()
            await doctor_client.connect()
            await asyncio.wait_for(agent.registered.wait(), 15)
            await doctor_client.request("queue.watch")
            requested = await nurse.request(
                "consult.request",
                patient_id=patient,
                urgency="emergency",
                reason="跌倒后意识模糊",
                station_id=DEMO_STATION_CLIENT_ID,
            )
            consult_id = requested["consult"]["id"]
            ring = await doctor_client.next_event("queue.ring")  # published on A, heard on B via Redis
            assert ring["item"]["consult_id"] == consult_id
            accepted = await doctor_client.request("consult.accept", consult_id=consult_id)
            doctor_pid = accepted["you"]
            await doctor.join(consult_id)
            assert increasing(await seen.frames_on_newest_track(5, timeout=20))
            async with asyncio.timeout(10):
                while not seen.readings:
                    await asyncio.sleep(0.05)

            # B crashes: no goodbye from it. A notices its presence rows going stale.
            b.stop(crash=True)
            state = await wait_for_state(
                nurse,
                consult_id,
                lambda c: any(p["id"] == doctor_pid and p["status"] == "reconnecting" for p in c["participants"]),
            )
            assert state["state"] == "reconnecting"
            # The doctor's page reconnects to the instance that is up and rejoins the same consult.
            doctor_client = await rejoin(doctor, SignallingClient(a.ws, token=doctor_token), consult_id, doctor_pid)
            assert increasing(await seen.frames_on_newest_track(5, after=1, timeout=20))
            await wait_for_state(nurse, consult_id, lambda c: c["state"] == "in_call")
            # B comes back; the doctor moves over to it (a reload behind a load balancer) and rejoins.
            await asyncio.to_thread(b.start)
            await doctor_client.close()
            doctor_client = await rejoin(doctor, SignallingClient(b.ws, token=doctor_token), consult_id, doctor_pid)
            assert increasing(await seen.frames_on_newest_track(5, after=2, timeout=20))
            await wait_for_state(nurse, consult_id, lambda c: c["state"] == "in_call")

            # The doctor's socket closes and nobody comes back within the window: the consult ends.
            await doctor.close()
            await doctor_client.close()
            ended = await wait_for_state(nurse, consult_id, lambda c: c["state"] == "ended")
            assert ended["end_reason"] == "reconnect_timeout"
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await doctor.close()
            await seen.close()
            media.close()
            await doctor_client.close()
            await nurse.close()

    run(body, timeout=120)
