"""The loop tracker's JSON routes over real HTTP, on both backends: the dashboard and the timeline with
their access rules, and the deadlines: who may change them (others 403), refusals (422 with the
reason in the caller's language) and that nothing changes when refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from bridge.clock import as_utc
from bridge.directory.codes import OrgKind
from bridge.i18n import Translator
from bridge.loops.codes import MAX_CRITICAL_ACK_MINUTES, MAX_DEADLINE_MINUTES, Clock, Step
from bridge.loops.tables import LoopClock
from bridge.loops.tracker import ClockStart, advance
from tests.bridge.api.test_access_http import new_account, new_org
from tests.bridge.loops.loop_support import DOCTOR, new_builder
from tests.conftest import Bridge

EN, ZH = Translator("en"), Translator("zh-CN")


def organisations(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in body["organisations"]}


def test_the_dashboard_for_supervisors_only_each_seeing_what_they_supervise(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loops.result_loop(review_after=10)
    late = loops.result_loop(review_after=None, deadline=-5)
    home_supervisor = bridge.bearer(new_account(bridge, "supervisor", loops.home))
    mine = home_supervisor.get("/api/loops/dashboard", params={"period": 7})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["period_days"] == 7
    assert list(organisations(body)) == [loops.home]
    home = organisations(body)[loops.home]
    assert home["loops"]["opened"] == 2 and home["steps"] == 3 and home["loops"]["late"] == 1
    (item,) = body["overdue"]
    assert item["loop"] == late and item["responsible"] == loops.hospital and item["kind"] == "result-review"
    assert item["timeline"] == f"/loops/timeline?loop={late.replace('/', '%2F')}"
    assert item["overdue_seconds"] >= 300

    everyone = bridge.bearer("supervisor").get("/api/loops/dashboard").json()
    assert everyone["period_days"] == 30
    hospital = organisations(everyone)[loops.hospital]
    (review,) = hospital["kinds"]
    assert review["met"] == 1 and review["median_seconds"] == 600 and review["p90_seconds"] == 600
    assert review["overdue"] == 1 and review["share_on_time"] == 0.5
    assert loops.home in organisations(everyone)

    other_home_supervisor = bridge.bearer(new_account(bridge, "supervisor", new_org(bridge, OrgKind.NURSING_HOME)))
    theirs = other_home_supervisor.get("/api/loops/dashboard").json()
    assert loops.home not in organisations(theirs) and theirs["overdue"] == []

    assert bridge.bearer("nurse1").get("/api/loops/dashboard").status_code == 403
    assert bridge.client().get("/api/loops/dashboard").status_code == 401
    refused = bridge.bearer(
        "supervisor",
    ).get("/api/loops/dashboard", params={"period": "0"}, headers={"Cookie": "bridge_lang=en"})
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["message"] == EN("loops.error.period", high=366)


def test_the_timeline_by_loop_or_record_for_those_it_concerns(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    loop = loops.result_loop(review_after=20)
    report = loop  # the loop is named after the report that opened it
    nurse = bridge.bearer(new_account(bridge, "nurse", loops.home))
    by_loop = nurse.get("/api/loops/timeline", params={"loop": loop})
    assert by_loop.status_code == 200, by_loop.text
    body = by_loop.json()
    assert [s["step"] for s in body["steps"]] == ["result-received", "result-reviewed"]
    (clock,) = body["clocks"]
    assert clock["state"] == "on-time" and clock["taken_seconds"] == 1200 and clock["late_seconds"] is None
    assert body["closed"] is True and body["on_time"] is True
    assert body["to_come"][0] == "advice-sent"
    assert nurse.get("/api/loops/timeline", params={"subject": report}).json()["loop"] == loop

    stranger = bridge.bearer("nurse1")
    missing = stranger.get("/api/loops/timeline", params={"loop": loop})
    assert missing.status_code == 404
    assert stranger.get("/api/loops/timeline", params={"loop": "no-such-loop"}).json() == missing.json()
    assert bridge.bearer("supervisor").get("/api/loops/timeline", params={"loop": loop}).status_code == 200
    assert nurse.get("/api/loops/timeline").status_code == 422


def deadlines(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/loops/deadlines")
    assert response.status_code == 200
    return {d["kind"]: d for d in response.json()["deadlines"]}


@pytest.fixture
def admin(bridge: Bridge) -> Any:
    client = bridge.bearer("admin")
    yield client
    for kind in (c.value for c in Clock if c is not Clock.FOLLOW_UP):
        client.delete(f"/api/loops/deadlines/{kind}")


def test_an_administrator_sets_a_deadline_that_applies_to_clocks_started_after(bridge: Bridge, admin: Any) -> None:
    before = deadlines(admin)
    assert Clock.FOLLOW_UP.value not in before
    assert before["dispense"]["source"] in {"default", "settings"}
    changed = admin.put("/api/loops/deadlines/dispense", json={"minutes": 95})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "kind": "dispense",
        "minutes": 95,
        "source": "administrator",
        "updated_by": changed.json()["updated_by"],
    }
    assert deadlines(bridge.bearer("nurse1"))["dispense"]["minutes"] == 95  # every member of staff may read them

    loops = new_builder(bridge)
    who = loops.parties(pharmacy=True)
    with bridge.services() as services:
        advance(
            services,
            step=Step.PRESCRIPTION_ACCEPTED,
            subject=f"Task/{who.patient_id}",
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.DISPENSE, f"Task/{who.patient_id}")],
        )
        row = services.db.query(LoopClock).filter(LoopClock.subject == f"Task/{who.patient_id}").one()
        assert as_utc(row.due_at) - as_utc(row.started_at) == timedelta(minutes=95)

    authority = bridge.bearer("supervisor")
    assert authority.put("/api/loops/deadlines/delivery", json={"minutes": "600"}).json()["minutes"] == 600
    reset = admin.delete("/api/loops/deadlines/dispense")
    assert reset.status_code == 200 and reset.json()["minutes"] == before["dispense"]["minutes"]
    assert reset.json()["source"] == before["dispense"]["source"]


@pytest.mark.parametrize(
    ("kind", "minutes", "key"),
    [
        ("no-such-kind", 30, "loops.deadline.unknown_kind"),
        ("follow-up", 30, "loops.deadline.not_configurable"),
        ("dispense", 0, "loops.deadline.out_of_range"),
        ("dispense", -10, "loops.deadline.out_of_range"),
        ("dispense", 1.5, "loops.deadline.not_a_number"),
        ("dispense", "soon", "loops.deadline.not_a_number"),
        ("dispense", True, "loops.deadline.not_a_number"),
        ("dispense", None, "loops.deadline.not_a_number"),
        ("dispense", MAX_DEADLINE_MINUTES + 1, "loops.deadline.out_of_range"),
        ("critical-ack", MAX_CRITICAL_ACK_MINUTES + 1, "loops.deadline.out_of_range"),
    ],
)
def test_a_deadline_that_makes_no_sense_is_refused_with_the_reason_and_nothing_changes(
    bridge: Bridge, admin: Any, kind: str, minutes: object, key: str
) -> None:
    before = deadlines(admin)
    for locale, t in (("en", EN), ("zh-CN", ZH)):
        refused = admin.put(
            f"/api/loops/deadlines/{kind}", json={"minutes": minutes}, headers={"Cookie": f"bridge_lang={locale}"}
        )
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["error"] == key
        named = t(f"loops.clock.{kind}") if kind in {c.value for c in Clock} else kind
        high = MAX_CRITICAL_ACK_MINUTES if kind == "critical-ack" else MAX_DEADLINE_MINUTES
        assert body["message"] == t(key, kind=named, low=1, high=high)
        assert body["fields"][0]["field"] == "minutes"
    assert deadlines(admin) == before


def test_only_the_operators_administrators_and_the_authoritys_supervisors_change_deadlines(
    bridge: Bridge, admin: Any
) -> None:
    before = deadlines(admin)
    home = new_org(bridge, OrgKind.NURSING_HOME)
    for username in (
        "nurse1",
        "doctor",
        "pharmacist",
        new_account(bridge, "supervisor", home),
        new_account(bridge, "admin", home),
    ):
        client = bridge.bearer(username)
        assert client.put("/api/loops/deadlines/dispense", json={"minutes": 45}).status_code == 403, username
        assert client.put("/api/loops/deadlines/no-such-kind", json={"minutes": 0}).status_code == 403, username
        assert client.delete("/api/loops/deadlines/dispense").status_code == 403, username
    assert deadlines(admin) == before
    assert admin.delete("/api/loops/deadlines/no-such-kind").status_code == 422
