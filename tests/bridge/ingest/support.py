"""Inbound results in tests: the demo laboratory's token, and HL7 messages aimed at demo residents."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from bridge.demo.laboratory import DEMO_LAB_CLIENT_ID, DEMO_LAB_SECRET
from tests.conftest import Bridge

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
HL7_DIR = SHARED / "hl7v2"
ECG_DIR = SHARED / "ecg"


def lab_token(bridge: Bridge, client_id: str = DEMO_LAB_CLIENT_ID, secret: str = DEMO_LAB_SECRET) -> str:
    response = httpx.post(
        f"{bridge.url}/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=20
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def lab_client(bridge: Bridge) -> httpx.Client:
    return bridge.client(headers={"Authorization": f"Bearer {lab_token(bridge)}"})


def sample_messages() -> list[Path]:
    return sorted(HL7_DIR.glob("*.hl7"))


def segments(message: bytes) -> list[bytes]:
    return [s for s in re.split(rb"\r\n|\r|\n", message) if s.strip()]


def rewrite_field(message: bytes, segment: bytes, index: int, value: bytes) -> bytes:
    """Replace field `index` (HL7 numbering: MSH-10 is index 10) of every such segment."""
    out = []
    for line in segments(message):
        if line.startswith(segment):
            separator = line[3:4]
            fields = line.split(separator)
            position = index - 1 if segment == b"MSH" else index  # MSH-1 is the separator itself
            while len(fields) <= position:
                fields.append(b"")
            fields[position] = value
            line = separator.join(fields)
        out.append(line)
    return b"\r".join(out) + b"\r"


def aimed_at(message: bytes, identifier: str, authority: str = "") -> bytes:
    """The message about a demo resident (PID-3), with a fresh control id (MSH-10)."""
    # The home's code as assigning authority, as a laboratory serving several homes sends it: other tests
    # may add residents whose numbers repeat a demo resident's.
    authority = authority or identifier.split("-", 1)[0]
    pid3 = f"{identifier}^^^{authority}^MR".encode()
    fresh = rewrite_field(message, b"MSH", 10, uuid.uuid4().hex[:20].encode())
    return rewrite_field(fresh, b"PID", 3, pid3)


def resident_identifier(bridge: Bridge, patient_id: str) -> str:
    with bridge.services() as services:
        patient = services.repository.read("Patient", patient_id)
    return str(patient["identifier"][0]["value"])


def oru(
    identifier: str, *observations: str, version: str = "2.5.1", control_id: str | None = None, order: str = ""
) -> bytes:
    """A small ORU^R01 from the demo laboratory; each observation is an OBX line after `OBX|n|`. A new
    order number each time, unless `order` names one (a correction of an earlier order)."""
    control = control_id or uuid.uuid4().hex[:20]
    order = order or uuid.uuid4().hex[:10]
    lines = [
        f"MSH|^~\\&|LIS|DEMOLAB|BRIDGE|NH|20261201083000+0800||ORU^R01^ORU_R01|{control}|P|{version}",
        f"PID|1||{identifier}^^^{identifier.split('-', 1)[0]}^MR||测试^老人||19400101|F",
        f"OBR|1|P{order}|F{order}|24323-8^Comprehensive metabolic panel^LN|||20261201080000+0800",
    ]
    lines += [f"OBX|{n}|{text}" for n, text in enumerate(observations, start=1)]
    return ("\r".join(lines) + "\r").encode("utf-8")


def ingest_resident(bridge: Bridge, home: str = "demo-home-1") -> str:
    """A resident of its own for one test: results stored for it change no demo resident's chart, which
    other tests read. Its number follows the demo's (`H1-…` under the home's resident-number system)."""
    from bridge.directory.codes import RESIDENT_NUMBER_SYSTEM

    code = "H1" if home == "demo-home-1" else "H2"
    with bridge.services() as services:
        created = services.repository.create(
            {
                "resourceType": "Patient",
                "identifier": [
                    {"system": f"{RESIDENT_NUMBER_SYSTEM}/{code}", "value": f"{code}-Z{uuid.uuid4().hex[:8]}"}
                ],
                "name": [{"text": "检验测试", "family": "检", "given": ["验测试"]}],
                "gender": "female",
                "birthDate": "1940-01-01",
                "managingOrganization": {"reference": f"Organization/{home}"},
            },
            f"zz-ingest-{uuid.uuid4().hex[:12]}",
        )
    return str(created["id"])
