"""Demo data: two nursing homes, an internet hospital, a pharmacy, their contracts, staff of every role
and about a dozen residents with a clinical history. Seeding twice changes nothing the second time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import click

from bridge.accounts.roles import Role
from bridge.accounts.service import NewAccount
from bridge.demo.clinical import DemoClinicalContext, DemoHome, demo_clinical_resources
from bridge.demo.laboratory import seed_demo_laboratory
from bridge.demo.stations import seed_demo_station
from bridge.directory.clinicians import practitioner_resource, practitioner_role_resource
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.contracts import contract_resource
from bridge.directory.organizations import organization_resource
from bridge.directory.residents import display_name, home_of
from bridge.prescriptions.catalogue import seed_catalogue
from bridge.recording.consent import recording_consent
from bridge.services import Services

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "bridge-demo-2026"  # noqa: S105 - printed to demo users on purpose
CONTRACT_START = date(2025, 1, 1)
RECORDING_CONSENT_GRANTED = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # fixed: re-seeding writes no new version
SUPPLIERS = (("demo-hospital", ContractKind.TELEMEDICINE), ("demo-pharmacy", ContractKind.PHARMACY_SUPPLY))

OPERATOR = ("demo-operator", OrgKind.OPERATOR, "护联桥运营中心", "OPS")
SUPERVISION = ("demo-supervision", OrgKind.SUPERVISORY_AUTHORITY, "示范区卫生健康委员会（演示）", "SUP")
HOMES = (
    DemoHome("demo-home-1", "H1", "康乐养老院（演示）"),
    DemoHome("demo-home-2", "H2", "福寿护理院（演示）"),
)
HOSPITAL = ("demo-hospital", OrgKind.INTERNET_HOSPITAL, "申康互联网医院（演示）", "HOSP")
PHARMACY = ("demo-pharmacy", OrgKind.PHARMACY, "益民大药房配送中心（演示）", "PHARM")

# (practitioner id, family, given, gender, organisation, role, specialty)
CLINICIANS = (
    ("demo-dr-li", "李", "建国", "male", "demo-hospital", Role.DOCTOR, "全科医学科"),
    ("demo-dr-chen", "陈", "静", "female", "demo-hospital", Role.DOCTOR, "心血管内科"),
    ("demo-nurse-wang", "王", "芳", "female", "demo-home-1", Role.NURSE, None),
    ("demo-nurse-zhang", "张", "丽", "female", "demo-home-2", Role.NURSE, None),
    ("demo-pharm-liu", "刘", "洋", "male", "demo-pharmacy", Role.PHARMACIST, None),
)

# (username, role, organisation, practitioner id, display name)
ACCOUNTS = (
    ("nurse1", Role.NURSE, "demo-home-1", "demo-nurse-wang", "王芳"),
    ("nurse2", Role.NURSE, "demo-home-2", "demo-nurse-zhang", "张丽"),
    ("doctor", Role.DOCTOR, "demo-hospital", "demo-dr-li", "李建国"),
    ("doctor2", Role.DOCTOR, "demo-hospital", "demo-dr-chen", "陈静"),
    ("pharmacist", Role.PHARMACIST, "demo-pharmacy", "demo-pharm-liu", "刘洋"),
    ("supervisor", Role.SUPERVISOR, "demo-supervision", None, "周督导"),
    ("admin", Role.ADMIN, "demo-operator", None, "系统管理员"),
)


@dataclass
class DemoSummary:
    organizations: list[dict[str, str]] = field(default_factory=list)
    accounts: list[dict[str, str]] = field(default_factory=list)
    residents: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "organizations": self.organizations,
            "accounts": self.accounts,
            "residents": self.residents,
            "password": DEMO_PASSWORD,
        }


def seed_demo(services: Services) -> DemoSummary:
    repo = services.repository
    today = services.now().date()
    seed_catalogue(services)  # also seeded by `bridge serve` without demo data; here for `bridge demo` and tests
    for org_id, kind, name, code in (OPERATOR, SUPERVISION, HOSPITAL, PHARMACY):
        repo.update(organization_resource(kind, name, code, resource_id=org_id, address="上海市"))
    for home in HOMES:
        repo.update(
            organization_resource(
                OrgKind.NURSING_HOME, home.name, home.code, resource_id=home.organization_id, address="上海市"
            )
        )
        for provider, contract in (
            (HOSPITAL[0], ContractKind.TELEMEDICINE),
            (PHARMACY[0], ContractKind.PHARMACY_SUPPLY),
        ):
            repo.update(
                contract_resource(
                    contract,
                    provider,
                    home.organization_id,
                    CONTRACT_START,
                    resource_id=f"demo-contract-{contract.value}-{home.code.lower()}",
                )
            )
    for pid, family, given, gender, org, role, specialty in CLINICIANS:
        repo.update(practitioner_resource(pid, family, given, gender, licence=f"DEMO-{pid.upper()}"))
        repo.update(practitioner_role_resource(f"{pid}-role", pid, org, role, specialty))
    for resource in demo_clinical_resources(_clinical_context(today)):
        repo.update(resource)
    for username, role, org, practitioner, name in ACCOUNTS:
        if services.accounts.by_username(username) is None:
            services.accounts.create(
                NewAccount(username, role.value, org, DEMO_PASSWORD, name, practitioner), services.now()
            )
    seed_demo_station(services)
    seed_demo_laboratory(services, tuple(home.organization_id for home in HOMES), CONTRACT_START)
    repo.update(
        # 李桂兰's daughter and guardian agreed that her consults are recorded: the demo shows recording.
        recording_consent(
            "demo-resident-03",
            consent_id="demo-resident-03-recording-consent",
            granted_at=RECORDING_CONSENT_GRANTED,
            guardian_name="陈静",
            organization_id="demo-home-1",
        )
    )
    return _summary(services)


def _clinical_context(today: date) -> DemoClinicalContext:
    return DemoClinicalContext(
        homes=HOMES,
        hospital_id=HOSPITAL[0],
        doctor_practitioner_ids=("demo-dr-li", "demo-dr-chen"),
        nurse_practitioner_ids={"demo-home-1": "demo-nurse-wang", "demo-home-2": "demo-nurse-zhang"},
        today=today,
    )


def _summary(services: Services) -> DemoSummary:
    from bridge.directory.organizations import organization_code, organization_kind

    summary = DemoSummary()
    for org in services.organizations.all():
        kind = organization_kind(org)
        summary.organizations.append(
            {
                "id": org["id"],
                "name": org.get("name", ""),
                "kind": kind.value if kind else "",
                "code": organization_code(org) or "",
            }
        )
    demo_usernames = {a[0] for a in ACCOUNTS}
    for account in services.accounts.list_for(None):
        entry = {
            "id": account.id,
            "username": account.username,
            "role": account.role,
            "organization_id": account.organization_id,
        }
        if account.username in demo_usernames:
            entry["password"] = DEMO_PASSWORD
        summary.accounts.append(entry)
    homes = [h.organization_id for h in HOMES]
    for patient in services.residents.patients_of_homes(homes):
        summary.residents.append(
            {"id": patient["id"], "name": display_name(patient), "home_id": home_of(patient) or ""}
        )
    return summary


def print_credentials(summary: DemoSummary, base_url: str) -> None:
    click.echo(f"\nDemo data is ready. Open {base_url}/login and sign in with (password {DEMO_PASSWORD}):")
    names = {o["id"]: o["name"] for o in summary.organizations}
    for account in summary.accounts:
        if "password" in account:
            click.echo(f"  {account['username']:<12} {account['role']:<11} {names.get(account['organization_id'], '')}")
    click.echo(f"  ({len(summary.residents)} residents in {len(HOMES)} homes)")
    click.echo(
        f"A bedside station for room 301, bed 1: python3 -m bridge station --demo --test-pattern --url {base_url}\n"
    )
