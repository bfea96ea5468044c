"""The advice pages over real HTTP, on both backends: the doctor's panel beside the chart and its form
(errors per field in the user's language, nothing sent on error, CSRF), the nurse's advice and tasks
(acknowledge, complete with a note, overdue marked when the clock passes the due time), in Chinese
and English. Each test advises a resident of its own."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from bridge.i18n import Translator
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from tests.bridge.advice.advice_support import advice_resident, clocks, observation_of, steps
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")


def csrf(client: httpx.Client, path: str = "/") -> str:
    return hidden(client.get(path).text, "csrf_token")


def choose_language(client: httpx.Client, locale: str) -> None:
    """The account's language (remembered for the user, not only this browser)."""
    client.post("/lang", data={"locale": locale, "next": "/", "csrf_token": csrf(client)})


def due_in(bridge: Bridge, delta: timedelta) -> str:
    """A due time as the form's datetime-local field sends it (the homes' time)."""
    return (bridge.clock.now() + delta).astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M")


def send_form(doctor: httpx.Client, patient: str, **fields: str | list[str]) -> httpx.Response:
    data: dict[str, str | list[str]] = {"csrf_token": csrf(doctor, f"/residents/{patient}"), **fields}
    return doctor.post(f"/residents/{patient}/advice", data=data)


def article(page: str, text: str, testid: str = "") -> str:
    """The <article> of a list item (of one kind, when `testid` says) containing `text`."""
    for match in re.finditer(r"<article.*?</article>", page, re.S):
        opening = match.group(0).split(">", 1)[0]
        if text in match.group(0) and (not testid or f'data-testid="{testid}"' in opening):
            return match.group(0)
    raise AssertionError(f"no item {testid} with {text!r}")


def test_doctor_sends_advice_from_the_chart_and_the_nurse_acts_on_it(bridge: Bridge) -> None:
    patient = advice_resident(bridge, name="页面建议")
    potassium = observation_of(bridge, patient)
    doctor = sign_in(bridge, "doctor")
    chart = doctor.get(f"/residents/{patient}")
    assert chart.status_code == 200
    assert ZH("advice.panel.title") in chart.text and 'data-testid="advice-form"' in chart.text
    assert potassium in chart.text  # the resident's recent result can be attached
    sent = send_form(
        doctor,
        patient,
        text="血钾偏高，低钾饮食。",
        about=[potassium],
        **{
            "task.0.description": "3 天后复查血钾",
            "task.0.due": due_in(bridge, timedelta(days=3)),
            "task.2.description": "每日测血压",
            "task.2.due": due_in(bridge, timedelta(minutes=3)),
        },
    )
    assert sent.status_code == 303, sent.text[:2000]
    assert sent.headers["location"].startswith(f"/residents/{patient}?advised=")
    panel = doctor.get(sent.headers["location"]).text
    assert ZH("advice.panel.sent") in panel and "血钾偏高，低钾饮食。" in panel and "血钾 5.9 mmol/L" in panel

    nurse = sign_in(bridge, "nurse1")
    home = nurse.get("/")
    assert 'href="/advice"' in home.text and ZH("nav.advice") in home.text
    page = nurse.get("/advice")
    assert page.status_code == 200 and ZH("advice.nurse.title") in page.text
    item = article(page.text, "血钾偏高，低钾饮食。")
    assert ZH("advice.unacknowledged") in item and "页面建议" in item and "李建国" in item
    action = re.search(r'action="(/advice/[^"/]+/acknowledge)"', item)
    assert action, item
    # Another home's nurse neither sees it nor can acknowledge it.
    other = sign_in(bridge, "nurse2")
    assert "血钾偏高，低钾饮食。" not in other.get("/advice").text
    assert other.post(action.group(1), data={"csrf_token": csrf(other)}).status_code == 404
    # Without the CSRF token nothing happens.
    assert nurse.post(action.group(1), data={}).status_code == 403
    done = nurse.post(action.group(1), data={"csrf_token": csrf(nurse)})
    assert done.status_code == 303 and done.headers["location"] == "/advice?done=acknowledged"
    after = nurse.get(done.headers["location"]).text
    assert ZH("advice.done.acknowledged") in after
    assert ZH("advice.acknowledged") in article(after, "血钾偏高，低钾饮食。")
    again = nurse.post(action.group(1), data={"csrf_token": csrf(nurse)})
    assert again.status_code == 409 and html.escape(ZH("advice.error.already_acknowledged", who="王芳")) in again.text

    # The clock passes the blood-pressure task's due time: it is marked overdue, in English too.
    with bridge.clock.advanced(timedelta(minutes=5)):
        late = article(nurse.get("/advice").text, "每日测血压", "advice-task")
        assert 'data-testid="advice-overdue"' in late and ZH("advice.task.overdue") in late
        assert 'data-testid="advice-overdue"' not in article(nurse.get("/advice").text, "3 天后复查血钾", "advice-task")
        english = sign_in(bridge, "nurse1")
        choose_language(english, "en")
        try:
            assert EN("advice.task.overdue") in article(english.get("/advice").text, "每日测血压", "advice-task")
        finally:
            choose_language(english, "zh-CN")
        complete = re.search(r'action="(/advice/tasks/[^"/]+/complete)"', late)
        assert complete, late
        completed = nurse.post(complete.group(1), data={"note": "135/80 mmHg", "csrf_token": csrf(nurse)})
        assert completed.status_code == 303
        done_item = article(nurse.get("/advice").text, "每日测血压", "advice-done-task")
        assert ZH("advice.task.status.completed") in done_item and "135/80 mmHg" in done_item
        assert [s["step"] for s in steps(bridge, patient)] == ["advice-sent", "advice-acknowledged", "task-completed"]
    # The doctor's panel shows both: acknowledged, one task done with its note.
    panel = doctor.get(f"/residents/{patient}").text
    assert "135/80 mmHg" in panel and 'data-testid="advice-acknowledged"' in panel


def test_form_errors_come_back_per_field_and_nothing_is_sent(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    doctor = sign_in(bridge, "doctor")
    refused = send_form(
        doctor,
        patient,
        text="  ",
        **{
            "task.0.description": "复查",
            "task.0.due": due_in(bridge, -timedelta(hours=1)),
            "task.1.due": due_in(bridge, timedelta(days=1)),
            "task.3.description": "测体温",
            "task.3.due": "明天",
        },
    )
    assert refused.status_code == 422
    page = refused.text
    for field, key in (
        ("text", "advice.error.text_required"),
        ("task.0.due", "advice.error.due_past"),
        ("task.1.description", "advice.error.description_required"),
        ("task.3.due", "advice.error.due_format"),
    ):
        error = re.search(rf'data-testid="error-{re.escape(field)}">([^<]*)<', page)
        assert error, field
        assert html.unescape(error.group(1)) == ZH(key), field
    assert 'value="测体温"' in page  # what was typed is kept
    assert steps(bridge, patient) == [] and clocks(bridge, patient) == []
    choose_language(doctor, "en")
    try:
        english = send_form(doctor, patient, text="Rest.", **{"task.0.description": "Weigh", "task.0.due": ""})
        assert english.status_code == 422
        assert html.escape(EN("advice.error.due_required")) in english.text and EN("advice.form.fix") in english.text
    finally:
        choose_language(doctor, "zh-CN")
    assert steps(bridge, patient) == []
    # A nurse has no form, and cannot post one.
    nurse = sign_in(bridge, "nurse1")
    chart = nurse.get(f"/residents/{patient}").text
    assert ZH("advice.panel.title") in chart and 'data-testid="advice-form"' not in chart
    assert send_form(nurse, patient, text="护士不能发").status_code == 403
    assert steps(bridge, patient) == []


def test_the_sections_the_live_script_fetches_carry_the_lists(bridge: Bridge) -> None:
    patient = advice_resident(bridge, name="片段建议")
    doctor = sign_in(bridge, "doctor")
    assert (
        send_form(
            doctor,
            patient,
            text="片段测试：多饮水",
            **{"task.0.description": "记录尿量"},
            **{"task.0.due": due_in(bridge, timedelta(days=1))},
        ).status_code
        == 303
    )
    nurse_section = sign_in(bridge, "nurse1").get("/advice/section")
    assert nurse_section.status_code == 200 and nurse_section.headers["cache-control"] == "no-store"
    assert "<html" not in nurse_section.text and "片段测试：多饮水" in nurse_section.text
    assert 'data-testid="advice-task"' in nurse_section.text and "记录尿量" in nurse_section.text
    chart_section = doctor.get(f"/residents/{patient}/advice/section")
    assert chart_section.status_code == 200 and "片段测试：多饮水" in chart_section.text
    assert sign_in(bridge, "nurse2").get(f"/residents/{patient}/advice/section").status_code == 404
