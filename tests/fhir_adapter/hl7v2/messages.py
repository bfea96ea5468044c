"""Small hand-written ORU^R01 messages for the tests, and the real samples in shared/data/hl7v2."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "hl7v2"

PID = "PID|1||R0001^^^SHNH^MR~310101193805120022^^^CHN^NNCHN||Li^Guilan||19380512|F"
OBR = "OBR|1|PL123^HOME|FL456^SHLAB|CBC^Blood count^L|||20260301073000+0800|||||||||||||||20260301083000+0800|||F"


def msh(
    *,
    version: str = "2.5.1",
    charset: str = "",
    control_id: str = "MSG00001",
    message_type: str = "ORU^R01^ORU_R01",
    sent: str = "20260301083000+0800",
    facility: str = "SHLAB",
) -> str:
    fields = ["MSH", "^~\\&", "LIS", facility, "BRIDGE", "HOME1", sent, "", message_type, control_id, "P", version]
    if charset:
        fields += [""] * 5 + [charset]
    return "|".join(fields)


def obx(
    set_id: int,
    value_type: str,
    code: str,
    value: str,
    unit: str = "",
    reference: str = "",
    flags: str = "",
    status: str = "F",
    observed: str = "",
    sub_id: str = "",
) -> str:
    fields = [str(set_id), value_type, code, sub_id, value, unit, reference, flags, "", "", status, "", "", observed]
    return "|".join(["OBX", *fields])


def oru(*segments: str, pid: str = PID, obr: str = OBR, encoding: str = "utf-8", **header: str) -> bytes:
    """MSH, PID and OBR, then ``segments``, each ended by CR."""
    lines = [msh(**header), pid, obr, *segments]
    return "".join(line + "\r" for line in lines).encode(encoding)


def text(*lines: str, encoding: str = "utf-8") -> bytes:
    return "".join(line + "\r" for line in lines).encode(encoding)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()
