"""Renal function: the drug's eGFR limits against the eGFR (CKD-EPI 2021) from the latest creatinine."""

from __future__ import annotations

from bridge.prescriptions.safety.context import SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Text

SOURCE = "Drug label; KDIGO 2012 CKD guideline; eGFR by CKD-EPI 2021 (Inker et al., N Engl J Med 2021;385:1737)"


def check_renal(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    drug = draft.drug
    limits = [v for v in (drug.egfr_avoid_below, drug.egfr_reduce_below) if v is not None]
    if not limits:
        return []
    advice = Text(drug.renal_advice_zh, drug.renal_advice_en)
    key = f"renal:{drug.code}"
    egfr = context.egfr
    if egfr is None or context.creatinine is None:
        unknown: dict[str, Param] = {"drug": draft.name, "limit": f"{max(limits):g}", "advice": advice}
        return [SafetyFinding(key, "renal", "low", "safety.renal.unknown", unknown, SOURCE)]
    params: dict[str, Param] = {
        "drug": draft.name,
        "egfr": f"{egfr:.0f}",
        "creatinine": f"{context.creatinine_umol or 0:.0f}",
        "date": context.creatinine.day,
        "advice": advice,
    }
    if drug.egfr_avoid_below is not None and egfr < drug.egfr_avoid_below:
        params["limit"] = f"{drug.egfr_avoid_below:g}"
        return [SafetyFinding(key, "renal", "high", "safety.renal.avoid", params, SOURCE)]
    if drug.egfr_reduce_below is not None and egfr < drug.egfr_reduce_below:
        params["limit"] = f"{drug.egfr_reduce_below:g}"
        return [SafetyFinding(key, "renal", "moderate", "safety.renal.reduce", params, SOURCE)]
    return []
