"""A resident's laboratory results as chart rows: flags, reference ranges, latest values, trends, panels.

Against a small in-memory stand-in for the repository (only `find` by subject is used), so these run in
milliseconds; tests/portal/test_result_pages.py shows the same view through the real store and HTTP.
"""

from __future__ import annotations

from typing import Any

from bridge.results.chart_results import analyte_key, build_results, reference_text

PATIENT = "p-1"
LOINC = "http://loinc.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
POTASSIUM = ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "钾")
SODIUM = ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "钠")
GLUCOSE = ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "葡萄糖")
EGFR = ("33914-3", "eGFR", "估算肾小球滤过率")
CMP = ("24323-8", "Comprehensive metabolic panel", "生化全项")


class MemoryRepository:
    """What build_results reads: resources of a type whose subject is the patient."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources

    def find(self, resource_type: str, criteria: dict[str, str]) -> list[dict[str, Any]]:
        subject = criteria["subject"]
        return [
            r
            for r in self.resources
            if r["resourceType"] == resource_type and r.get("subject", {}).get("reference") == subject
        ]


def concept(code: tuple[str, str, str]) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}], "text": code[2]}


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def lab(
    resource_id: str,
    code: tuple[str, str, str],
    value: float | str,
    when: str,
    *,
    unit: str = "mmol/L",
    flag: str = "",
    low: float | None = None,
    high: float | None = None,
    status: str = "final",
    category: str = "laboratory",
    **extra: Any,
) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": status,
        "category": [{"coding": [{"system": f"{TERMINOLOGY}/observation-category", "code": category}]}],
        "code": concept(code),
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
    }
    if isinstance(value, str):
        observation["valueString"] = value
    else:
        observation["valueQuantity"] = quantity(value, unit)
    if flag:
        coding = {"system": f"{TERMINOLOGY}/v3-ObservationInterpretation", "code": flag}
        observation["interpretation"] = [{"coding": [coding]}]
    limits = {end: quantity(v, unit) for end, v in (("low", low), ("high", high)) if v is not None}
    if limits:
        observation["referenceRange"] = [limits]
    return observation | extra


def report(resource_id: str, code: tuple[str, str, str], when: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": resource_id,
        "status": "final",
        "code": concept(code),
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when,
        "result": [{"reference": f"Observation/{o['id']}"} for o in results],
    }


def monthly_panels() -> list[dict[str, Any]]:
    """Three metabolic panels a month apart: potassium climbing from normal to high."""
    out: list[dict[str, Any]] = []
    for n, (month, k, k_flag) in enumerate((("09", 4.9, ""), ("10", 5.4, "H"), ("11", 5.8, "H")), 1):
        when = f"2026-{month}-02T07:00:00+08:00"
        values = [
            lab(f"na-{n}", SODIUM, 139, when, flag="N", low=137, high=147),
            lab(f"k-{n}", POTASSIUM, k, when, flag=k_flag, low=3.5, high=5.3),
            lab(f"egfr-{n}", EGFR, 33, when, unit="mL/min/{1.73_m2}", flag="L", low=90),
        ]
        out += [*values, report(f"cmp-{n}", CMP, when, values)]
    return out


def rows_by_name(results: Any) -> dict[str, Any]:
    return {row.name: row for group in results.groups for row in group.rows}


def test_each_analyte_row_has_unit_range_latest_values_with_dates_and_flags() -> None:
    results = build_results(MemoryRepository(monthly_panels()), PATIENT)
    potassium = rows_by_name(results)["钾"]
    assert potassium.unit == "mmol/L" and potassium.reference == "3.5–5.3"
    assert [(v.text, v.flag, v.date) for v in potassium.values] == [
        ("5.8", "H", "2026-11-02 07:00"),
        ("5.4", "H", "2026-10-02 07:00"),
        ("4.9", "", "2026-09-02 07:00"),
    ]
    assert potassium.latest.resource == "Observation/k-3"
    assert [v.resource for v in potassium.earlier] == ["Observation/k-2", "Observation/k-1"]
    egfr = rows_by_name(results)["估算肾小球滤过率"]
    assert egfr.reference == "≥ 90" and egfr.latest.flag == "L" and egfr.unit == "mL/min/{1.73_m2}"
    assert rows_by_name(results)["钠"].latest.flag == ""  # N is normal: no flag


def test_the_trend_series_is_every_numeric_value_oldest_first_with_the_range() -> None:
    results = build_results(MemoryRepository(monthly_panels()), PATIENT)
    trend = rows_by_name(results)["钾"].trend()
    assert [(p["value"], p["flag"]) for p in trend["points"]] == [(4.9, ""), (5.4, "H"), (5.8, "H")]
    assert [p["at"][:10] for p in trend["points"]] == ["2026-09-02", "2026-10-02", "2026-11-02"]
    assert (trend["low"], trend["high"], trend["unit"]) == (3.5, 5.3, "mmol/L")


def test_reports_with_one_code_are_one_panel_in_the_labs_order_dated_by_the_newest() -> None:
    results = build_results(MemoryRepository(monthly_panels()), PATIENT)
    assert len(results.groups) == 1
    panel = results.groups[0]
    assert (panel.title, panel.resource, panel.date) == ("生化全项", "DiagnosticReport/cmp-3", "2026-11-02 07:00")
    assert [row.name for row in panel.rows] == ["钠", "钾", "估算肾小球滤过率"]


def test_results_without_a_report_are_grouped_by_category_and_groups_newest_first() -> None:
    resources = [
        *monthly_panels(),
        lab("glu-poc", GLUCOSE, 11.2, "2026-11-20T06:30:00+08:00", flag="H", low=3.9, high=6.1),
        {
            "resourceType": "Observation",
            "id": "bp-1",
            "status": "final",
            "category": [{"coding": [{"code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "血压"},
            "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": "2026-11-21T08:00:00+08:00",
            "component": [
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}], "text": "收缩压"},
                    "valueQuantity": quantity(168, "mmHg"),
                    "interpretation": [{"coding": [{"code": "H"}]}],
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}], "text": "舒张压"},
                    "valueQuantity": quantity(82, "mmHg"),
                },
            ],
        },
    ]
    results = build_results(MemoryRepository(resources), PATIENT)
    assert [(g.title, g.title_key) for g in results.groups] == [
        ("", "results.group.vital_signs"),
        ("", "results.group.laboratory"),
        ("生化全项", ""),
    ]
    vitals = results.groups[0]
    assert [(r.name, r.latest.text, r.latest.flag, r.unit) for r in vitals.rows] == [
        ("收缩压", "168", "H", "mmHg"),
        ("舒张压", "82", "", "mmHg"),
    ]
    assert vitals.rows[0].latest.resource == "Observation/bp-1"


def test_an_analyte_sits_with_its_newest_value_and_trends_across_panels() -> None:
    when = "2026-11-02T07:00:00+08:00"
    in_panel = lab("glu-1", GLUCOSE, 7.4, when, flag="H", low=3.9, high=6.1)
    resources = [in_panel, report("cmp-1", CMP, when, [in_panel])]
    resources.append(lab("glu-2", GLUCOSE, 6.0, "2026-11-25T07:00:00+08:00", low=3.9, high=6.1))
    results = build_results(MemoryRepository(resources), PATIENT)
    assert [g.title_key for g in results.groups] == ["results.group.laboratory"]
    glucose = results.groups[0].rows[0]
    assert [p["value"] for p in glucose.trend()["points"]] == [7.4, 6.0]


def test_critical_and_abnormal_flags_text_values_comparators_and_statuses() -> None:
    when = "2026-11-02T07:00:00+08:00"
    resources = [
        lab("k", POTASSIUM, 6.9, when, flag="HH", low=3.5, high=5.3),
        lab("na", SODIUM, 118, when, flag="LL", low=137, high=147, status="preliminary"),
        lab("urine", ("5804-0", "Protein [Mass/volume] in Urine by Test strip", "尿蛋白"), "++", when, flag="A"),
        lab("crp", ("1988-5", "C reactive protein", "C反应蛋白"), 0.5, when, unit="mg/L", high=10),
        lab("wrong", GLUCOSE, 99, when, status="entered-in-error"),
    ]
    resources[3]["valueQuantity"]["comparator"] = "<"
    rows = rows_by_name(build_results(MemoryRepository(resources), PATIENT))
    assert (rows["钾"].latest.flag, rows["钠"].latest.flag, rows["尿蛋白"].latest.flag) == ("HH", "LL", "A")
    assert rows["钠"].latest.status == "preliminary"
    assert rows["尿蛋白"].latest.text == "++" and rows["尿蛋白"].series == []
    assert rows["C反应蛋白"].latest.text == "<0.5" and rows["C反应蛋白"].reference == "≤ 10"
    assert rows["C反应蛋白"].series == []  # "<0.5" is not a point on a line
    assert "葡萄糖" not in rows  # entered in error


def test_reference_range_text_for_each_shape() -> None:
    def mmol(v: float) -> dict[str, Any]:
        return quantity(v, "mmol/L")

    assert reference_text([]) == ("", "", None, None)
    assert reference_text([{"low": mmol(3.5), "high": mmol(5.3)}]) == ("3.5–5.3", "", 3.5, 5.3)
    assert reference_text([{"text": "阴性"}]) == ("阴性", "", None, None)
    therapeutic = {"low": mmol(2), "high": mmol(3), "type": {"text": "therapeutic"}, "text": "抗凝治疗目标范围"}
    assert reference_text([therapeutic]) == ("2–3", "抗凝治疗目标范围", 2.0, 3.0)


def test_analyte_key_prefers_loinc() -> None:
    local = {"system": "urn:lab:local", "code": "K"}
    assert analyte_key({"coding": [local, {"system": LOINC, "code": "2823-3"}]}) == f"{LOINC}|2823-3"
    assert analyte_key({"coding": [local]}) == "urn:lab:local|K"
    assert analyte_key({"text": "钾"}) == "text|钾"


def test_nothing_recorded_is_empty() -> None:
    results = build_results(MemoryRepository([]), PATIENT)
    assert results.empty and results.groups == [] and results.ecgs == []
