"""Ordinary FHIR clients against a live server: fhirpy and SMART's fhirclient complete create, read,
search with paging, update with version checks and a transaction; Medplum's validator checks what
the server returned."""

from __future__ import annotations

from typing import Any

import pytest
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation as SmartObservation
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome

from tests.bridge.api.fhir_support import observation, resident_of, unique_tag
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass


def _tagged(patient: str, tag: str, value: float) -> dict[str, Any]:
    return {**observation(patient, value=value), "identifier": [{"system": "urn:test:client", "value": tag}]}


def test_fhirpy_creates_reads_pages_updates_with_versions_and_runs_a_transaction(
    bridge: Bridge, medplum: MedplumValidator
) -> None:
    base, token = f"{bridge.url}/fhir", bridge.token("nurse1")
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    patient, tag = resident_of(bridge, "demo-home-1", 3), unique_tag()
    returned: list[dict[str, Any]] = []

    created = []
    for value in range(5):
        resource = client.resource("Observation", **_tagged(patient, tag, 60 + value))
        resource.save()
        assert resource.id and resource["meta"]["versionId"] == "1"
        created.append(resource)
    read = client.reference("Observation", created[0].id).to_resource()
    assert read["valueQuantity"]["value"] == 60
    returned.append(read.serialize())

    pages = client.resources("Observation").search(identifier=f"urn:test:client|{tag}").limit(2)
    assert pages.count() == 5
    everything = pages.fetch_all()  # follows the server's next links, two at a time
    assert sorted(r.id for r in everything) == sorted(r.id for r in created)
    returned += [r.serialize() for r in everything]

    versioned = SyncFHIRClient(base, authorization=f"Bearer {token}", extra_headers={"If-Match": 'W/"1"'})
    amended = versioned.resource("Observation", **{**read.serialize(), "status": "amended"})
    amended.save()
    assert amended["meta"]["versionId"] == "2"
    stale = versioned.resource("Observation", **{**read.serialize(), "status": "corrected"})
    # fhirpy reports a 412 as MultipleResourcesFound (it reads 412 as a conditional-update clash).
    with pytest.raises((MultipleResourcesFound, OperationOutcome)) as refused:
        stale.save()
    assert "is at version 2, not 1" in str(refused.value)
    assert client.reference("Observation", read.id).to_resource()["status"] == "amended"

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6d1c9f6e-1111-4a5b-9c1d-000000000001",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                    "subject": {"reference": f"Patient/{patient}"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "resource": {
                    **_tagged(patient, tag, 99),
                    "encounter": {"reference": "urn:uuid:6d1c9f6e-1111-4a5b-9c1d-000000000001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = client.execute("", method="post", data=bundle)
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created", "201 Created"]
    encounter_ref = response["entry"][1]["resource"]["encounter"]["reference"]
    assert encounter_ref == response["entry"][0]["response"]["location"].split("/_history")[0]
    returned.append(response)
    returned.append(client.resources("Observation").search(identifier=f"urn:test:client|{tag}").limit(3).fetch_raw())
    assert_all_pass(medplum.validate(returned))


def test_fhirclient_creates_reads_pages_updates_and_runs_a_transaction(
    bridge: Bridge, medplum: MedplumValidator
) -> None:
    smart = smart_client.FHIRClient(settings={"app_id": "bridge-tests", "api_base": f"{bridge.url}/fhir/"})
    assert smart.server is not None
    smart.server.session.headers["Authorization"] = f"Bearer {bridge.token('nurse1')}"
    patient, tag = resident_of(bridge, "demo-home-1", 4), unique_tag()
    returned: list[dict[str, Any]] = []

    for value in range(4):
        response = SmartObservation(_tagged(patient, tag, 70 + value)).create(smart.server)
        assert response["meta"]["versionId"] == "1"
    found = list(
        SmartObservation.where(struct={"identifier": f"urn:test:client|{tag}", "_count": "3"}).perform_resources_iter(
            smart.server
        )
    )
    assert len(found) == 4  # two pages, the second reached through the next link

    first = SmartObservation.read(found[0].id, smart.server)
    returned.append(first.as_json())
    first.status = "amended"
    smart.server.session.headers["If-Match"] = 'W/"1"'
    try:
        updated = first.update(smart.server)
        assert updated["meta"]["versionId"] == "2"
        with pytest.raises(Exception, match="412"):
            first.update(smart.server)
    finally:
        del smart.server.session.headers["If-Match"]
    assert SmartObservation.read(first.id, smart.server).status == "amended"

    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": _tagged(patient, tag, 88), "request": {"method": "POST", "url": "Observation"}}],
    }
    result = smart.server.post_json("", bundle).json()
    assert result["type"] == "transaction-response" and result["entry"][0]["response"]["status"] == "201 Created"
    returned.append(result)
    returned.append(smart.server.request_json(f"Observation?identifier=urn:test:client|{tag}"))
    assert_all_pass(medplum.validate(returned))
