"""Every access rule, allowed and denied, over real HTTP against a live server."""

from __future__ import annotations

import uuid
from datetime import date

import httpx

from bridge.accounts.service import NewAccount
from bridge.demo.seed import DEMO_PASSWORD
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.contracts import contract_resource
from bridge.directory.organizations import organization_resource
from tests.conftest import Bridge


def resident_ids(client: httpx.Client) -> dict[str, str]:
    response = client.get("/api/residents")
    assert response.status_code == 200, response.text
    return {r["id"]: r["home_id"] for r in response.json()["residents"]}


def a_resident_of(bridge: Bridge, home_id: str) -> str:
    with bridge.services() as services:
        return str(services.residents.patients_of_homes([home_id])[0]["id"])


def new_org(bridge: Bridge, kind: OrgKind, contract_with: str | None = None) -> str:
    code = uuid.uuid4().hex[:8]
    with bridge.services() as services:
        org = services.repository.create(organization_resource(kind, f"测试机构 {code}", f"T-{code}"))
        if contract_with:
            services.repository.create(
                contract_resource(ContractKind.TELEMEDICINE, org["id"], contract_with, date(2024, 1, 1))
            )
    return str(org["id"])


def new_account(bridge: Bridge, role: str, org_id: str) -> str:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    with bridge.services() as services:
        services.accounts.create(NewAccount(username, role, org_id, DEMO_PASSWORD), services.now())
    return username


def test_nurse_sees_only_her_homes_residents(bridge: Bridge) -> None:
    with bridge.bearer("nurse1") as nurse:
        visible = resident_ids(nurse)
        assert visible and set(visible.values()) == {"demo-home-1"}
        own = a_resident_of(bridge, "demo-home-1")
        assert nurse.get(f"/api/residents/{own}").json()["id"] == own
        other = a_resident_of(bridge, "demo-home-2")
        denied = nurse.get(f"/api/residents/{other}")
        assert denied.status_code == 404
        # Same answer as for a resident that does not exist: existence does not leak.
        assert nurse.get("/api/residents/no-such-resident").json() == denied.json()


def test_doctor_sees_residents_of_contracted_homes_only(bridge: Bridge) -> None:
    with bridge.bearer("doctor") as doctor:
        assert set(resident_ids(doctor).values()) == {"demo-home-1", "demo-home-2"}
    uncontracted_home = new_org(bridge, OrgKind.NURSING_HOME)
    other_hospital = new_org(bridge, OrgKind.INTERNET_HOSPITAL, contract_with=uncontracted_home)
    with bridge.services() as services:
        services.repository.create(
            {
                "resourceType": "Patient",
                "name": [{"text": "测试住户"}],
                "gender": "female",
                "managingOrganization": {"reference": f"Organization/{uncontracted_home}"},
            }
        )
    stranger = a_resident_of(bridge, uncontracted_home)
    with bridge.bearer("doctor") as doctor:
        assert stranger not in resident_ids(doctor)
        assert doctor.get(f"/api/residents/{stranger}").status_code == 404
    with bridge.bearer(new_account(bridge, "doctor", other_hospital)) as other_doctor:
        assert set(resident_ids(other_doctor)) == {stranger}
        assert other_doctor.get(f"/api/residents/{a_resident_of(bridge, 'demo-home-1')}").status_code == 404


def test_pharmacy_sees_only_residents_routed_to_it(bridge: Bridge) -> None:
    routed = a_resident_of(bridge, "demo-home-2")
    pharmacy = new_org(bridge, OrgKind.PHARMACY)
    pharmacist = new_account(bridge, "pharmacist", pharmacy)
    with bridge.bearer(pharmacist) as client:
        assert resident_ids(client) == {}
        assert client.get(f"/api/residents/{routed}").status_code == 404
    with bridge.services() as services:
        # What $sign records when it routes a prescription to a pharmacy (a Task alone routes nothing).
        from bridge.prescriptions.actors import ActorRef
        from bridge.prescriptions.codes import Step
        from bridge.prescriptions.steps import record_step

        record_step(
            services,
            step=Step.SIGNED,
            actor=ActorRef("Practitioner/demo-dr-li", "李建国"),
            medication_request_id="zz-routing-test",
            patient_id=routed,
            home_id="demo-home-2",
            pharmacy_id=pharmacy,
        )
    with bridge.bearer(pharmacist) as client:
        assert set(resident_ids(client)) == {routed}
        assert client.get(f"/api/residents/{routed}").status_code == 200
        assert client.get(f"/api/residents/{a_resident_of(bridge, 'demo-home-1')}").status_code == 404


def test_supervisor_sees_audit_but_no_residents(bridge: Bridge) -> None:
    with bridge.bearer("supervisor") as supervisor:
        audit = supervisor.get("/api/audit")
        assert audit.status_code == 200
        assert any(e["outcome"] == "0" for e in audit.json()["events"])
        residents = supervisor.get("/api/residents")
        assert residents.status_code == 403
        assert residents.json()["error"] == "error.insufficient_scope"
    with bridge.bearer("nurse1") as nurse:
        assert nurse.get("/api/audit").status_code == 403


def test_home_supervisor_sees_only_her_organisations_audit(bridge: Bridge) -> None:
    home = new_org(bridge, OrgKind.NURSING_HOME)
    nurse = new_account(bridge, "nurse", home)
    bridge.token(nurse)  # an audited sign-in at that home
    with bridge.bearer(new_account(bridge, "supervisor", home)) as supervisor:
        events = supervisor.get("/api/audit").json()["events"]
        assert events
        assert all(e["entity"][0]["what"]["reference"] == f"Organization/{home}" for e in events)


def test_admin_rules(bridge: Bridge) -> None:
    body = {
        "username": f"n-{uuid.uuid4().hex[:6]}",
        "role": "nurse",
        "organization": "demo-home-2",
        "password": "a-long-password",
    }
    with bridge.bearer("admin") as operator_admin:
        created = operator_admin.post("/api/admin/accounts", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["organization_id"] == "demo-home-2"
        assert any(
            a["username"] == body["username"] for a in operator_admin.get("/api/admin/accounts").json()["accounts"]
        )
    home_admin = new_account(bridge, "admin", "demo-home-1")
    with bridge.bearer(home_admin) as admin:
        accounts = admin.get("/api/admin/accounts").json()["accounts"]
        assert {a["organization_id"] for a in accounts} == {"demo-home-1"}
        other = admin.post("/api/admin/accounts", json={**body, "username": f"x-{uuid.uuid4().hex[:6]}"})
        assert other.status_code == 403
        own = admin.post(
            "/api/admin/accounts", json={**body, "username": f"y-{uuid.uuid4().hex[:6]}", "organization": "demo-home-1"}
        )
        assert own.status_code == 201
    with bridge.bearer("nurse1") as nurse:
        assert nurse.get("/api/admin/accounts").status_code == 403
        assert nurse.post("/api/admin/accounts", json=body).status_code == 403


def test_account_form_errors_are_reported_per_field(bridge: Bridge) -> None:
    with bridge.bearer("admin") as admin:
        response = admin.post(
            "/api/admin/accounts",
            json={"username": "X", "role": "doctor", "organization": "demo-home-1", "password": "short"},
        )
        assert response.status_code == 422
        fields = {f["field"]: f["error"] for f in response.json()["fields"]}
        assert fields == {
            "username": "field.username_format",
            "password": "field.password_too_short",
            "role": "field.role_not_for_organization",
        }


def test_system_clients_act_for_their_organisation(bridge: Bridge) -> None:
    with bridge.bearer("admin") as admin:
        station = admin.post(
            "/api/admin/clients",
            json={
                "name": "bedside station 301",
                "organization": "H1",
                "scope": "system/Patient.rs system/Observation.cru",
            },
        )
        assert station.status_code == 201, station.text
    creds = station.json()
    token = httpx.post(
        f"{bridge.url}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()["access_token"]
    with bridge.client(headers={"Authorization": f"Bearer {token}"}) as client:
        assert set(resident_ids(client).values()) == {"demo-home-1"}
        assert client.get(f"/api/residents/{a_resident_of(bridge, 'demo-home-2')}").status_code == 404
        assert client.get("/api/admin/accounts").status_code == 403
