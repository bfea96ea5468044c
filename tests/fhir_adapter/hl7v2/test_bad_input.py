"""Bad input gives an Hl7Error with a specific code, reason, ACK code and place; never a crash."""

from __future__ import annotations

import random

import pytest
from fhir_adapter.hl7v2 import Hl7Error, parse_oru

from tests.fhir_adapter.hl7v2.messages import OBR, PID, SAMPLES, msh, obx, oru, text

GOOD_OBX = obx(1, "NM", "K^Potassium^L", "4.1", "mmol/L")


def refused(raw: bytes, **options: str) -> Hl7Error:
    with pytest.raises(Hl7Error) as caught:
        parse_oru(raw, **options)
    error = caught.value
    assert error.reason and error.ack_code in ("AE", "AR") and error.hl7_code.isdigit()
    return error


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x0b\x1c\r"])
def test_empty_input(raw: bytes) -> None:
    error = refused(raw)
    assert (error.code, error.ack_code) == ("empty_message", "AR")


@pytest.mark.parametrize(
    "raw",
    [b"hello world\r", text(PID, OBR, GOOD_OBX), b"\x00\x01\x02binary\r", b'{"resourceType": "Observation"}\n'],
)
def test_no_msh(raw: bytes) -> None:
    error = refused(raw)
    assert (error.code, error.ack_code, error.hl7_code) == ("not_hl7", "AR", "100")


def test_batches_are_refused_with_that_reason() -> None:
    error = refused(text("FHS|^~\\&|LIS", msh(), PID, OBR, GOOD_OBX))
    assert error.code == "not_hl7" and "batch" in error.reason


@pytest.mark.parametrize(
    ("first", "field"),
    [
        ("MSHA^~\\&A", 1),  # a letter as field separator
        ("MSH ^~\\& ", 1),  # a space
        ("MSH|^~|LIS", 2),  # too few encoding characters
        ("MSH|^^\\&|LIS", 2),  # the same character twice
        ("MSH|^~\\&", 2),  # MSH-2 not closed by a field separator
        ("MSH", 1),
    ],
)
def test_unsupported_delimiters(first: str, field: int) -> None:
    error = refused(text(first + "LIS|SHLAB|BRIDGE|HOME1|20260301||ORU^R01|1|P|2.5.1", PID, OBR, GOOD_OBX))
    assert (error.code, error.ack_code) == ("unsupported_delimiters", "AR")
    assert error.location is not None and (error.location.segment, error.location.field) == ("MSH", field)


def test_missing_pid() -> None:
    error = refused(text(msh(), OBR, GOOD_OBX))
    assert (error.code, error.ack_code, error.hl7_code) == ("missing_pid", "AE", "100")
    error = refused(text(msh(), "NTE|1||no patient"))
    assert error.code == "missing_pid"


def test_missing_obr() -> None:
    error = refused(text(msh(), PID, "NTE|1||a note"))
    assert (error.code, error.ack_code) == ("missing_obr", "AE")


def test_nm_that_is_not_a_number() -> None:
    error = refused(oru(obx(1, "NM", "K^Potassium^L", "abc", "mmol/L")))
    assert (error.code, error.ack_code, error.hl7_code) == ("invalid_number", "AE", "102")
    assert str(error.location) == "OBX-5 (segment 4)"
    assert "'abc'" in error.reason


@pytest.mark.parametrize(
    ("message_type", "code", "hl7_code"),
    [
        ("ADT^A01^ADT_A01", "unsupported_message_type", "200"),
        ("ORM^O01", "unsupported_message_type", "200"),
        ("ORU^R30", "unsupported_event", "201"),
        ("", "unsupported_message_type", "200"),
    ],
)
def test_unknown_message_type(message_type: str, code: str, hl7_code: str) -> None:
    error = refused(oru(GOOD_OBX, message_type=message_type))
    assert (error.code, error.ack_code, error.hl7_code) == (code, "AR", hl7_code)


@pytest.mark.parametrize("version", ["2.2", "2.6", "2.8", "3.0", ""])
def test_unsupported_version(version: str) -> None:
    error = refused(oru(GOOD_OBX, version=version))
    assert (error.code, error.ack_code, error.hl7_code) == ("unsupported_version", "AR", "203")


def test_bytes_that_do_not_decode_in_the_declared_charset() -> None:
    raw = oru(obx(1, "ST", "C^comment^L", "Müller"), charset="UNICODE UTF-8", encoding="latin-1")
    error = refused(raw)
    assert (error.code, error.ack_code) == ("undecodable", "AR")
    assert "UNICODE UTF-8" in error.reason and str(error.location) == "OBX (segment 4)"
    assert error.encoding == "utf-8"  # the ACK still goes out in the declared character set


@pytest.mark.parametrize(("charset", "word"), [("KLINGON", "unknown"), ("UNICODE UTF-16", "not supported")])
def test_unknown_or_unsupported_charset(charset: str, word: str) -> None:
    error = refused(oru(GOOD_OBX, charset=charset))
    assert (error.code, error.ack_code, error.hl7_code) == ("unsupported_charset", "AR", "103")
    assert word in error.reason


def test_truncated_message() -> None:
    whole = oru(GOOD_OBX, obx(2, "NM", "NA^Sodium^L", "140", "mmol/L"))
    error = refused(whole[:-9])
    assert (error.code, error.ack_code) == ("truncated", "AR")
    assert error.location is not None and error.location.segment == "OBX"
    chinese = oru(obx(1, "ST", "C^comment^L", "空腹血糖"))
    error = refused(chinese[: chinese.index("糖".encode()) + 1])  # cut inside a UTF-8 character
    assert error.code == "truncated"
    assert refused(b"MSH|^~\\&|LIS|SHL").code == "truncated"


def test_missing_control_id() -> None:
    error = refused(oru(GOOD_OBX, control_id=""))
    assert (error.code, error.ack_code, error.hl7_code) == ("missing_control_id", "AR", "101")


@pytest.mark.parametrize(
    ("segments", "code", "where"),
    [
        ((GOOD_OBX, PID), "several_patients", "PID[2] (segment 5)"),
        ((GOOD_OBX, msh()), "several_messages", "MSH[2] (segment 5)"),
        ((obx(1, "NM", "", "4.1"),), "missing_observation_code", "OBX-3 (segment 4)"),
        ((obx(1, "", "K^K^L", "4.1"),), "missing_value_type", "OBX-2 (segment 4)"),
        ((obx(1, "NM", "K^K^L", "4.1", status=""),), "missing_result_status", "OBX-11 (segment 4)"),
        ((obx(1, "NM", "K^K^L", "27~25"),), "value_repeats", "OBX-5 (segment 4)"),
        ((obx(1, "CWE", "K^K^L", "A^a^L~B^b^L"),), "value_repeats", "OBX-5 (segment 4)"),
        ((obx(1, "SN", "K^K^L", "<>^5"),), "invalid_value", "OBX-5 (segment 4)"),
        ((obx(1, "SN", "K^K^L", "^abc"),), "invalid_number", "OBX-5 (segment 4)"),
        ((obx(1, "SN", "K^K^L", "^1^.^2"),), "invalid_value", "OBX-5 (segment 4)"),
        ((obx(1, "SN", "K^K^L", ">^"),), "invalid_number", "OBX-5 (segment 4)"),
        ((obx(1, "FN", "K^K^L", "^182"),), "unsupported_value_type", "OBX-2 (segment 4)"),
        ((obx(1, "ED", "K^K^L", "LIS^AP^PDF^Base64^not base64!"),), "invalid_value", "OBX-5 (segment 4)"),
        ((obx(1, "RP", "K^K^L", "a pointer with spaces"),), "invalid_value", "OBX-5 (segment 4)"),
        ((obx(1, "CWE", "K^K^L", "^^^^^^v1"),), "invalid_value", "OBX-5 (segment 4)"),
        ((obx(1, "TM", "K^K^L", "2561"),), "invalid_timestamp", "OBX-5 (segment 4)"),
        ((obx(1, "NM", "K^K^L", "4.1", observed="20261301"),), "invalid_timestamp", "OBX-14 (segment 4)"),
        ((obx(1, "NM", "K^K^L", "4.1", observed="202603011200+1500"),), "invalid_timestamp", "OBX-14 (segment 4)"),
        ((GOOD_OBX, "obx|2|NM"), "invalid_segment", "obx (segment 5)"),
    ],
)
def test_content_errors(segments: tuple[str, ...], code: str, where: str) -> None:
    error = refused(oru(*segments))
    assert (error.code, error.ack_code) == (code, "AR" if code == "several_messages" else "AE")
    assert str(error.location) == where
    assert error.encoding == "utf-8"


def test_patient_and_order_errors() -> None:
    error = refused(oru(GOOD_OBX, pid="PID|1||||Li^Guilan"))
    assert (error.code, str(error.location)) == ("missing_patient_identifier", "PID-3 (segment 2)")
    error = refused(oru(GOOD_OBX, obr="OBR|1|PL1|FL1||||20260301"))
    assert (error.code, str(error.location)) == ("missing_service", "OBR-4 (segment 3)")
    error = refused(oru(GOOD_OBX, obr="OBR|1|PL1|FL1|CBC^cbc^L|||2026-03-01"))
    assert (error.code, str(error.location)) == ("invalid_timestamp", "OBR-7 (segment 3)")
    error = refused(oru(GOOD_OBX, obr="OBR|1|PL1|FL1|CBC^cbc^L" + "|" * 21 + "Q"))
    assert (error.code, str(error.location)) == ("unknown_status", "OBR-25 (segment 3)")


def test_an_invalid_birth_date_is_left_out_with_a_warning() -> None:
    message = parse_oru(oru(GOOD_OBX, pid="PID|1||R1^^^SHNH^MR||Li^Guilan||196203520|F"))
    assert message.patient.birth_date is None
    assert any("birth date" in warning for warning in message.warnings)


def test_an_unknown_default_encoding_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown character encoding"):
        parse_oru(oru(GOOD_OBX), default_encoding="no-such-codec")


def test_mangled_real_messages_never_crash() -> None:
    """Every cut and every corrupted byte of the real samples ends in a message or an Hl7Error."""
    chance = random.Random(20260301)
    outcomes = {"parsed": 0, "refused": 0}
    for path in sorted(SAMPLES.glob("*.hl7")):
        raw = path.read_bytes()
        variants = [raw[:cut] for cut in range(0, len(raw), 23)]
        for _ in range(40):
            position = chance.randrange(len(raw))
            variants.append(raw[:position] + bytes([chance.randrange(256)]) + raw[position + 1 :])
        for variant in variants:
            try:
                parse_oru(variant).to_fhir("Patient/1")
                outcomes["parsed"] += 1
            except Hl7Error:
                outcomes["refused"] += 1
    assert outcomes["parsed"] > 0 and outcomes["refused"] > 0


def test_codes_fhir_cannot_carry_are_refused() -> None:
    """A line feed inside a CR-terminated message is content, but no FHIR code may hold one."""
    error = refused(oru(obx(1, "NM", "GL\nU^Glucose^L", "5.1")))
    assert (error.code, str(error.location)) == ("invalid_code", "OBX-3 (segment 4)")
    error = refused(oru(obx(1, "CWE", "X^x^L", "NEG  1^Negative^L")))
    assert (error.code, str(error.location)) == ("invalid_code", "OBX-5 (segment 4)")
    error = refused(oru(GOOD_OBX, obr="OBR|1|PL1|FL1|C\nBC^cbc^L"))
    assert (error.code, str(error.location)) == ("invalid_code", "OBR-4 (segment 3)")
