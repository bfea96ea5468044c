"""ACKs: in the message's version, delimiters and character set, sender and receiver swapped, MSA-2 the
control id, ERR in the form of the version; a valid AR even for input that is not HL7."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7  # type: ignore[import-untyped]
import pytest
from fhir_adapter.hl7v2 import Hl7Error, build_ack, build_ack_bytes, parse_oru, read_header

from tests.fhir_adapter.hl7v2.messages import PID, msh, obx, oru, text

NOW = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
GOOD_OBX = obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L")


def segments(ack: str) -> dict[str, list[str]]:
    assert ack.endswith("\r") and "\n" not in ack
    lines = ack.rstrip("\r").split("\r")
    return {line[:3]: line.split(line[3]) for line in lines}


def refusal(raw: bytes) -> Hl7Error:
    with pytest.raises(Hl7Error) as caught:
        parse_oru(raw)
    return caught.value


def test_accept_ack_swaps_sender_and_receiver_and_names_the_message() -> None:
    message = parse_oru(oru(GOOD_OBX, control_id="LAB-0042"))
    ack = build_ack(message, "AA", "3 resources stored", control_id="ACK1", now=NOW)
    fields = segments(ack)
    assert fields["MSH"][:12] == [
        "MSH", "^~\\&", "BRIDGE", "HOME1", "LIS", "SHLAB", "20260301003000+0000", "", "ACK^R01^ACK", "ACK1", "P",
        "2.5.1",
    ]  # fmt: skip
    assert fields["MSA"] == ["MSA", "AA", "LAB-0042", "3 resources stored"]
    assert "ERR" not in fields
    parsed = hl7.parse(ack)  # a real HL7 parser reads it
    assert str(parsed.segment("MSA")[2]) == "LAB-0042"


def test_error_ack_carries_err_with_location_and_hl7_code() -> None:
    raw = oru(obx(1, "NM", "K^Potassium^L", "abc"), control_id="LAB-7")
    error = refusal(raw)
    fields = segments(build_ack(raw, error.ack_code, error.reason, error=error, now=NOW))
    assert fields["MSA"][:3] == ["MSA", "AE", "LAB-7"]
    assert fields["MSA"][3] == "NM value 'abc' is not a number"
    err = fields["ERR"]
    assert err[2] == "OBX^1^5"  # ERL: segment, occurrence, field
    assert err[3] == "102^Data type error^HL70357"
    assert err[4] == "E"
    assert err[5] == "invalid_number^^99NHB"
    assert err[8] == "NM value 'abc' is not a number"


def test_v24_ack_uses_err1_and_msa6() -> None:
    raw = oru(obx(1, "NM", "K^Potassium^L", "abc"), version="2.4")
    error = refusal(raw)
    fields = segments(build_ack(raw, error=error, now=NOW))
    assert fields["MSH"][11] == "2.4"
    assert fields["MSA"][1] == "AE" and fields["MSA"][6] == "102^Data type error^HL70357"
    assert fields["ERR"] == ["ERR", "OBX^1^5^102&Data type error&HL70357"]


def test_v23_message_type_has_no_structure_component() -> None:
    ack = build_ack(parse_oru(oru(GOOD_OBX, version="2.3")), "AA", now=NOW)
    assert segments(ack)["MSH"][8] == "ACK^R01"


def test_rejected_version_is_answered_in_that_version() -> None:
    raw = oru(GOOD_OBX, version="2.6", control_id="V26")
    error = refusal(raw)
    fields = segments(build_ack(raw, error=error, now=NOW))
    assert fields["MSH"][11] == "2.6" and fields["MSA"][:3] == ["MSA", "AR", "V26"]
    assert fields["ERR"][2:4] == ["MSH^1^12", "203^Unsupported version id^HL70357"]


@pytest.mark.parametrize("raw", [b"", b"hello", b"MSHA^~\\&A", b"\xff\xfe\x00garbage"])
def test_input_without_a_usable_msh_still_gets_a_valid_ar(raw: bytes) -> None:
    error = refusal(raw)
    ack = build_ack(raw, error=error, now=NOW)
    fields = segments(ack)
    assert fields["MSH"][1] == "^~\\&" and fields["MSH"][11] == "2.5.1"
    assert fields["MSA"][:3] == ["MSA", "AR", ""]
    assert fields["ERR"][3].endswith("^HL70357")
    assert str(hl7.parse(ack).segment("MSA")[1]) == "AR"


def test_ack_follows_the_messages_delimiters() -> None:
    raw = text(
        "MSH#*!$%#LIS#SHLAB#BRIDGE#HOME1#20260301083000+0800##ORU*R01#M1#P#2.5.1",
        "PID#1##R0001***SHNH*MR",
        "OBR#1#PL1#FL1#CBC*Blood count*L",
        "OBX#1#NM#K*Potassium*L##abc#mmol/L#####F",
    )
    error = refusal(raw)
    ack = build_ack(raw, error=error, now=NOW)
    assert ack.startswith("MSH#*!$%#BRIDGE#HOME1#LIS#SHLAB#")
    assert "MSA#AE#M1#" in ack and "#OBX*1*5#" in ack


def test_text_is_escaped() -> None:
    ack = build_ack(parse_oru(oru(GOOD_OBX)), "AE", "bad | field ^ here & there ~ and \\", now=NOW)
    assert segments(ack)["MSA"][3] == "bad \\F\\ field \\S\\ here \\T\\ there \\R\\ and \\E\\"


def test_msa3_is_cut_to_80_characters_and_err_keeps_the_whole_reason() -> None:
    reason = "x" * 200
    ack = build_ack(parse_oru(oru(GOOD_OBX)), "AE", error=Hl7Error("custom", reason), now=NOW)
    fields = segments(ack)
    assert len(fields["MSA"][3]) == 80 and fields["ERR"][8] == reason


def test_gb18030_message_gets_a_gb18030_ack() -> None:
    raw = oru(
        obx(1, "NM", "GLU^葡萄糖^L", "7.8", "mmol/L"),
        pid="PID|1||R0001^^^上海^MR||李^桂兰",
        charset="GB 18030-2000",
        encoding="gb18030",
        facility="上海检验",
    )
    message = parse_oru(raw)
    ack_bytes = build_ack_bytes(message, "AE", "未找到住户")
    ack = ack_bytes.decode("gb18030")
    fields = segments(ack)
    assert fields["MSH"][5] == "上海检验" and fields["MSH"][17] == "GB 18030-2000"
    assert fields["MSA"][3] == "未找到住户"
    assert build_ack_bytes(raw, "AA").decode("gb18030").startswith("MSH|^~\\&|BRIDGE|HOME1|LIS|上海检验|")


def test_undecodable_message_ack_names_the_message() -> None:
    raw = oru(obx(1, "ST", "C^comment^L", "Müller"), charset="UNICODE UTF-8", encoding="latin-1", control_id="U1")
    error = refusal(raw)
    fields = segments(build_ack(raw, error=error, now=NOW))
    assert fields["MSA"][:3] == ["MSA", "AR", "U1"]


def test_code_defaults_to_the_errors_and_to_aa() -> None:
    message = parse_oru(oru(GOOD_OBX))
    assert segments(build_ack(message))["MSA"][1] == "AA"
    assert segments(build_ack(message, error=Hl7Error("unknown_patient", "no such resident")))["MSA"][1] == "AE"
    generic = segments(build_ack(message, "AR", "sender not allowed"))
    assert generic["ERR"][3] == "207^Application internal error^HL70357"


def test_read_header_never_raises() -> None:
    assert read_header(b"") is None
    assert read_header(b"PID|1") is None
    header = read_header(text(msh(control_id="H1", version="9.9")))
    assert header is not None and header.control_id == "H1" and header.version == "9.9"
    assert read_header(oru(GOOD_OBX, charset="KLINGON")) is not None
    assert read_header(text(PID)) is None
