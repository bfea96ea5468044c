"""A resident's results on the chart over real HTTP: the page and the fragment the page refreshes with.

Doctors of the contracted hospital and the home's nurses see them, another home's nurse gets 404; lab
rows carry their flags, ranges and trend series; the ECG viewer gets its layout, scale and samples.
Results written here go to a resident created for the test, so the demo residents stay as seeded.
"""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from bridge.i18n import Translator
from tests.bridge.results.test_chart_results import CMP, POTASSIUM, SODIUM, lab, report
from tests.bridge.results.test_chart_results_ecg import TWELVE_LEAD, TWO_LEAD, ecg
from tests.conftest import Bridge
from tests.portal.test_pages_http import hidden, sign_in

ZH, EN = Translator("zh-CN"), Translator("en")
HOME_1 = "demo-home-1"
CMP_RESIDENT = "demo-resident-01"  # 王秀英: metabolic panel with a high potassium and a low eGFR
ECG_RESIDENT = "demo-resident-06"  # the demo's bedside ECG (MIT-BIH 100, MLII and V5)


class Elements(HTMLParser):
    """Elements with a data-testid: their attributes and text; and the JSON blocks of ECG viewers."""

    VOID = frozenset({"link", "meta", "input", "br", "img", "hr", "source", "col"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[dict[str, Any]] = []
        self.ecg_data: list[dict[str, Any]] = []
        self._open: list[dict[str, Any] | None] = []
        self._in_ecg_data = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self._in_ecg_data = tag == "script" and "ecg-data" in attributes.get("class", "")
        if tag in self.VOID:
            return
        item = {"tag": tag, **attributes, "text": ""} if "data-testid" in attributes else None
        if item is not None:
            self.found.append(item)
        self._open.append(item)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()
        self._in_ecg_data = False

    def handle_data(self, data: str) -> None:
        if self._in_ecg_data:
            self.ecg_data.append(json.loads(data))
        for item in self._open:
            if item is not None:
                item["text"] += data

    def all(self, testid: str) -> list[dict[str, Any]]:
        return [e for e in self.found if e["data-testid"] == testid]


def text(item: dict[str, Any]) -> str:
    return " ".join(item["text"].split())


def lab_rows(html: str) -> dict[str, dict[str, Any]]:
    """Rows by the analyte's name (the row header)."""
    rows: dict[str, dict[str, Any]] = {}
    for row in re.findall(r'<tr class="lab-row.*?</tr>', html, flags=re.S):
        name = re.search(r'<th scope="row">(.*?)</th>', row, flags=re.S)
        assert name is not None
        parsed = Elements(row)
        rows[name.group(1)] = {
            "row": parsed.all("lab-row")[0],
            "value": text(parsed.all("lab-value")[0]),
            "flags": [text(f) for f in parsed.all("lab-flag")],
            "range": text(parsed.all("lab-range")[0]),
            "trend": json.loads(parsed.all("lab-trend")[0]["data-trend"]) if parsed.all("lab-trend") else None,
        }
    return rows


def new_resident(bridge: Bridge, home: str = HOME_1) -> str:
    patient_id = f"results-{uuid.uuid4().hex[:10]}"
    with bridge.services() as services:
        services.repository.create(
            {
                "resourceType": "Patient",
                "active": True,
                "name": [{"text": "测试结果老人", "family": "测试", "given": ["结果老人"]}],
                "gender": "female",
                "birthDate": "1940-03-01",
                "managingOrganization": {"reference": f"Organization/{home}"},
            },
            patient_id,
        )
    return patient_id


def metabolic_panel(patient_id: str, n: int, when: str, potassium: float, flag: str) -> list[dict[str, Any]]:
    """A two-analyte panel of `patient_id` with fresh ids: sodium (normal) and potassium."""
    tag = f"{patient_id}-{n}"
    values = [
        lab(f"{tag}-na", SODIUM, 140, when, low=137, high=147),
        lab(f"{tag}-k", POTASSIUM, potassium, when, flag=flag, low=3.5, high=5.3),
    ]
    for value in values:
        value["subject"] = {"reference": f"Patient/{patient_id}"}
    panel = report(f"{tag}-cmp", CMP, when, values)
    panel["subject"] = {"reference": f"Patient/{patient_id}"}
    return [*values, panel]


def store(bridge: Bridge, resources: list[dict[str, Any]]) -> list[str]:
    stored = []
    with bridge.services() as services:
        for resource in resources:
            created = services.repository.create({k: v for k, v in resource.items() if k != "id"}, resource.get("id"))
            stored.append(f"{created['resourceType']}/{created['id']}")
    return stored


def ecg_of(patient_id: str, names: tuple[str, ...], when: str = "2026-11-28T10:15:00+08:00") -> dict[str, Any]:
    observation = ecg(names, f"{patient_id}-ecg-{len(names)}", when=when)
    observation["subject"] = {"reference": f"Patient/{patient_id}"}
    return observation


@pytest.fixture(scope="module")
def resident_with_results(bridge: Bridge) -> str:
    patient_id = new_resident(bridge)
    store(
        bridge,
        [
            *metabolic_panel(patient_id, 1, "2026-10-02T07:00:00+08:00", 5.4, "H"),
            *metabolic_panel(patient_id, 2, "2026-11-02T07:00:00+08:00", 6.6, "HH"),
            ecg_of(patient_id, TWELVE_LEAD),
        ],
    )
    return patient_id


def test_the_chart_shows_the_demo_labs_with_flags_ranges_and_a_trend(bridge: Bridge) -> None:
    page = sign_in(bridge, "doctor").get(f"/residents/{CMP_RESIDENT}")
    assert page.status_code == 200
    assert '<link rel="stylesheet" href="/static/results.css">' in page.text
    assert '<script type="module" src="/static/results-live.js"></script>' in page.text
    assert f'data-url="/residents/{CMP_RESIDENT}/results"' in page.text
    assert ZH("results.lab.title") in page.text and ZH("results.lab.range") in page.text
    rows = lab_rows(page.text)
    assert rows["钾"]["value"] == "5.8" and rows["钾"]["flags"] == ["H ↑"] and rows["钾"]["range"] == "3.5–5.3"
    assert rows["钾"]["row"]["data-flag"] == "H"
    assert rows["估算肾小球滤过率"]["flags"] == ["L ↓"] and rows["估算肾小球滤过率"]["range"] == "≥ 90"
    assert rows["钠"]["flags"] == []
    assert rows["钾"]["trend"]["points"][-1]["value"] == 5.8 and rows["钾"]["trend"]["high"] == 5.3


@pytest.mark.parametrize("path", ["/residents/{id}", "/residents/{id}/results"])
def test_doctor_and_the_homes_nurse_see_results_another_homes_nurse_gets_404(bridge: Bridge, path: str) -> None:
    url = path.format(id=CMP_RESIDENT)
    for username in ("doctor", "nurse1"):
        response = sign_in(bridge, username).get(url)
        assert response.status_code == 200, username
        assert 'data-testid="lab-results"' in response.text
    refused = sign_in(bridge, "nurse2").get(url)
    assert refused.status_code == 404 and "5.8" not in refused.text


def test_the_fragment_is_only_the_results_section_and_needs_a_session(bridge: Bridge) -> None:
    fragment = sign_in(bridge, "nurse1").get(f"/residents/{CMP_RESIDENT}/results")
    assert fragment.headers["content-type"].startswith("text/html")
    assert fragment.headers["cache-control"] == "no-store"
    assert "<html" not in fragment.text and "<body" not in fragment.text
    assert fragment.text.lstrip().startswith('<script type="application/json" id="results-strings">')
    block = re.search(r'id="results-strings">(.*?)</script>', fragment.text)
    assert block is not None
    strings = json.loads(block.group(1))
    assert strings["results.live.kind.ecg"] == ZH("results.live.kind.ecg")
    anonymous = bridge.client(headers={"Accept": "text/html"}).get(f"/residents/{CMP_RESIDENT}/results")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    machine = httpx.get(f"{bridge.url}/residents/{CMP_RESIDENT}/results", timeout=20)
    assert machine.status_code == 401


def test_new_results_show_their_trend_and_the_twelve_lead_viewer(bridge: Bridge, resident_with_results: str) -> None:
    html = sign_in(bridge, "doctor").get(f"/residents/{resident_with_results}/results").text
    rows = lab_rows(html)
    potassium = rows["钾"]
    assert potassium["value"] == "6.6" and potassium["flags"] == ["HH ↑↑", "H ↑"]  # latest, then earlier
    assert [(p["value"], p["flag"]) for p in potassium["trend"]["points"]] == [(5.4, "H"), (6.6, "HH")]
    assert potassium["row"]["data-resources"].split() == [
        f"Observation/{resident_with_results}-2-k",
        f"Observation/{resident_with_results}-1-k",
    ]
    parsed = Elements(html)
    [viewer] = parsed.all("ecg-viewer")
    assert viewer["data-layout"] == "12-lead"
    assert viewer["data-leads"].split() == [
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        *[f"V{n}" for n in range(1, 7)],
        "vx",
        "vy",
        "vz",
    ]
    assert (viewer["data-mm-per-s"], viewer["data-mm-per-mv"], viewer["data-unit"]) == ("25", "10", "uV")
    assert (viewer["data-duration-s"], viewer["data-shown-s"]) == ("38.40", "10.00")
    [data] = parsed.ecg_data
    assert data["layout"] == "12-lead" and len(data["leads"]) == 15
    assert all(len(lead["samples"]) == 5000 and lead["period_ms"] == 2.0 for lead in data["leads"])
    [study] = parsed.all("ecg-study")
    assert study["data-resource"] == f"Observation/{resident_with_results}-ecg-3"
    [aside] = parsed.all("ecg-measurements")
    assert ZH("results.ecg.automated") in text(aside) and ZH("results.ecg.m.heart_rate") in text(aside)
    assert ZH("results.ecg.excerpt", shown="10", total="38") in html


def test_the_demo_bedside_ecg_is_two_strips_and_english_is_available(bridge: Bridge) -> None:
    client = sign_in(bridge, "doctor")
    token = hidden(client.get("/").text, "csrf_token")
    client.post("/lang", data={"locale": "en", "next": "/", "csrf_token": token})
    try:
        html = client.get(f"/residents/{ECG_RESIDENT}/results").text
    finally:
        client.post("/lang", data={"locale": "zh-CN", "next": "/", "csrf_token": token})
    # Other test files may have stored more ECGs for this resident (a bedside station's): find the demo's.
    viewers = [v for v in Elements(html).all("ecg-viewer") if v["data-leads"] == "II V5"]
    assert viewers and all(v["data-layout"] == "strips" for v in viewers)
    labels = [[lead["label"] for lead in data["leads"]] for data in Elements(html).ecg_data]
    assert ["MLII（改良II导联）", "V5导联"] in labels
    assert EN("results.ecg.title") in html and EN("results.lab.title") in html
    assert ZH("results.lab.title") not in html


def test_a_two_lead_extract_stored_for_a_resident_is_drawn_as_strips(bridge: Bridge) -> None:
    patient_id = new_resident(bridge)
    store(bridge, [ecg_of(patient_id, TWO_LEAD)])
    html = sign_in(bridge, "nurse1").get(f"/residents/{patient_id}").text
    [viewer] = Elements(html).all("ecg-viewer")
    assert viewer["data-layout"] == "strips" and viewer["data-leads"] == "MLII V5"
    assert ZH("results.lab.none") in html
