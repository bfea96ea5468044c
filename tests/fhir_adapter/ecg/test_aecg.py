"""HL7 aECG: both FDA samples against an independent reading of their XML, and hostile or broken XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, ecg_observation, read_ecg

from tests.fhir_adapter.ecg.support import assert_within_one_quantum, data_bytes, sample_recording

NS = {"v3": "urn:hl7-org:v3"}
TWELVE = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF")


def rhythm_microvolts(relative: str) -> dict[str, np.ndarray]:
    """The rhythm series straight from the XML (stdlib parser: these are trusted test files)."""
    root = ET.fromstring(data_bytes(relative))  # noqa: S314 - a known sample file, not an upload
    out: dict[str, np.ndarray] = {}
    for series in root.findall("v3:component/v3:series", NS):
        if series.find("v3:code", NS).get("code") != "RHYTHM":
            continue
        for sequence in series.iterfind("v3:component/v3:sequenceSet/v3:component/v3:sequence", NS):
            code = sequence.find("v3:code", NS).get("code")
            value = sequence.find("v3:value", NS)
            if not code.startswith("MDC_ECG_LEAD_"):
                continue
            assert value.find("v3:origin", NS).get("unit") == value.find("v3:scale", NS).get("unit") == "uV"
            origin = float(value.find("v3:origin", NS).get("value"))
            scale = float(value.find("v3:scale", NS).get("value"))
            digits = np.array(value.find("v3:digits", NS).text.split(), dtype=np.float64)
            name = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}.get(code[13:], code[13:])
            out[name] = origin + scale * digits
    return out


@pytest.mark.parametrize(
    ("key", "relative"), [("aecg-example", "aecg/Example_aECG.xml"), ("aecg-subject1", "aecg/subject1_0.xml")]
)
def test_the_rhythm_series_is_read_within_one_quantum(key: str, relative: str) -> None:
    recording = sample_recording(key)
    assert recording.lead_names == TWELVE
    assert (recording.sampling_rate, recording.n_samples, recording.source_format) == (500, 5000, "hl7-aecg")
    assert recording.start is not None and recording.start.isoformat() == "2002-11-22T09:10:00"
    assert recording.metadata["device_model"] == "ELI250"
    assert_within_one_quantum(ecg_observation(recording, subject_reference="Patient/p1"), rhythm_microvolts(relative))


def test_the_representative_beat_is_not_what_is_read() -> None:
    recording = sample_recording("aecg-example")
    text = data_bytes("aecg/Example_aECG.xml").decode()
    beat = text[text.index("REPRESENTATIVE_BEAT") :]
    first_beat_digits = np.array(re.search(r"<digits>(.*?)</digits>", beat, re.S).group(1).split(), dtype=np.int64)
    assert first_beat_digits.size < 1000 < recording.n_samples
    assert not np.array_equal(recording.lead("I").samples[: first_beat_digits.size], first_beat_digits)


def aecg(leads: str, increment: str = '<increment value="0.002" unit="s"/>') -> bytes:
    return f"""<?xml version="1.0"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <component><series><code code="RHYTHM"/>
    <component><sequenceSet>
      <component><sequence><code code="TIME_RELATIVE"/><value xsi:type="GLIST_PQ">
        <head value="0" unit="s"/>{increment}</value></sequence></component>
      {leads}
    </sequenceSet></component>
  </series></component>
</AnnotatedECG>""".encode()


def lead(code: str, digits: str, origin: str = '<origin value="0" unit="uV"/>', kind: str = "SLIST_PQ") -> str:
    return (
        f'<component><sequence><code code="{code}"/><value xsi:type="{kind}">{origin}'
        f'<scale value="5" unit="uV"/><digits>{digits}</digits></value></sequence></component>'
    )


SECOND = " ".join(str(i % 40 - 20) for i in range(500))


def test_a_minimal_aecg_in_millivolt_origin_is_calibrated() -> None:
    recording = read_ecg({"x.xml": aecg(lead("MDC_ECG_LEAD_II", SECOND, '<origin value="0.1" unit="mV"/>'))})
    lead_ii = recording.lead("II")
    assert (lead_ii.gain, lead_ii.baseline) == (200.0, -20.0)
    assert lead_ii.millivolts()[0] == pytest.approx(0.1 + 0.005 * -20)


def refused(data: bytes) -> EcgFormatError:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({"upload.xml": data})
    return caught.value


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<AnnotatedECG xmlns="urn:hl7-org:v3">&lol3;</AnnotatedECG>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><AnnotatedECG xmlns="urn:hl7-org:v3">&x;</AnnotatedECG>"""


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (BILLION_LAUGHS, "unsafe-xml"),
        (XXE, "unsafe-xml"),
        (b"<AnnotatedECG xmlns='urn:hl7-org:v3'><component>", "malformed"),
        (b"<html><body>not an ECG</body></html>", "unknown-format"),
        (b"<AnnotatedECG xmlns='urn:hl7-org:v3'/>", "malformed"),
        (aecg(lead("MDC_ECG_LEAD_I", "1 2 x 4")), "malformed"),
        (aecg(lead("MDC_ECG_LEAD_I", "1 2.5 3")), "malformed"),
        (aecg(lead("MDC_ECG_LEAD_I", "")), "malformed"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND, kind="SLIST_INT")), "unsupported"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND, '<origin value="0" unit="mmHg"/>')), "unsupported"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND) + lead("MDC_ECG_LEAD_II", SECOND + " 1 2")), "lead-length"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND), '<increment value="0.1" unit="s"/>'), "sampling-rate"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND), '<increment value="0" unit="s"/>'), "sampling-rate"),
        (aecg(lead("MDC_ECG_LEAD_I", SECOND), ""), "malformed"),
        (aecg(""), "no-leads"),
    ],
    ids=[
        *("billion-laughs", "xxe", "unclosed", "html", "empty-root", "letter", "decimal", "no-digits"),
        *("slist-int", "mmhg", "unequal-leads", "10-hz", "zero-increment", "no-increment", "no-leads"),
    ],
)
def test_bad_xml_is_refused(data: bytes, code: str) -> None:
    error = refused(data)
    assert error.code == code, error.reason


def test_a_file_with_only_a_median_beat_is_refused() -> None:
    data = aecg(lead("MDC_ECG_LEAD_I", SECOND)).replace(b'code="RHYTHM"', b'code="REPRESENTATIVE_BEAT"')
    assert "RHYTHM" in refused(data).reason
