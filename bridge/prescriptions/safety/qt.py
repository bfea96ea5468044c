"""QT prolongation: QT-prolonging drugs (CredibleMeds categories) against the latest ECG's QTc, and
another active QT-prolonging drug."""

from __future__ import annotations

from bridge.prescriptions.safety.context import SafetyContext
from bridge.prescriptions.safety.draft import Draft, drug_name
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Severity, Text

SOURCE = (
    "CredibleMeds QTdrugs list (crediblemeds.org); QTc limits: Goldenberg et al., J Cardiovasc Electrophysiol "
    "2006;17:333 (prolonged > 450 ms men, > 470 ms women); AHA/ACCF scientific statement on QT prolongation "
    "(Drew et al., Circulation 2010;121:1047: QTc > 500 ms)"
)
CRITICAL_QTC_MS = 500.0
PROLONGED_QTC_MS = {"male": 450.0, "female": 470.0}
PROLONGED_QTC_MS_SEX_UNKNOWN = 470.0
RISK = {
    "known": Text("已知可致尖端扭转型室速（TdP）", "has a known risk of torsades de pointes"),
    "possible": Text("可能延长QT间期", "may prolong the QT interval"),
    "conditional": Text(
        "在特定条件下（低钾、低镁、合用药物、肾功能减退）可致TdP",
        "can cause torsades de pointes under some conditions (low potassium or magnesium, interacting drugs)",
    ),
}


def check_qt(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    risk = draft.drug.qt_risk
    if risk is None:
        return []
    findings = []
    base: dict[str, Param] = {"drug": draft.name, "risk": RISK[risk]}
    key = f"qt:{draft.drug.code}"
    qtc = context.qtc
    if qtc is None:
        if risk == "known":
            findings.append(SafetyFinding(key, "qt", "low", "safety.qt.no_ecg", base, SOURCE))
    else:
        limit = PROLONGED_QTC_MS.get(context.sex or "", PROLONGED_QTC_MS_SEX_UNKNOWN)
        params = base | {"qtc": f"{qtc.value:.0f}", "date": qtc.day, "limit": f"{limit:g}"}
        severity: Severity | None = None
        if qtc.value > CRITICAL_QTC_MS:
            severity = "high" if risk == "known" else "moderate"
            message = "safety.qt.critical"
        elif qtc.value > limit:
            severity = "moderate" if risk == "known" else "low"
            message = "safety.qt.prolonged"
        if severity is not None:
            findings.append(SafetyFinding(key, "qt", severity, message, params, SOURCE))
    if risk in ("known", "possible"):
        for other in context.active:
            if other.drug is not None and other.drug.qt_risk == "known" and other.drug.code != draft.drug.code:
                pair = "+".join(sorted((draft.drug.code, other.drug.code)))
                params = base | {"other": drug_name(other.drug)}
                findings.append(SafetyFinding(f"qt:{pair}", "qt", "moderate", "safety.qt.combined", params, SOURCE))
    return findings
