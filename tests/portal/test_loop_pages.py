"""The loop tracker's pages over real HTTP, on both backends: the supervisor dashboard with its SVG
charts carrying the right numbers, in Chinese and English; the overdue list linking to timelines (on
the dashboard and the supervisor's home page); the timeline page; the deadline settings with their
form errors and nothing changed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from bridge.directory.codes import OrgKind
from bridge.i18n import Translator
from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import ClockStart, advance
from tests.bridge.api.test_access_http import new_account, new_org
from tests.bridge.loops.loop_support import DOCTOR, NURSE, LoopBuilder, new_builder
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")


def advice_loop(loops: LoopBuilder, acknowledged_after: float | None, deadline: float = 120) -> str:
    who = loops.parties()
    advice = f"Communication/{who.patient_id}"
    with loops.services() as services:
        loop = advance(
            services,
            step=Step.ADVICE_SENT,
            subject=advice,
            parties=who,
            actor=DOCTOR,
            starts=[ClockStart(Clock.ADVICE_ACK, advice, loops.due(deadline))],
        )
    if acknowledged_after is not None:
        loops.move(acknowledged_after)
        with loops.services() as services:
            advance(
                services,
                step=Step.ADVICE_ACKNOWLEDGED,
                subject=advice,
                parties=who,
                actor=NURSE,
                stops=[(Clock.ADVICE_ACK, advice)],
            )
        loops.move(-acknowledged_after)
    return loop


def text(t: Translator, key: str, **params: object) -> str:
    return html.escape(t(key, **params))


def english(client: httpx.Client) -> httpx.Client:
    client.cookies.set("bridge_lang", "en")
    return client


def test_the_dashboard_draws_durations_against_deadlines_and_shares_in_both_languages(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    for minutes in (30, 60, 90):
        advice_loop(loops, minutes)
    supervisor = sign_in(bridge, new_account(bridge, "supervisor", loops.home))
    page = supervisor.get("/supervision/loops", params={"period": 30})
    assert page.status_code == 200, page.text[:2000]
    body = page.text
    assert text(ZH, "loops.dashboard.title") in body and 'lang="zh-Hans"' in body
    chart = re.search(r'<svg class="loop-chart" data-testid="kind-chart".*?</svg>', body, re.S)
    assert chart, "no duration chart"
    (row,) = re.findall(r'<g class="kind-row"[^>]*>', chart.group(0))
    assert 'data-kind="advice-ack"' in row
    assert 'data-median="3600.0"' in row and 'data-p90="5040.0"' in row  # 60 min; 84 min between 60 and 90
    # Each kind is scaled to its deadline, drawn at the middle of the bar area (180 of 360).
    assert 'width="90.0"' in chart.group(0)  # the median: half the deadline
    assert 'width="126.0"' in chart.group(0)  # the 90th percentile: 84 of 120 minutes
    assert text(ZH, "loops.duration.hm", h=1, m=0) in chart.group(0)
    assert text(ZH, "loops.duration.hm", h=1, m=24) in chart.group(0)
    share = re.search(r'data-testid="share-chart-nursing-home".*?</svg>', body, re.S)
    assert share and 'data-share="1.0"' in share.group(0) and 'width="360.0"' in share.group(0)
    assert '<tr data-testid="org-row" data-org="' + loops.home + '">' in body
    assert "loop-overdue-none" in body

    english_page = english(supervisor).get("/supervision/loops", params={"period": 7}).text
    assert text(EN, "loops.dashboard.title") in english_page and 'lang="en"' in english_page
    assert text(EN, "loops.duration.hm", h=1, m=24) in english_page
    assert 'aria-current="page">' + text(EN, "loops.dashboard.period_days", n=7) in english_page
    assert english(supervisor).get("/supervision/loops", params={"period": "x"}).status_code == 422


def test_overdue_items_link_to_the_timeline_which_shows_the_states_and_what_is_to_come(bridge: Bridge) -> None:
    loops = new_builder(bridge)
    late = advice_loop(loops, None, deadline=-30)
    supervisor = sign_in(bridge, new_account(bridge, "supervisor", loops.home))
    links = []
    for path in ("/supervision/loops", "/"):
        body = supervisor.get(path).text
        items = re.findall(
            r'<tr data-testid="loop-overdue-item" data-clock="\d+" data-kind="advice-ack">.*?</tr>', body, re.S
        )
        assert len(items) == 1, path
        assert text(ZH, "loops.duration.m", m=30) in items[0]
        link = re.search(r'href="(/loops/timeline\?loop=[^"]+)"', items[0])
        assert link and 'data-testid="loop-overdue-link"' in items[0]
        links.append(html.unescape(link.group(1)))
    assert links[0] == links[1] == f"/loops/timeline?loop={late.replace('/', '%2F')}"
    timeline = supervisor.get(links[0])
    assert timeline.status_code == 200
    assert 'data-testid="loop-state" data-state="late"' in timeline.text
    assert re.search(r'data-testid="loop-awaited" data-kind="advice-ack" data-state="overdue"', timeline.text)
    assert text(ZH, "loops.step.advice-sent") in timeline.text
    assert re.findall(r'data-testid="loop-to-come" data-step="([a-z-]+)"', timeline.text)[0] == "advice-acknowledged"
    assert '<code data-testid="loop-resident">' in timeline.text  # a supervisor sees no resident's name

    nurse = english(sign_in(bridge, new_account(bridge, "nurse", loops.home)))
    seen = nurse.get("/loops/timeline", params={"subject": late})
    assert seen.status_code == 200 and text(EN, "loops.timeline.title") in seen.text
    assert text(EN, "loops.state.overdue") in seen.text
    stranger = sign_in(bridge, "nurse1")
    assert stranger.get("/loops/timeline", params={"loop": late}).status_code == 404


@pytest.fixture
def admin(bridge: Bridge) -> Iterator[httpx.Client]:
    client = sign_in(bridge, "admin")
    yield client
    api = bridge.bearer("admin")
    for kind in (c.value for c in Clock if c is not Clock.FOLLOW_UP):
        api.delete(f"/api/loops/deadlines/{kind}")


def deadline_rows(page: str) -> dict[str, tuple[str, str]]:
    rows = re.findall(
        r'data-testid="deadline-row" data-kind="([a-z-]+)" data-minutes="(\d+)" data-source="([a-z]+)"', page
    )
    return {kind: (minutes, source) for kind, minutes, source in rows}


def test_the_deadline_page_changes_and_resets_a_deadline(bridge: Bridge, admin: httpx.Client) -> None:
    page = admin.get("/admin/deadlines")
    assert page.status_code == 200 and 'data-testid="nav-deadlines"' in page.text
    before = deadline_rows(page.text)
    assert set(before) == {c.value for c in Clock if c is not Clock.FOLLOW_UP}
    saved = admin.post(
        "/admin/deadlines",
        data={"kind": "dispense", "hours": "1", "minutes": "３０", "csrf_token": hidden(page.text, "csrf_token")},
    )
    assert saved.status_code == 303
    after = admin.get(saved.headers["location"]).text
    assert deadline_rows(after)["dispense"] == ("90", "administrator")
    assert text(ZH, "loops.deadlines.saved", kind=ZH("loops.clock.dispense")) in after
    reset = admin.post("/admin/deadlines/reset", data={"kind": "dispense", "csrf_token": hidden(after, "csrf_token")})
    assert reset.status_code == 303
    assert deadline_rows(admin.get("/admin/deadlines").text)["dispense"] == before["dispense"]


@pytest.mark.parametrize(
    ("kind", "hours", "minutes", "key"),
    [
        ("dispense", "0", "0", "loops.deadline.out_of_range"),
        ("dispense", "-2", "0", "loops.deadline.out_of_range"),
        ("dispense", "-1", "61", "loops.deadline.out_of_range"),
        ("dispense", "1", "abc", "loops.deadline.not_a_number"),
        ("dispense", "1.5", "", "loops.deadline.not_a_number"),
        ("critical-ack", "25", "0", "loops.deadline.out_of_range"),
    ],
)
def test_a_refused_deadline_is_shown_at_its_row_in_the_users_language_and_nothing_changes(
    bridge: Bridge, admin: httpx.Client, kind: str, hours: str, minutes: str, key: str
) -> None:
    # English through a fresh operator admin's cookie: the demo admin's remembered language (other test
    # files set it) would outrank the cookie.
    operator_admin = sign_in(bridge, new_account(bridge, "admin", "demo-operator"))
    for t, client in ((ZH, admin), (EN, english(operator_admin))):
        page = client.get("/admin/deadlines").text
        form = {"kind": kind, "hours": hours, "minutes": minutes, "csrf_token": hidden(page, "csrf_token")}
        refused = client.post("/admin/deadlines", data=form)
        assert refused.status_code == 422
        high = 24 * 60 if kind == "critical-ack" else 90 * 24 * 60
        error = re.search(r'<p class="field-error" data-testid="deadline-error">(.*?)</p>', refused.text)
        assert error and error.group(1) == text(t, key, kind=t(f"loops.clock.{kind}"), low=1, high=high)
        assert f'value="{html.escape(minutes)}"' in refused.text  # what was typed is kept
        assert deadline_rows(refused.text) == deadline_rows(page)


def test_the_deadline_page_refuses_unknown_kinds_others_and_forms_without_the_token(
    bridge: Bridge, admin: httpx.Client
) -> None:
    page = admin.get("/admin/deadlines").text
    unknown = admin.post(
        "/admin/deadlines", data={"kind": "lunch", "minutes": "30", "csrf_token": hidden(page, "csrf_token")}
    )
    assert unknown.status_code == 422
    assert text(ZH, "loops.deadline.unknown_kind", kind="lunch") in unknown.text
    assert admin.post("/admin/deadlines", data={"kind": "dispense", "minutes": "30"}).status_code == 403
    assert deadline_rows(admin.get("/admin/deadlines").text) == deadline_rows(page)
    home_admin = sign_in(bridge, new_account(bridge, "admin", new_org(bridge, OrgKind.NURSING_HOME)))
    assert home_admin.get("/admin/deadlines").status_code == 403
    assert 'data-testid="nav-deadlines"' not in home_admin.get("/").text
    nurse = sign_in(bridge, "nurse1")
    assert nurse.get("/admin/deadlines").status_code == 403
    assert nurse.get("/supervision/loops").status_code == 403
    supervisor_home = sign_in(bridge, "supervisor").get("/").text
    assert 'data-testid="nav-loops"' in supervisor_home and 'data-testid="loops-dashboard-link"' in supervisor_home
    assert 'data-testid="nav-deadlines"' in supervisor_home  # the authority's supervisors set deadlines too
