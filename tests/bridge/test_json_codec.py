"""orjson for stored documents and responses, with the standard library for what orjson refuses."""

from __future__ import annotations

import json

from bridge.json_codec import document_bytes, document_text, response_bytes

DOCUMENT = {"resourceType": "Observation", "code": {"text": "心率"}, "valueQuantity": {"value": 72.5}, "n": [1, None]}


def test_the_same_json_values_as_the_standard_library() -> None:
    for encoded in (response_bytes(DOCUMENT), document_bytes(DOCUMENT), document_text(DOCUMENT).encode()):
        assert json.loads(encoded) == DOCUMENT
    assert "心率".encode() in response_bytes(DOCUMENT)  # UTF-8, not \\u escapes
    pretty = response_bytes(DOCUMENT, pretty=True).decode()
    assert pretty.startswith('{\n  "resourceType": "Observation"') and json.loads(pretty) == DOCUMENT


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    huge = {"value": 123456789012345678901234567890, 1: "a non-string key"}
    for encoded in (response_bytes(huge), document_bytes(huge), document_text(huge).encode()):
        assert json.loads(encoded) == {"value": 123456789012345678901234567890, "1": "a non-string key"}
