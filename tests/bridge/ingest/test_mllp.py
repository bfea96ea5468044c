"""The MLLP listener of a running bridge, driven by python-hl7's MLLP client: messages in, ACKs out,
on one connection; broken framing, unknown senders and GB18030 text."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import hl7
import pytest
from hl7.client import MLLPClient

from bridge.app import create_app
from bridge.demo.laboratory import DEMO_LAB_CLIENT_ID, DEMO_LAB_FACILITY
from bridge.ingest.quarantine import Quarantine
from bridge.runtime import Runtime
from tests.bridge.ingest.support import ingest_resident, oru, resident_identifier
from tests.conftest import Bridge, make_settings
from tests.support import LiveServer, free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")


@pytest.fixture
def mllp(bridge: Bridge, database_url: str) -> Iterator[int]:
    """A second app on the same database with its MLLP listener (the lifespan starts it)."""
    port = free_port()
    settings = make_settings(
        database_url, mllp_port=port, mllp_host="127.0.0.1", mllp_senders={DEMO_LAB_FACILITY: DEMO_LAB_CLIENT_ID}
    )
    runtime = Runtime.from_settings(settings, clock=bridge.clock)
    with LiveServer(create_app(runtime=runtime), lifespan=True):
        yield port
    runtime.engine.dispose()


def ack(raw: bytes, encoding: str = "utf-8") -> tuple[str, str]:
    body = raw.strip(b"\x0b\x1c\r\n").decode(encoding)
    msa = hl7.parse(body.replace("\n", "\r")).segment("MSA")
    return str(msa[1]), str(msa[3]) if len(msa) > 3 else ""


def test_messages_over_one_connection_are_acknowledged_in_order(bridge: Bridge, mllp: int) -> None:
    identifier = resident_identifier(bridge, ingest_resident(bridge))
    with MLLPClient("127.0.0.1", mllp) as client:
        first = client.send_message(oru(identifier, "NM|2823-3^Potassium^LN||4.4|mmol/L|3.5-5.5|N|||F"))
        second = client.send_message(oru(identifier, "NM|718-7^Hemoglobin^LN||128|g/L|115-150|N|||F"))
    assert ack(first)[0] == "AA"
    assert ack(second)[0] == "AA"


def test_a_chinese_laboratory_message_in_gb18030(bridge: Bridge, mllp: int) -> None:
    identifier = resident_identifier(bridge, ingest_resident(bridge))
    text = oru(identifier, "ST|11502-2^检验报告^LN||标本溶血，建议复查||||||F").decode("utf-8")
    text = text.replace("|P|2.5.1", "|P|2.5.1|||||CHN|GB 18030-2000", 1)
    with MLLPClient("127.0.0.1", mllp, encoding="gb18030") as client:
        answer = client.send_message(text)
    code, _ = ack(answer, "gb18030")
    assert code == "AA"


def test_an_unknown_facility_is_refused_and_kept(bridge: Bridge, mllp: int) -> None:
    message = oru("H1-0001", "NM|2823-3^Potassium^LN||4.4|mmol/L|3.5-5.5|N|||F").replace(b"|DEMOLAB|", b"|ELSEWHERE|")
    with MLLPClient("127.0.0.1", mllp) as client:
        code, text = ack(client.send_message(message))
    assert code == "AR" and "ELSEWHERE" in text
    with bridge.services() as services:
        kept = [r for r in Quarantine(services).listing(None) if r.reason_code == "unknown_sender"]
        assert any(Quarantine(services).get(r.id).files["message.hl7"] == message for r in kept)


def test_broken_framing_is_answered_ar_and_kept(bridge: Bridge, mllp: int) -> None:
    garbage = b"MSH|^~\\&|no start block\r"
    with socket.create_connection(("127.0.0.1", mllp), timeout=10) as sock:
        sock.sendall(garbage)
        answer = sock.recv(65536)
        assert sock.recv(65536) == b""  # and the connection is closed
    code, text = ack(answer)
    assert code == "AR" and "<VT>" in text
    with bridge.services() as services:
        kept = [r for r in Quarantine(services).listing(None) if r.reason_code == "broken_mllp"]
        assert any(Quarantine(services).get(r.id).files["message.hl7"] == garbage for r in kept)


def test_a_connection_closed_in_the_middle_of_a_block_loses_nothing(bridge: Bridge, mllp: int) -> None:
    partial = b"\x0b" + oru("H1-0001", "NM|2823-3^Potassium^LN||4.4|mmol/L")[:60]
    with socket.create_connection(("127.0.0.1", mllp), timeout=10) as sock:
        sock.sendall(partial)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with bridge.services() as services:
            kept = [r for r in Quarantine(services).listing(None) if r.reason_code == "broken_mllp"]
            if any(Quarantine(services).get(r.id).files["message.hl7"] == partial for r in kept):
                return
        time.sleep(0.1)
    raise AssertionError("the partial block was not kept")
