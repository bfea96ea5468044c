"""A resident's results for the chart: laboratory tables with trends, and ECG studies.

The portal maps no FHIR, so this turns Observations and DiagnosticReports into view items:

- one row per analyte (its code), with unit, reference range, the latest values with their dates and
  flags, and the numeric series for a trend. A row sits in the group of its newest value: the panel of
  the DiagnosticReport that listed it (all reports with the same code form one panel, so a monthly
  metabolic panel is one table whose rows trend over the months), else its category (laboratory, vital
  signs). The series of a row has every value of the analyte, whichever report brought it.
- ECG studies (bridge/results/ecg_view.py), newest first.

Flags are the sender's (Observation.interpretation), never recomputed here: the reference range is shown
beside every value, and a lab's flag may rest on more than the range (age, sex, delta checks).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhir_adapter.store.repository import ResourceRepository

from bridge.directory.chart import concept_text
from bridge.results.ecg_view import FLAG_CODES, EcgStudy, ecg_study, is_ecg

logger = logging.getLogger(__name__)

LOINC = "http://loinc.org"
HIDDEN_STATUSES = frozenset({"entered-in-error", "cancelled"})
SHOWN_VALUES = 3  # the latest value and the two before it; the trend has the rest
MAX_SERIES = 50
MAX_ECG_STUDIES = 5  # each carries its samples into the page
# Groups without a report, by Observation category: message key of the title, and order.
CATEGORY_GROUPS = {
    "laboratory": "results.group.laboratory",
    "vital-signs": "results.group.vital_signs",
}
OTHER_GROUP = "results.group.other"
Json = dict[str, Any]


@dataclass(frozen=True)
class LabValue:
    resource: str  # Observation/<id>
    text: str  # "5.8", "<0.5", "阴性"
    at: str  # ISO date-time, for sorting and the page's scripts
    date: str  # for people: "2026-11-27 07:00"
    flag: str  # "", H, L, HH, LL, A, AA
    status: str  # final, preliminary, amended, corrected
    number: float | None = None


@dataclass
class AnalyteRow:
    key: str
    name: str
    unit: str = ""
    reference: str = ""  # "3.5–5.3", "≥ 90", or the sender's text
    reference_note: str = ""  # e.g. a therapeutic target range's explanation
    low: float | None = None
    high: float | None = None
    values: list[LabValue] = field(default_factory=list)  # newest first, at most SHOWN_VALUES
    series: list[LabValue] = field(default_factory=list)  # numeric values, oldest first

    @property
    def latest(self) -> LabValue:
        return self.values[0]

    @property
    def earlier(self) -> list[LabValue]:
        return self.values[1:]

    @property
    def resources(self) -> list[str]:
        return [v.resource for v in self.values]

    def trend(self) -> Json:
        """What portal/static/lab-trend.js draws."""
        points = [{"at": v.at, "date": v.date, "value": v.number, "flag": v.flag} for v in self.series]
        return {"points": points, "low": self.low, "high": self.high, "unit": self.unit, "range": self.reference}


@dataclass
class LabGroup:
    key: str
    title: str  # the panel's name; empty for a category group, whose title is `title_key`
    title_key: str = ""
    date: str = ""
    at: str = ""
    resource: str = ""  # the newest DiagnosticReport of the panel
    status: str = ""
    rows: list[AnalyteRow] = field(default_factory=list)


@dataclass
class ChartResults:
    groups: list[LabGroup] = field(default_factory=list)
    ecgs: list[EcgStudy] = field(default_factory=list)
    older_ecgs: int = 0  # studies beyond MAX_ECG_STUDIES, counted only

    @property
    def empty(self) -> bool:
        return not self.groups and not self.ecgs


@dataclass(frozen=True)
class _Entry:
    """One measured value: an Observation's value, or one of its components (blood pressure)."""

    key: str
    name: str
    value: LabValue
    unit: str
    ranges: list[Json]
    group: str
    sort: float


def instant(resource: Json) -> tuple[str, str, float]:
    """(ISO text, text for people, sort key) of when a result was taken."""
    raw = str(
        resource.get("effectiveDateTime")
        or resource.get("effectiveInstant")
        or (resource.get("effectivePeriod") or {}).get("start")
        or resource.get("issued")
        or ""
    )
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        sort = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        sort = 0.0
    return raw, raw[:16].replace("T", " "), sort


def analyte_key(concept: Json) -> str:
    codings = [c for c in concept.get("coding", []) if c.get("code")]
    codings.sort(key=lambda c: c.get("system") != LOINC)
    if codings:
        return f"{codings[0].get('system', '')}|{codings[0]['code']}"
    return f"text|{concept_text(concept)}"


def number_text(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    try:
        return f"{float(value):.10g}"
    except (TypeError, ValueError):
        return str(value)


def flag_of(resource: Json) -> str:
    for concept in resource.get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in FLAG_CODES:
                return str(coding["code"])
    return ""


def reference_text(ranges: list[Json]) -> tuple[str, str, float | None, float | None]:
    """(range, note, low, high) of the first reference range."""
    if not ranges:
        return "", "", None, None
    first = ranges[0]
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    note = str(first.get("text", "")) if low is not None or high is not None else ""
    if low is not None and high is not None:
        text = f"{number_text(low)}–{number_text(high)}"
    elif low is not None:
        text = f"≥ {number_text(low)}"
    elif high is not None:
        text = f"≤ {number_text(high)}"
    else:
        text = str(first.get("text", ""))
    kind = concept_text(first.get("type"))
    if not note and kind and (low is not None or high is not None):
        note = kind
    return text, note, None if low is None else float(low), None if high is None else float(high)


def _value(resource: Json, holder: Json, at: tuple[str, str, float]) -> tuple[LabValue, str] | None:
    resource_ref = f"Observation/{resource.get('id', '')}"
    status = str(resource.get("status", ""))
    flag = flag_of(holder) or (flag_of(resource) if holder is not resource else "")
    if "valueQuantity" in holder:
        q = holder["valueQuantity"]
        number = q.get("value")
        text = f"{q.get('comparator', '')}{number_text(number)}" if number is not None else "–"
        numeric = float(number) if number is not None and not q.get("comparator") else None
        unit = str(q.get("unit") or q.get("code") or "")
        return LabValue(resource_ref, text, at[0], at[1], flag, status, numeric), unit
    for kind in ("valueString", "valueInteger", "valueBoolean"):
        if kind in holder:
            number = float(holder[kind]) if kind == "valueInteger" else None
            return LabValue(resource_ref, str(holder[kind]), at[0], at[1], flag, status, number), ""
    if "valueCodeableConcept" in holder:
        return LabValue(resource_ref, concept_text(holder["valueCodeableConcept"]), *at[:2], flag, status), ""
    if "dataAbsentReason" in holder:
        return LabValue(resource_ref, "–", at[0], at[1], flag, status), ""
    return None


def _category(resource: Json) -> str:
    for concept in resource.get("category", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in CATEGORY_GROUPS:
                return str(coding["code"])
    return ""


def _entries(resource: Json, group: str) -> list[_Entry]:
    at = instant(resource)
    # A blood pressure is one Observation with a component per measurement: each is its own row.
    holders = [resource] if "component" not in resource or _has_value(resource) else resource["component"]
    out: list[_Entry] = []
    for holder in holders:
        read = _value(resource, holder, at)
        if read is None:
            continue
        value, unit = read
        concept = holder.get("code") or {}
        ranges = holder.get("referenceRange") or []
        out.append(_Entry(analyte_key(concept), concept_text(concept), value, unit, ranges, group, at[2]))
    return out


def _has_value(resource: Json) -> bool:
    return any(key.startswith("value") for key in resource) or "dataAbsentReason" in resource


def _row(entries: list[_Entry]) -> AnalyteRow:
    entries = sorted(entries, key=lambda e: e.sort, reverse=True)
    newest = entries[0]
    reference, note, low, high = reference_text(newest.ranges)
    series = [e.value for e in reversed(entries[:MAX_SERIES]) if e.value.number is not None]
    shown = [e.value for e in entries[:SHOWN_VALUES]]
    return AnalyteRow(newest.key, newest.name, newest.unit, reference, note, low, high, shown, series)


def build_results(repository: ResourceRepository, patient_id: str) -> ChartResults:
    subject = f"Patient/{patient_id}"
    observations = [
        o for o in repository.find("Observation", {"subject": subject}) if o.get("status") not in HIDDEN_STATUSES
    ]
    reports = [
        r for r in repository.find("DiagnosticReport", {"subject": subject}) if r.get("status") not in HIDDEN_STATUSES
    ]
    reports.sort(key=lambda r: instant(r)[2])
    # Each result belongs to the newest report listing it; reports with one code are one panel.
    report_of: dict[str, Json] = {}
    panel_reports: dict[str, list[Json]] = defaultdict(list)
    for report in reports:
        panel = analyte_key(report.get("code") or {})
        panel_reports[panel].append(report)
        for reference in report.get("result", []):
            report_of[str(reference.get("reference", ""))] = report

    results = ChartResults()
    entries: dict[str, list[_Entry]] = defaultdict(list)
    for observation in observations:
        if is_ecg(observation):
            at, date, _ = instant(observation)
            results.ecgs.append(ecg_study(observation, at, date))
            continue
        listed = report_of.get(f"Observation/{observation.get('id', '')}")
        group = f"panel:{analyte_key(listed.get('code') or {})}" if listed else f"category:{_category(observation)}"
        for entry in _entries(observation, group):
            entries[entry.key].append(entry)

    results.ecgs.sort(key=lambda s: instant({"effectiveDateTime": s.at})[2], reverse=True)
    results.older_ecgs = max(0, len(results.ecgs) - MAX_ECG_STUDIES)
    results.ecgs = results.ecgs[:MAX_ECG_STUDIES]
    results.groups = _groups(entries, panel_reports)
    return results


def _groups(entries: dict[str, list[_Entry]], panel_reports: dict[str, list[Json]]) -> list[LabGroup]:
    groups: dict[str, LabGroup] = {}
    newest: dict[str, float] = {}
    key_of = {e.value.resource: e.key for analyte in entries.values() for e in analyte}
    for analyte in entries.values():
        top = max(analyte, key=lambda e: e.sort)
        group = groups.get(top.group)
        if group is None:
            group = groups[top.group] = _group(top.group, panel_reports)
        group.rows.append(_row(analyte))
        newest[top.group] = max(newest.get(top.group, 0.0), top.sort)
    for key, group in groups.items():
        order = _analyte_order(panel_reports.get(key.removeprefix("panel:"), []), key_of)
        group.rows.sort(key=lambda r: (order.get(r.key, len(order)), r.name))
        if not group.at:
            group.at = max(r.latest.at for r in group.rows)
            group.date = group.at[:16].replace("T", " ")
    return sorted(groups.values(), key=lambda g: (-newest[g.key], g.key))


def _group(key: str, panel_reports: dict[str, list[Json]]) -> LabGroup:
    if key.startswith("panel:"):
        report = panel_reports[key.removeprefix("panel:")][-1]
        at, date, _ = instant(report)
        title = concept_text(report.get("code"))
        return LabGroup(key, title, "", date, at, f"DiagnosticReport/{report.get('id', '')}", str(report.get("status")))
    title_key = CATEGORY_GROUPS.get(key.removeprefix("category:"), OTHER_GROUP)
    return LabGroup(key, "", title_key)


def _analyte_order(reports: list[Json], key_of: dict[str, str]) -> dict[str, int]:
    """The lab's own order of analytes: as the newest report lists them, then older reports' others."""
    order: dict[str, int] = {}
    for report in reversed(reports):
        for reference in report.get("result", []):
            key = key_of.get(str(reference.get("reference", "")))
            if key is not None and key not in order:
                order[key] = len(order)
    return order
