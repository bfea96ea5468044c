"""The demo laboratory: an independent medical laboratory under contract with both demo homes, whose
LIS sends results as HL7 v2 (over HTTP with its client's token, or over MLLP as facility DEMOLAB),
and the point-of-care analyser of the first home. Their secrets are known, for the demo only."""

from __future__ import annotations

from datetime import date

from bridge.accounts.passwords import hash_password
from bridge.db.tables import ApiClient
from bridge.directory.codes import ContractKind, OrgKind
from bridge.directory.contracts import contract_resource
from bridge.directory.organizations import organization_resource
from bridge.services import Services

DEMO_LAB_ID = "demo-lab"
DEMO_LAB_NAME = "申检医学检验所（演示）"
DEMO_LAB_CLIENT_ID = "demo-lab-lis"
DEMO_LAB_SECRET = "bridge-demo-lab-2026"  # noqa: S105 - demo data, refused outside demo mode
DEMO_LAB_FACILITY = "DEMOLAB"  # its MSH-4 over MLLP
DEMO_ANALYSER_CLIENT_ID = "demo-analyser-h1"
DEMO_ANALYSER_SECRET = "bridge-demo-analyser-2026"  # noqa: S105 - demo data, refused outside demo mode
RESULT_SCOPE = "system/Observation.cru system/DiagnosticReport.cru system/DocumentReference.cr system/Patient.rs"


def seed_demo_laboratory(services: Services, home_ids: tuple[str, ...], contract_start: date) -> None:
    repo = services.repository
    repo.update(
        organization_resource(OrgKind.LABORATORY, DEMO_LAB_NAME, "LAB", resource_id=DEMO_LAB_ID, address="上海市")
    )
    for home_id in home_ids:
        repo.update(
            contract_resource(
                ContractKind.LABORATORY_SERVICE,
                DEMO_LAB_ID,
                home_id,
                contract_start,
                resource_id=f"demo-contract-{ContractKind.LABORATORY_SERVICE.value}-{home_id}",
            )
        )
    _client(services, DEMO_LAB_CLIENT_ID, "检验信息系统 LIS（演示）", DEMO_LAB_SECRET, DEMO_LAB_ID)
    _client(services, DEMO_ANALYSER_CLIENT_ID, "床旁检验分析仪（演示）", DEMO_ANALYSER_SECRET, home_ids[0])


def _client(services: Services, client_id: str, name: str, secret: str, organization_id: str) -> None:
    if services.db.get(ApiClient, client_id) is not None:
        return
    services.db.add(
        ApiClient(
            client_id=client_id,
            name=name,
            secret_hash=hash_password(secret),
            organization_id=organization_id,
            scopes=RESULT_SCOPE,
            active=True,
            created_at=services.now(),
        )
    )
    services.db.flush()
