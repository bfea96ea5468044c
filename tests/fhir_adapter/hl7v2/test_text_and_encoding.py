"""Character sets (MSH-18 or the caller's default), escape sequences, repetitions, other delimiters,
notes, and times with their offsets and precision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fhir_adapter.hl7v2 import Hl7Error, parse_oru

from tests.fhir_adapter.hl7v2.fhir_helpers import observation, reports
from tests.fhir_adapter.hl7v2.messages import obx, oru, text

CHINESE_PID = "PID|1||R0001^^^上海市养老院^MR||李^桂兰||19380512|F"
CHINESE_OBX = obx(1, "NM", "GLU^葡萄糖^L", "7.8", "mmol/L", "3.9-6.1", "H")
CHINESE_NOTE = "NTE|1|L|空腹血糖偏高，建议复查"


def test_gb18030_message_declared_in_msh18() -> None:
    raw = oru(CHINESE_OBX, CHINESE_NOTE, pid=CHINESE_PID, charset="GB 18030-2000", encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB18030 bytes
    message = parse_oru(raw)  # default utf-8 is overridden by MSH-18
    assert message.encoding == "gb18030"
    assert message.patient.family == "李" and message.patient.given == ("桂兰",)
    assert message.patient.identifiers[0].authority == "上海市养老院"
    obs = observation(raw)
    assert obs["code"]["text"] == "葡萄糖"
    assert obs["note"] == [{"text": "空腹血糖偏高，建议复查"}]
    assert obs["code"]["coding"][-1] == {
        "system": "http://loinc.org",
        "code": "14749-6",
        "display": "Glucose [Moles/volume] in Serum or Plasma",
    }  # LOINC from the code map: local GLU in mmol/L


def test_gb18030_bytes_that_look_like_delimiters_inside_characters() -> None:
    """GBK trail bytes 0x7C ('|') and 0x5C ('\\') must not split fields: decoding precedes splitting."""
    tricky = "乗乗"  # 0x81 0x5C in GBK
    encoded = tricky.encode("gb18030")
    assert b"\\" in encoded or b"|" in encoded
    raw = oru(obx(1, "ST", "C^comment^L", tricky), charset="GB 18030-2000", encoding="gb18030")
    assert observation(raw)["valueString"] == tricky


def test_gb18030_without_msh18_uses_the_callers_default() -> None:
    raw = oru(CHINESE_OBX, pid=CHINESE_PID, encoding="gb18030")
    message = parse_oru(raw, default_encoding="gb18030")
    assert message.encoding == "gb18030" and message.patient.name == "李 桂兰"
    with pytest.raises(Hl7Error) as caught:
        parse_oru(raw)  # read as UTF-8, which it is not
    assert caught.value.code == "undecodable" and caught.value.ack_code == "AR"


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("UNICODE UTF-8", "utf-8"), ("8859/1", "latin-1"), ("GB18030", "gb18030"), ("", "utf-8")],
)
def test_character_sets(charset: str, encoding: str) -> None:
    name = "Müller" if encoding == "latin-1" else "Müller 米勒"
    raw = oru(obx(1, "ST", "C^comment^L", name), charset=charset, encoding=encoding)
    assert observation(raw)["valueString"] == name


def test_escape_sequences() -> None:
    value = "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\next \\H\\bold\\N\\ \\X41E4B8AD\\"
    obs = observation(oru(obx(1, "TX", "C^comment^L", value)))
    assert obs["valueString"] == "a|b^c&d~e\\f\nnext bold A中"


def test_escaped_hex_is_decoded_in_the_messages_character_set() -> None:
    raw = oru(obx(1, "ST", "C^comment^L", "\\XD6D0\\"), charset="GB 18030-2000", encoding="gb18030")
    assert observation(raw)["valueString"] == "中"


def test_escapes_in_codes_and_notes() -> None:
    raw = oru(obx(1, "NM", r"HB\T\A1C^HbA1c \T\ glycated^L", "6.1", "%"), r"NTE|1|L|see\.br\follow-up")
    obs = observation(raw)
    assert obs["code"]["coding"][0]["code"] == "HB&A1C"
    assert obs["code"]["text"] == "HbA1c & glycated"
    assert obs["note"] == [{"text": "see\nfollow-up"}]


def test_repeated_patient_identifiers_and_names() -> None:
    ids = "R0001^^^SHNH^MR~310101193805120022^^^&2.16.156.10011.1.1&ISO^NNCHN"
    pid = f"PID|1||{ids}||^^^^^^L~Li^Guilan^^^^^N||19380512|F"
    message = parse_oru(oru(obx(1, "NM", "K^K^L", "4.1"), pid=pid))
    assert [(i.value, i.authority, i.type_code) for i in message.patient.identifiers] == [
        ("R0001", "SHNH", "MR"),
        ("310101193805120022", "2.16.156.10011.1.1", "NNCHN"),
    ]
    assert message.patient.family == "Li"
    assert message.patient.gender == "female" and message.patient.birth_date == "1938-05-12"


def test_other_delimiters_are_followed() -> None:
    raw = text(
        "MSH#*!$%#LIS#SHLAB#BRIDGE#HOME1#20260301083000+0800##ORU*R01#M1#P#2.5.1",
        "PID#1##R0001***SHNH*MR##Li*Guilan",
        "OBR#1#PL1#FL1#CBC*Blood count*L",
        "OBX#1#NM#K*Potassium*L##4.1#mmol/L#3.5-5.5#N###F",
        "OBX#2#ST#C*comment*L##a$F$b!c######F",  # an escaped field separator, then a repetition
    )
    message = parse_oru(raw)
    assert message.header.delimiters.field == "#"
    results = message.orders[0].results
    assert results[0].code.key == "K"
    obs = [e.resource for e in message.to_fhir("Patient/1")][2]
    assert obs["valueString"] == "a#b\nc"


def test_notes_attach_to_their_result_or_to_the_report() -> None:
    raw = oru("NTE|1|L|Sample slightly haemolysed", obx(1, "NM", "K^K^L", "5.9", "mmol/L"), "NTE|1|L|Repeat advised")
    report = reports(raw)[0]
    assert report["conclusion"] == "Sample slightly haemolysed"
    assert observation(raw)["note"] == [{"text": "Repeat advised"}]


def test_times_keep_their_offset_and_precision() -> None:
    obs = observation(oru(obx(1, "NM", "K^K^L", "4.1", observed="202603010730-0500")))
    assert obs["effectiveDateTime"] == "2026-03-01T07:30:00-05:00"
    assert obs["issued"] == "2026-03-01T08:30:00+08:00"  # OBR-22
    assert observation(oru(obx(1, "NM", "K^K^L", "4.1", observed="202603")))["effectiveDateTime"] == "2026-03"
    fraction = observation(oru(obx(1, "NM", "K^K^L", "4.1", observed="20260301073000.25+0800")))
    assert fraction["effectiveDateTime"] == "2026-03-01T07:30:00.25+08:00"
    from_obr = observation(oru(obx(1, "NM", "K^K^L", "4.1")))
    assert from_obr["effectiveDateTime"] == "2026-03-01T07:30:00+08:00"  # OBR-7


def test_times_without_offset_take_the_senders_zone() -> None:
    """From MSH-7's offset first, then the caller's zone, else only the date is kept (with a warning)."""
    raw = oru(obx(1, "NM", "K^K^L", "4.1", observed="202603010730"), sent="20260301083000+0800")
    assert observation(raw)["effectiveDateTime"] == "2026-03-01T07:30:00+08:00"
    local = oru(obx(1, "NM", "K^K^L", "4.1", observed="202607010730"), sent="20260701083000")
    shanghai = observation(local, default_timezone=ZoneInfo("Asia/Shanghai"))
    assert shanghai["effectiveDateTime"] == "2026-07-01T07:30:00+08:00"
    new_york = observation(local, default_timezone=ZoneInfo("America/New_York"))
    assert new_york["effectiveDateTime"] == "2026-07-01T07:30:00-04:00"  # summer time
    assert observation(local)["effectiveDateTime"] == "2026-07-01"
    assert any("no time zone" in w for w in parse_oru(local).warnings)


def test_message_header_fields() -> None:
    message = parse_oru(oru(obx(1, "NM", "K^K^L", "4.1"), control_id="C-77", version="2.3"))
    assert (message.control_id, message.version, message.processing_id) == ("C-77", "2.3", "P")
    assert (message.sending_application, message.sending_facility) == ("LIS", "SHLAB")
    assert message.message_time == datetime(2026, 3, 1, 0, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=8)))


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_supported_versions(version: str) -> None:
    assert parse_oru(oru(obx(1, "NM", "K^K^L", "4.1"), version=version)).version == version


def test_line_feeds_and_mllp_framing_are_tolerated() -> None:
    raw = oru(obx(1, "NM", "K^K^L", "4.1"))
    assert parse_oru(raw.replace(b"\r", b"\r\n")).orders[0].results[0].code.key == "K"
    assert parse_oru(raw.replace(b"\r", b"\n")).orders[0].results[0].code.key == "K"
    assert parse_oru(b"\x0b" + raw + b"\x1c\r").control_id == "MSG00001"
    assert parse_oru(b"\xef\xbb\xbf" + raw).control_id == "MSG00001"


def test_years_keep_four_digits() -> None:
    assert observation(oru(obx(1, "NM", "K^K^L", "4.1", observed="02150730")))["effectiveDateTime"] == "0215-07-30"
    early = observation(oru(obx(1, "NM", "K^K^L", "4.1", observed="021507300000+0600")))
    assert early["effectiveDateTime"] == "0215-07-30T00:00:00+06:00"
