"""A consult from request to hang-up through the real /ws/signal over a live server, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from bridge.app import create_app
from bridge.runtime import Runtime
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.signalling.support import BED_H1, ROOM_H1, client, resident_of, run, station_token, ws_url
from tests.conftest import Bridge, make_settings
from tests.support import LiveServer


async def first_ring(*doctors: SignallingClient) -> dict[str, object]:
    waits = [asyncio.create_task(d.next_event("queue.ring")) for d in doctors]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next(iter(done)).result()


def test_welcome_names_the_caller_and_gives_ice_servers(bridge: Bridge) -> None:
    async def body() -> None:
        nurse = await client(bridge, "nurse1")
        try:
            assert nurse.welcome is not None
            assert nurse.welcome["you"]["kind"] == "user"
            assert nurse.welcome["you"]["role"] == "nurse"
            assert nurse.welcome["you"]["organization"] == "demo-home-1"
            assert nurse.welcome["max_message_bytes"] == 65536
            assert isinstance(nurse.welcome["ice_servers"], list)
            pong = await nurse.request("ping")
            assert pong["type"] == "pong"
        finally:
            await nurse.close()

    run(body)


def test_nurse_requests_doctor_accepts_both_join_and_relay_reaches_only_the_addressee(bridge: Bridge) -> None:
    patient = resident_of(bridge)

    async def body() -> None:
        doctor = await client(bridge, "doctor")
        doctor2 = await client(bridge, "doctor2")
        nurse = await client(bridge, "nurse1")
        try:
            for d in (doctor, doctor2):
                snapshot = await d.request("queue.watch")
                assert snapshot["type"] == "queue.snapshot"
            state = await nurse.request(
                "consult.request", patient_id=patient["id"], urgency="urgent", reason="发热 38.5"
            )
            consult = state["consult"]
            assert consult["state"] == "ringing"
            nurse_pid = state["you"]
            # An urgent request rings the on-duty doctor who waited longest; both see the queue change.
            for d in (doctor, doctor2):
                update = await d.next_event("queue.update")
                assert update["item"]["consult_id"] == consult["id"] and update["item"]["urgency"] == "urgent"
            rung = await first_ring(doctor, doctor2)
            assert rung["item"]["consult_id"] == consult["id"]
            accepted = await doctor.request("consult.accept", consult_id=consult["id"])
            assert accepted["consult"]["state"] in {"accepted", "in_call"}
            doctor_pid = accepted["you"]
            removed = await doctor2.next_event("queue.removed")
            assert removed == {"v": 1, "type": "queue.removed", "consult_id": consult["id"], "reason": "accepted"}
            with pytest.raises(SignallingError) as taken:
                await doctor2.request("consult.accept", consult_id=consult["id"])
            assert taken.value.code in {"already_taken", "invalid_transition"}
            # The nurse hears the doctor arrive.
            seen = await nurse.next_event("consult.state")
            while len(seen["consult"]["participants"]) < 2:
                seen = await nurse.next_event("consult.state")
            # Relay: the nurse's offer reaches the doctor, from the nurse's participant id.
            await nurse.send("signal.offer", consult_id=consult["id"], to=doctor_pid, sdp="v=0 fake")
            offer = await doctor.next_event("signal.offer")
            assert offer["from"] == nurse_pid and offer["sdp"] == "v=0 fake" and "to" not in offer
            await doctor.send(
                "signal.candidate",
                consult_id=consult["id"],
                to=nurse_pid,
                candidate={"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0},
            )
            candidate = await nurse.next_event("signal.candidate")
            assert candidate["from"] == doctor_pid
            # A doctor who is not in the consult cannot send into it.
            with pytest.raises(SignallingError) as outsider:
                await doctor2.request("signal.offer", consult_id=consult["id"], to=nurse_pid, sdp="x")
            assert outsider.value.code == "not_in_consult"
            # Nor to a participant id that is not in it.
            with pytest.raises(SignallingError) as nobody:
                await nurse.request("signal.answer", consult_id=consult["id"], to="p-000000000000", sdp="x")
            assert nobody.value.code == "not_in_consult"
            ended = await nurse.request("consult.end", consult_id=consult["id"])
            assert ended["consult"]["state"] == "ended"
            final = await doctor.next_event("consult.state")
            while final["consult"]["state"] != "ended":
                final = await doctor.next_event("consult.state")
            with pytest.raises(SignallingError) as over:
                await doctor.request("consult.join", consult_id=consult["id"])
            assert over.value.code == "consult_ended"
            with bridge.services() as services:
                encounter = services.repository.read("Encounter", consult["id"])
            assert encounter["status"] == "finished"
            assert encounter["class"]["code"] == "VR"
        finally:
            for c in (doctor, doctor2, nurse):
                await c.close()

    run(body)


def test_another_homes_nurse_cannot_see_or_join(bridge: Bridge) -> None:
    patient = resident_of(bridge)

    async def body() -> None:
        nurse = await client(bridge, "nurse1")
        other = await client(bridge, "nurse2")
        try:
            with pytest.raises(SignallingError) as hidden:
                await other.request("consult.request", patient_id=patient["id"], urgency="routine", reason="x")
            assert hidden.value.code == "not_found"
            state = await nurse.request("consult.request", patient_id=patient["id"], urgency="routine", reason="复诊")
            with pytest.raises(SignallingError) as refused:
                await other.request("consult.join", consult_id=state["consult"]["id"])
            assert refused.value.code in {"forbidden", "invalid_transition"}
            with pytest.raises(SignallingError) as refused_cancel:
                await other.request("consult.cancel", consult_id=state["consult"]["id"])
            assert refused_cancel.value.code == "forbidden"
            cancelled = await nurse.request("consult.cancel", consult_id=state["consult"]["id"])
            assert cancelled["consult"]["state"] == "cancelled"
        finally:
            await nurse.close()
            await other.close()

    run(body)


def test_a_station_registers_in_its_home_and_a_nurse_arms_it(bridge: Bridge) -> None:
    token = station_token(bridge)

    async def body() -> None:
        station = SignallingClient(ws_url(bridge.url), token=token)
        await station.connect()
        nurse = await client(bridge, "nurse1")
        other_nurse = await client(bridge, "nurse2")
        try:
            assert station.welcome is not None and station.welcome["you"]["kind"] == "client"
            with pytest.raises(SignallingError) as wrong_home:
                await station.request("station.register", room="demo-h2-room-201", bed="demo-h2-bed-201-1")
            assert wrong_home.value.code == "not_found"
            registered = await station.request("station.register", room=ROOM_H1, bed=BED_H1, auto_answer=True)
            assert registered["armed"] is False and registered["auto_answer"] is True
            station_id = registered["station_id"]
            with pytest.raises(SignallingError) as foreign:
                await other_nurse.request("station.arm", station_id=station_id, armed=True)
            assert foreign.value.code == "not_found"
            armed = await nurse.request("station.arm", station_id=station_id, armed=True)
            assert armed["armed"] is True
            told = await station.next_event("station.registered")
            assert told["armed"] is True
        finally:
            for c in (station, nurse, other_nurse):
                await c.close()

    run(body)


def test_bad_frames_get_errors_and_the_socket_goes_on(bridge: Bridge) -> None:
    async def body() -> None:
        from websockets.asyncio.client import connect

        token = await asyncio.to_thread(bridge.token, "nurse1")
        async with connect(ws_url(bridge.url), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome"
            cases = [
                ("not json", "bad_json"),
                ("[1, 2]", "bad_json"),
                (json.dumps({"v": 2, "type": "ping"}), "unsupported_version"),
                (json.dumps({"v": 1, "type": "consult.explode", "ref": "r1"}), "unknown_type"),
                (json.dumps({"v": 1, "type": "consult.request", "patient_id": "x"}), "invalid_message"),
                (json.dumps({"v": 1, "type": "ping", "extra": 1}), "invalid_message"),
                (json.dumps({"v": 1, "type": "consult.join", "consult_id": "nope"}), "not_found"),
                (
                    json.dumps({"v": 1, "type": "signal.offer", "consult_id": "c", "to": "p", "sdp": "x"}),
                    "not_in_consult",
                ),
            ]
            for frame, code in cases:
                await ws.send(frame)
                reply = json.loads(await ws.recv())
                assert reply["type"] == "error" and reply["code"] == code, (frame, reply)
            await ws.send(json.dumps({"v": 1, "type": "ping", "ref": "still-here"}))
            assert json.loads(await ws.recv()) == {"v": 1, "type": "pong", "ref": "still-here"}
            await ws.send(json.dumps({"v": 1, "type": "ping", "pad": "x" * 70_000}))
            reply = json.loads(await ws.recv())
            assert reply["code"] == "too_large"
            await ws.wait_closed()
            assert ws.close_code == 1009

    run(body)


def test_without_credentials_the_socket_is_refused(bridge: Bridge) -> None:
    async def body() -> None:
        for token in (None, "not-a-token"):
            signalling = SignallingClient(ws_url(bridge.url), token=token)
            with pytest.raises(SignallingError) as refused:
                await signalling.connect()
            assert refused.value.code == "auth_required"

    run(body)


def test_a_flood_is_refused_and_then_closed_while_other_sockets_go_on(bridge: Bridge, database_url: str) -> None:
    # A server of its own with a small allowance, so that a busy test machine cannot send slowly
    # enough to stay within it.
    runtime = Runtime.from_settings(make_settings(database_url, signal_rate_per_second=1, signal_rate_burst=20))

    async def body(url: str) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        token = await asyncio.to_thread(bridge.token, "nurse1")
        bystander = SignallingClient(ws_url(url), token=await asyncio.to_thread(bridge.token, "doctor"))
        await bystander.connect()
        headers = {"Authorization": f"Bearer {token}"}
        codes: list[str] = []
        async with connect(ws_url(url), additional_headers=headers) as ws:
            await ws.recv()  # welcome

            async def read() -> None:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        codes.append(json.loads(await ws.recv()).get("code", "pong"))

            reader = asyncio.create_task(read())
            ping = json.dumps({"v": 1, "type": "ping"})
            with contextlib.suppress(ConnectionClosed):
                for _ in range(200):
                    await ws.send(ping)
            await asyncio.wait_for(reader, 10)
            assert ws.close_code == 4429
        # What was still queued for the socket is dropped at the close; the last word says why.
        assert codes[-1] == "rate_limited"
        assert (await bystander.request("ping"))["type"] == "pong"
        await bystander.close()

    try:
        with LiveServer(create_app(runtime=runtime)) as server:
            run(lambda: body(server.url))
    finally:
        runtime.engine.dispose()
