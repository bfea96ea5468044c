"""Renal function: the drug's renal limits against the resident's kidney function from a current creatinine.

Labels state their limits as creatinine clearance (CrCl, Cockcroft-Gault, mL/min); the bridge estimates
kidney function by the CKD-EPI 2021 eGFR, which is indexed to 1.73 m² of body surface and so reads higher
than the clearance of a small or very frail resident. When a body weight of the last 90 days is on file the
Cockcroft-Gault clearance is computed too, and the lower of the two is compared with the limits; every
finding says which was used. A creatinine older than 90 days is not judged on: the finding asks for a new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.prescriptions.safety.context import Measured, SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Text

SOURCE = (
    "Drug label (limits as creatinine clearance); KDIGO 2012 CKD guideline. Estimate: eGFR by CKD-EPI 2021 "
    "(Inker et al., N Engl J Med 2021;385:1737), indexed to 1.73 m², standing in for the label's creatinine "
    "clearance; for small or very frail residents the Cockcroft-Gault clearance (Cockcroft & Gault, Nephron "
    "1976;16:31) may be lower, so with a body weight (LOINC 29463-7) of the last 90 days it is computed too and "
    "the lower of the two is used. Only a creatinine of the last 90 days counts as current."
)
CURRENT = timedelta(days=90)


def cockcroft_gault(creatinine_mg_per_dl: float, age_years: float, weight_kg: float, sex: str) -> float:
    """Creatinine clearance in mL/min: (140 - age) x weight / (72 x Scr), x 0.85 for women; actual body weight."""
    if creatinine_mg_per_dl <= 0 or weight_kg <= 0:
        raise ValueError("creatinine and weight must be positive")
    clearance = (140 - age_years) * weight_kg / (72 * creatinine_mg_per_dl)
    return max(clearance * (0.85 if sex == "female" else 1.0), 0.0)


def is_current(measured: Measured | None, now: datetime | None) -> bool:
    """Taken within the last 90 days (a result without a time is not); any result when the time is unknown."""
    if measured is None:
        return False
    if now is None:
        return True
    return measured.when is not None and now - measured.when <= CURRENT


def check_renal(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    drug = draft.drug
    limits = [v for v in (drug.egfr_avoid_below, drug.egfr_reduce_below) if v is not None]
    if not limits:
        return []
    advice = Text(drug.renal_advice_zh, drug.renal_advice_en)
    key = f"renal:{drug.code}"
    creatinine = context.creatinine
    if creatinine is None or not is_current(creatinine, context.now):
        unknown: dict[str, Param] = {
            "drug": draft.name,
            "limit": f"{max(limits):g}",
            "advice": advice,
            "latest": _latest_text(creatinine, context.creatinine_umol),
        }
        return [SafetyFinding(key, "renal", "moderate", "safety.renal.not_current", unknown, SOURCE)]
    egfr = context.egfr
    if egfr is None or context.age is None:
        no_age: dict[str, Param] = {"drug": draft.name, "limit": f"{max(limits):g}", "advice": advice}
        return [SafetyFinding(key, "renal", "low", "safety.renal.no_estimate", no_age, SOURCE)]
    params: dict[str, Param] = {
        "drug": draft.name,
        "egfr": f"{egfr:.0f}",
        "creatinine": f"{context.creatinine_umol or 0:.0f}",
        "date": creatinine.day,
        "advice": advice,
    }
    value = egfr
    weight = context.weight if is_current(context.weight, context.now) else None
    egfr_text = Text(f"eGFR {egfr:.0f} mL/min/1.73m²（CKD-EPI 2021）", f"eGFR {egfr:.0f} mL/min/1.73 m² (CKD-EPI 2021)")
    if weight is None:
        params["used"], params["estimate"], params["basis"] = "egfr", egfr_text, _NO_WEIGHT
    else:
        crcl = cockcroft_gault(creatinine.value, context.age, weight.value, context.sex or "unknown")
        params["crcl"], params["weight"] = f"{crcl:.0f}", f"{weight.value:g}"
        crcl_text = Text(
            f"肌酐清除率 {crcl:.0f} mL/min（Cockcroft-Gault，体重 {weight.value:g} kg，{weight.day}）",
            f"creatinine clearance {crcl:.0f} mL/min (Cockcroft-Gault, weight {weight.value:g} kg on {weight.day})",
        )
        if crcl < egfr:
            value = crcl
            params["used"], params["estimate"] = "crcl", crcl_text
            params["basis"] = Text(
                f"两种估算取较低者：Cockcroft-Gault 肌酐清除率（说明书所用）低于 eGFR {egfr:.0f} mL/min/1.73m²。",
                f"The lower of the two estimates was used: the Cockcroft-Gault creatinine clearance the label "
                f"refers to is below the eGFR of {egfr:.0f} mL/min/1.73 m².",
            )
        else:
            params["used"], params["estimate"] = "egfr", egfr_text
            params["basis"] = Text(
                f"两种估算取较低者：eGFR 低于 Cockcroft-Gault 肌酐清除率 {crcl:.0f} mL/min。",
                f"The lower of the two estimates was used: the eGFR is below the Cockcroft-Gault creatinine "
                f"clearance of {crcl:.0f} mL/min.",
            )
    if drug.egfr_avoid_below is not None and value < drug.egfr_avoid_below:
        params["limit"] = f"{drug.egfr_avoid_below:g}"
        return [SafetyFinding(key, "renal", "high", "safety.renal.avoid_estimate", params, SOURCE)]
    if drug.egfr_reduce_below is not None and value < drug.egfr_reduce_below:
        params["limit"] = f"{drug.egfr_reduce_below:g}"
        return [SafetyFinding(key, "renal", "moderate", "safety.renal.reduce_estimate", params, SOURCE)]
    return []


_NO_WEIGHT = Text(
    "eGFR（按 1.73m² 体表面积标准化）代替说明书的肌酐清除率；近 90 天无体重记录，无法计算 Cockcroft-Gault "
    "肌酐清除率，体型瘦小或衰弱的长者其值可能更低。",
    "The eGFR (indexed to 1.73 m²) stands in for the label's creatinine clearance; with no body weight in the "
    "last 90 days the Cockcroft-Gault clearance could not be computed, and for a small or frail resident it may "
    "be lower.",
)


def _latest_text(creatinine: Measured | None, umol: float | None) -> Text:
    if creatinine is None:
        return Text("无肌酐结果", "none on file")
    return Text(
        f"最近一次为 {umol or 0:.0f} µmol/L，{creatinine.day}",
        f"the latest, {umol or 0:.0f} µmol/L, is from {creatinine.day}",
    )
