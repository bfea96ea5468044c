"""raise_critical_alerts on Observations stored in the real store (SQLite and PostgreSQL): which results
alert, the Communication and its row, idempotence across versions, and Medplum's verdict."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bridge.results.critical import raise_critical_alerts
from bridge.results.tables import CriticalAlert
from tests.bridge.results.critical_support import HOSPITAL, ecg, lab, new_resident, store_and_review
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass


def alert_rows(bridge: Bridge, patient_id: str) -> list[CriticalAlert]:
    with bridge.services() as services:
        rows = services.db.scalars(
            select(CriticalAlert).where(CriticalAlert.patient_id == patient_id).order_by(CriticalAlert.created_at)
        ).all()
        services.db.expunge_all()
        return list(rows)


def test_each_default_limit_alerts_beyond_it_and_not_just_inside(bridge: Bridge) -> None:
    cases = [  # (code, unit, value, critical?)
        ("2823-3", "mmol/L", 2.7, True),
        ("2823-3", "mmol/L", 2.8, False),
        ("6298-4", "mmol/L", 6.2, False),
        ("6298-4", "mmol/L", 6.3, True),
        ("2951-2", "mmol/L", 119, True),
        ("2951-2", "mmol/L", 120, False),
        ("2947-0", "mmol/L", 160, False),
        ("2947-0", "mmol/L", 161, True),
        ("2345-7", "mmol/L", 2.7, True),
        ("2345-7", "mmol/L", 2.8, False),
        ("15074-8", "mmol/L", 22.2, False),
        ("15074-8", "mmol/L", 22.3, True),
        ("41653-7", "mg/dL", 401, True),
        ("41653-7", "mg/dL", 399, False),
        ("718-7", "g/L", 59, True),
        ("718-7", "g/L", 60, False),
        ("718-7", "g/dL", 5.9, True),
        ("777-3", "10*9/L", 29, True),
        ("777-3", "10*9/L", 30, False),
        ("26515-7", "10*3/uL", 29, True),
        ("6301-6", "{INR}", 5.1, True),
        ("34714-6", "{INR}", 5.0, False),
        ("8636-7", "ms", 501, True),
        ("8636-7", "ms", 500, False),
        ("8867-4", "/min", 39, True),
        ("8867-4", "/min", 40, False),
        ("8867-4", "/min", 150, False),
        ("8867-4", "/min", 151, True),
    ]
    with bridge.services() as services:
        patient = new_resident(services)
        stored = [services.repository.create(lab(patient["id"], c, v, u)) for c, u, v, _ in cases]
        references = raise_critical_alerts(services, patient, stored)
        communications = [services.repository.read("Communication", r.split("/")[1]) for r in references]
    alerted = {c["about"][0]["reference"] for c in communications}
    expected = {f"Observation/{o['id']}" for o, case in zip(stored, cases, strict=True) if case[3]}
    assert alerted == expected
    assert len(alert_rows(bridge, patient["id"])) == len(expected)


def test_a_critical_result_is_a_communication_and_a_row(bridge: Bridge, medplum: MedplumValidator) -> None:
    with bridge.services() as services:
        patient = new_resident(services)
        (reference,) = store_and_review(services, patient, lab(patient["id"], "2823-3", 6.8))
        communication = services.repository.read("Communication", reference.split("/")[1])
    assert communication["status"] == "in-progress" and communication["priority"] == "stat"
    assert communication["category"][0]["coding"][0]["code"] == "critical-result"
    assert communication["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert [r["reference"] for r in communication["recipient"]] == [
        f"Organization/{HOSPITAL}",
        "Organization/demo-home-1",
    ]
    assert communication["payload"] == [{"contentString": "血钾 6.8 mmol/L（危急界限 > 6.2 mmol/L）"}]
    (row,) = alert_rows(bridge, patient["id"])
    assert f"Observation/{row.observation_id}" == communication["about"][0]["reference"]
    assert (row.id, row.observation_version, row.home_id, row.hospital_ids) == (
        communication["id"],
        1,
        "demo-home-1",
        HOSPITAL,
    )
    assert (row.value_text, row.limit_text, row.acknowledged_at, row.escalated_at) == (
        "6.8 mmol/L",
        "> 6.2 mmol/L",
        None,
        None,
    )
    assert row.result_at is not None and row.result_at.isoformat().startswith("2026-11-30")
    assert_all_pass(medplum.validate([communication]))


def test_unit_conversion_flags_and_components(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient = new_resident(services)
        pid = patient["id"]
        references = store_and_review(
            services,
            patient,
            lab(pid, "2339-0", 40, "mg/dL"),  # glucose 2.2 mmol/L
            lab(pid, "718-7", 5.5, "g/dL"),  # haemoglobin 55 g/L
            lab(pid, "17861-6", 1.4, flag="LL"),  # calcium: not in the table, flagged by the laboratory
            ecg(pid, heart_rate=35, qtc_ms=520),
        )
        payloads = [
            [p["contentString"] for p in services.repository.read("Communication", r.split("/")[1])["payload"]]
            for r in references
        ]
    assert payloads == [
        ["血糖 40 mg/dL（危急界限 < 2.8 mmol/L）"],
        ["血红蛋白 5.5 g/dL（危急界限 < 60 g/L）"],
        ["17861-6 1.4 mmol/L（检验科危急值标记 LL）"],
        ["心率 35 /min（危急界限 < 40 /min）", "QTc 间期 520 ms（危急界限 > 500 ms）"],
    ]


def test_normal_values_raise_nothing(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient = new_resident(services)
        pid = patient["id"]
        normal = [lab(pid, "2823-3", 4.1), lab(pid, "2951-2", 139), lab(pid, "718-7", 128, "g/L"), ecg(pid, 72, 430)]
        assert store_and_review(services, patient, *normal, lab(pid, "2823-3", 5.6, flag="H")) == []
    assert alert_rows(bridge, pid) == []


def test_a_new_version_alerts_again_only_for_a_new_critical_value(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient = new_resident(services)
        (first,) = store_and_review(services, patient, lab(patient["id"], "2823-3", 6.8))
        observation = services.repository.find("Observation", {"subject": f"Patient/{patient['id']}"})[0]

    def corrected(**changes: Any) -> list[str]:
        with bridge.services() as services:
            current = services.repository.read("Observation", observation["id"])
            stored = services.repository.update({**current, "status": "corrected", **changes})
            return raise_critical_alerts(services, patient, [stored])

    # The same value again (a corrected note, the same value in another spelling of the unit): nothing.
    assert corrected(note=[{"text": "复核"}]) == []
    assert corrected(valueQuantity={"value": 6.8, "unit": "mEq/L"}) == []
    # A corrected value that is critical alerts; one that is back to normal does not.
    (second,) = corrected(valueQuantity={"value": 7.4, "unit": "mmol/L"})
    assert corrected(valueQuantity={"value": 4.0, "unit": "mmol/L"}) == []
    rows = alert_rows(bridge, patient["id"])
    assert [(f"Communication/{r.id}", r.observation_version, r.value_text) for r in rows] == [
        (first, 1, "6.8 mmol/L"),
        (second, 4, "7.4 mmol/L"),
    ]
    assert json.loads(rows[1].findings)[0]["key"] == "2823-3|7.4 mmol/L"


def test_results_of_another_resident_or_not_stored_are_not_reviewed(bridge: Bridge) -> None:
    with bridge.services() as services:
        patient, other = new_resident(services), new_resident(services)
        stored = services.repository.create(lab(other["id"], "2823-3", 7.0))
        assert raise_critical_alerts(services, patient, [stored]) == []
        try:
            raise_critical_alerts(services, patient, [lab(patient["id"], "2823-3", 7.0)])
        except ValueError as exc:
            assert "stored Observations" in str(exc)
        else:
            raise AssertionError("an Observation without an id was accepted")
