"""Online prescribing: no controlled drugs, and only after an in-person first visit; never overridable."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for


def test_narcotic_and_psychotropic_are_refused(bridge) -> None:
    for code in ("N02AA01", "N05CF02"):
        [finding] = findings_for(bridge, Resident(), code, 5, "online-rules")
        assert finding.key == f"online-rules:controlled:{code}"
        assert finding.blocking and not finding.overridable and "互联网诊疗管理办法" in finding.source


def test_without_a_first_visit_it_is_refused(bridge) -> None:
    [finding] = findings_for(bridge, Resident(first_visit=False), "C08CA01", 5, "online-rules")
    assert finding.key == "online-rules:first-visit" and not finding.overridable


def test_a_visit_by_someone_else_than_a_contracted_doctor_does_not_count(bridge) -> None:
    spec = Resident(visit_by="demo-nurse-wang")
    assert [f.key for f in findings_for(bridge, spec, "C08CA01", 5, "online-rules")] == ["online-rules:first-visit"]


def test_ordinary_drug_after_a_first_visit_passes(bridge) -> None:
    assert findings_for(bridge, Resident(), "C08CA01", 5, "online-rules") == []


def test_demo_residents_without_first_visit(bridge) -> None:
    from bridge.demo.clinical import RESIDENTS_WITHOUT_FIRST_VISIT
    from bridge.prescriptions.catalogue import seed_catalogue
    from bridge.prescriptions.safety.check import check_prescription
    from tests.bridge.prescriptions.catalogue_support import draft

    with bridge.services() as services:
        seed_catalogue(services)
        keys = {
            pid: {f.key for f in check_prescription(services, draft(pid, "C08CA01", 5))}
            for pid in [*sorted(RESIDENTS_WITHOUT_FIRST_VISIT), "demo-resident-01"]
        }
    assert all("online-rules:first-visit" in keys[pid] for pid in RESIDENTS_WITHOUT_FIRST_VISIT)
    assert "online-rules:first-visit" not in keys["demo-resident-01"]
