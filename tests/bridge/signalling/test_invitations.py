"""One-time invitations: the doctor invites a specialist, the link is redeemed once for a guest token,
the guest joins the consult over the real socket and can do nothing a guest may not."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from bridge.i18n import Translator
from bridge.signalling.auth import GUEST_COOKIE
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.signalling.support import client, resident_of, run, ws_url
from tests.conftest import Bridge

ZH = Translator("zh-CN")


async def live_consult(bridge: Bridge) -> tuple[SignallingClient, SignallingClient, str]:
    patient = resident_of(bridge, index=1)
    nurse = await client(bridge, "nurse1")
    doctor = await client(bridge, "doctor")
    await doctor.request("queue.watch")
    requested = await nurse.request("consult.request", patient_id=patient["id"], urgency="urgent", reason="皮疹")
    consult_id = requested["consult"]["id"]
    await doctor.request("consult.accept", consult_id=consult_id)
    return nurse, doctor, consult_id


def path_of(url: str) -> str:
    return urlsplit(url).path


async def guest_socket_messages(bridge: Bridge, cookie: str, frames: list[dict[str, object]], origin: str) -> list:
    replies = []
    headers = {"Cookie": f"{GUEST_COOKIE}={cookie}", "Origin": origin}
    async with connect(ws_url(bridge.url), additional_headers=headers) as ws:
        replies.append(json.loads(await ws.recv()))
        for frame in frames:
            await ws.send(json.dumps({"v": 1, **frame}))
            replies.append(json.loads(await ws.recv()))
    return replies


def test_a_guest_redeems_the_link_once_and_joins_only_that_consult(bridge: Bridge) -> None:
    async def body() -> None:
        nurse, doctor, consult_id = await live_consult(bridge)
        opened: list[httpx.AsyncClient] = []
        try:
            with pytest.raises(SignallingError) as not_doctor:
                await nurse.request("consult.invite", consult_id=consult_id, role="family")
            assert not_doctor.value.code == "forbidden"
            with pytest.raises(SignallingError) as bad_role:
                await doctor.request("consult.invite", consult_id=consult_id, role="pharmacist")
            assert bad_role.value.code == "invalid_message"
            invitation = await doctor.request("consult.invite", consult_id=consult_id, role="specialist")
            assert invitation["type"] == "consult.invitation" and invitation["role"] == "specialist"
            link = path_of(invitation["url"])
            assert link.startswith("/join/") and invitation["expires_at"].endswith("Z")

            web = httpx.AsyncClient(base_url=bridge.url, timeout=20)
            opened.append(web)
            form = await web.get(link)
            assert form.status_code == 200 and ZH("guest.role.specialist") in form.text
            nameless = await web.post(link, data={"name": "  "})
            assert nameless.status_code == 422 and ZH("guest.name_required") in nameless.text
            redeemed = await web.post(link, data={"name": "周专家"})
            assert redeemed.status_code == 303 and redeemed.headers["location"] == "/guest/call"
            guest_cookie = redeemed.cookies[GUEST_COOKIE]
            async with httpx.AsyncClient(base_url=bridge.url, timeout=20) as other:
                again = await other.post(link, data={"name": "冒名者"})
            assert again.status_code == 404 and ZH("guest.invalid") in again.text
            page = await web.get("/guest/call")
            assert page.status_code == 200 and 'data-testid="call"' in page.text

            # Cookies only count from the bridge's own pages.
            with pytest.raises(Exception):  # noqa: B017 - the server closes with 4401 after auth_required
                await guest_socket_messages(bridge, guest_cookie, [{"type": "ping"}], "https://evil.example")
            welcome, joined, refused_end, refused_other = await guest_socket_messages(
                bridge,
                guest_cookie,
                [
                    {"type": "consult.join", "consult_id": consult_id},
                    {"type": "consult.end", "consult_id": consult_id},
                    {
                        "type": "consult.request",
                        "patient_id": resident_of(bridge)["id"],
                        "urgency": "routine",
                        "reason": "x",
                    },
                ],
                bridge.url,
            )
            assert welcome["you"]["kind"] == "guest" and welcome["you"]["role"] == "specialist"
            assert welcome["you"]["display"] == "周专家"
            assert joined["type"] == "consult.state"
            assert {"role": "specialist", "display": "周专家"}.items() <= next(
                p for p in joined["consult"]["participants"] if p["id"] == joined["you"]
            ).items()
            assert refused_end["code"] == "forbidden"
            assert refused_other["code"] == "forbidden"

            # An invitation nobody used expires.
            unused = await doctor.request("consult.invite", consult_id=consult_id, role="family")
            with bridge.clock.advanced(timedelta(minutes=31)):
                expired = await web.get(path_of(unused["url"]))
            assert expired.status_code == 404

            # Once the consult is over the guest's token opens nothing.
            await nurse.request("consult.end", consult_id=consult_id)
            over = await web.get("/guest/call")
            assert over.status_code == 410 and ZH("guest.ended") in over.text
            refused = SignallingClient(ws_url(bridge.url) + f"?guest={guest_cookie}")
            with pytest.raises(SignallingError) as after_end:
                await refused.connect()
            assert after_end.value.code == "auth_required"
        finally:
            for web in opened:
                await web.aclose()
            await nurse.close()
            await doctor.close()

    run(body, timeout=60)


def test_a_guest_token_works_as_query_parameter_and_a_forged_one_does_not(bridge: Bridge) -> None:
    async def body() -> None:
        nurse, doctor, consult_id = await live_consult(bridge)
        try:
            invitation = await doctor.request("consult.invite", consult_id=consult_id, role="interpreter")
            async with httpx.AsyncClient(base_url=bridge.url, timeout=20) as web:
                redeemed = await web.post(path_of(invitation["url"]), data={"name": "Ms Lee"})
            token = redeemed.cookies[GUEST_COOKIE]
            guest = SignallingClient(ws_url(bridge.url) + f"?guest={token}")
            await guest.connect()
            joined = await guest.request("consult.join", consult_id=consult_id)
            assert joined["you"].startswith("p-")
            await guest.close()
            forged = SignallingClient(ws_url(bridge.url) + f"?guest={token[:-4]}AAAA")
            with pytest.raises(SignallingError) as refused:
                await forged.connect()
            assert refused.value.code == "auth_required"
            await asyncio.sleep(0)
        finally:
            await nurse.close()
            await doctor.close()

    run(body, timeout=60)
