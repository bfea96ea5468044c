"""Maximum daily dose, and the rules of online prescribing (no controlled drugs; follow-up visits only)."""

from __future__ import annotations

from bridge.prescriptions.safety.context import SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Text

MAX_DOSE_SOURCE = "Drug label (maximum daily dose), as recorded in the drug catalogue"
ONLINE_SOURCE = (
    "互联网诊疗管理办法（试行）（国卫医发〔2018〕25号）第十六条、第十九条；"
    "互联网诊疗监管细则（试行）（国卫办医发〔2022〕2号）"
)
CATEGORY = {
    "narcotic": Text("麻醉药品", "a narcotic drug"),
    "psychotropic-1": Text("第一类精神药品", "a category I psychotropic drug"),
    "psychotropic-2": Text("第二类精神药品", "a category II psychotropic drug"),
}
# A little above the maximum is rounding (0.5-tablet steps, unit conversions), not an overdose.
TOLERANCE = 1.0001


def check_max_dose(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    maximum = draft.drug.max_daily_dose
    if maximum is None or draft.dose.per_day <= maximum * TOLERANCE:
        return []
    params: dict[str, Param] = {
        "drug": draft.name,
        "daily": f"{draft.dose.per_day:.4g}",
        "max": f"{maximum:g}",
        "unit": draft.drug.dose_unit,
    }
    key = "safety.max_dose.as_needed" if draft.dose.as_needed else "safety.max_dose.exceeded"
    return [SafetyFinding(f"max-dose:{draft.drug.code}", "max-dose", "high", key, params, MAX_DOSE_SOURCE)]


def check_online_rules(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    findings = []
    category = draft.drug.controlled
    if category is not None:
        params = {"drug": draft.name, "category": CATEGORY[category]}
        findings.append(
            SafetyFinding(
                f"online-rules:controlled:{draft.drug.code}",
                "online-rules",
                "high",
                "safety.online.controlled",
                params,
                ONLINE_SOURCE,
                overridable=False,
            )
        )
    if not context.first_visit:
        findings.append(
            SafetyFinding(
                "online-rules:first-visit",
                "online-rules",
                "high",
                "safety.online.first_visit",
                {"drug": draft.name},
                ONLINE_SOURCE,
                overridable=False,
            )
        )
    return findings
