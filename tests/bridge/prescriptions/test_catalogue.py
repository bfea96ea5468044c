"""The starter catalogue: its data is sound, it is stored as Medication resources, seeding is idempotent."""

from __future__ import annotations

from bridge.prescriptions.catalogue import (
    ATC_SYSTEM,
    CATALOGUE_SYSTEM,
    catalogue,
    drug_from_medication,
    medication_resource,
    seed_catalogue,
    shipped_drugs,
)
from bridge.prescriptions.safety.rule_data import interactions, older_adults
from tests.fhir_peer import assert_all_pass


def test_shipped_catalogue_covers_nursing_home_drugs() -> None:
    drugs = shipped_drugs()
    assert len(drugs) >= 100
    classes = {d.atc_class for d in drugs}
    for wanted in ("C09CA", "A10BA", "A10AE", "B01AA", "B01AC", "C10AA", "C03CA", "A02BC", "A06AD", "M01AE",
                   "N02AA", "N05BA", "N05CF", "N05AH", "N06AB", "J01CA", "J01DD", "J01FA", "J01MA", "J01EE",
                   "N04BA", "N06DA", "R03BB", "H03AA", "M04AA", "G04CA"):  # fmt: skip
        assert wanted in classes, wanted
    assert {d.controlled for d in drugs if d.ingredients[0] in {"morphine", "oxycodone"}} == {"narcotic"}
    assert all(d.controlled == "psychotropic-2" for d in drugs if d.atc_class in {"N05BA", "N05CF"})
    metformin = next(d for d in drugs if d.code == "A10BA02")
    assert metformin.egfr_avoid_below == 30 and metformin.max_daily_dose == 2000


def test_curated_tables_name_real_catalogue_classes() -> None:
    codes = {d.atc for d in shipped_drugs() if d.atc}
    prefixes = [p for e in interactions() for p in (*e.a, *e.b)] + [p for e in older_adults()[1] for p in e.atc]
    unmatched = {p for p in prefixes if not any(code.startswith(p) for code in codes)}
    assert unmatched <= {"C09B"}, unmatched  # ACE inhibitor combinations: none shipped, admins may import them
    assert all(e.source and e.effect.zh and e.effect.en for e in interactions())


def test_medication_round_trip(medplum) -> None:
    resources = []
    for drug in shipped_drugs():
        resource = medication_resource(drug)
        assert resource["id"] == f"drug-{drug.code.lower()}"
        assert drug_from_medication(resource) == drug
        resources.append(resource)
    assert_all_pass(medplum.validate(resources[:20]))


def test_seeded_catalogue_is_readable_and_idempotent(bridge) -> None:
    with bridge.services() as services:
        seed_catalogue(services)
        again = seed_catalogue(services)
        assert again.created == again.updated == 0
        medication = services.repository.read("Medication", "drug-c09ca04")
        assert medication["meta"]["versionId"] == "1"
        assert {"system": CATALOGUE_SYSTEM, "code": "catalogue"} in medication["meta"]["tag"]
        assert {c["system"] for c in medication["code"]["coding"]} == {ATC_SYSTEM, CATALOGUE_SYSTEM}
        drugs = catalogue(services)
        assert len(drugs) >= 100
        assert drugs.by_medication_id("drug-c09ca04") is drugs.by_code("c09ca04")
        assert drugs.for_concept({"coding": [{"system": ATC_SYSTEM, "code": "B01AA03"}]}).name_en == "warfarin"
        assert drugs.for_reference("Medication/drug-a10ba02").name_zh == "二甲双胍"
        assert [d.code for d in drugs.search("二甲双胍")] == ["A10BA02"]
        assert catalogue(services) is drugs  # cached while nothing changed


def test_pharmacies_see_the_catalogue_over_fhir(bridge) -> None:
    with bridge.services() as services:
        seed_catalogue(services)
    client = bridge.bearer("pharmacist")
    response = client.get("/fhir/Medication", params={"_tag": f"{CATALOGUE_SYSTEM}|catalogue", "_count": "200"})
    assert response.status_code == 200, response.text
    assert response.json()["total"] >= 100 if "total" in response.json() else len(response.json()["entry"]) >= 100
