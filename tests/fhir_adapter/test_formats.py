"""Content negotiation: FHIR JSON always, a clear 406 or 415 for XML."""

from __future__ import annotations

import pytest
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.formats import FHIR_JSON, PLAIN_JSON, check_request_media_type, response_media_type


@pytest.mark.parametrize(
    ("accept", "format_param", "expected"),
    [
        (None, None, FHIR_JSON),
        ("*/*", None, FHIR_JSON),
        ("application/json", None, PLAIN_JSON),
        ("application/fhir+json;q=0.9, application/fhir+xml;q=1", None, FHIR_JSON),
        ("text/html,application/xhtml+xml,*/*;q=0.8", None, FHIR_JSON),
        ("application/fhir+xml", "json", FHIR_JSON),
        (None, "application/fhir+json", FHIR_JSON),
    ],
)
def test_json_is_chosen(accept: str | None, format_param: str | None, expected: str) -> None:
    assert response_media_type(accept, format_param) == expected


@pytest.mark.parametrize(("accept", "format_param"), [("application/fhir+xml", None), (None, "xml"), (None, "html")])
def test_xml_only_clients_get_406(accept: str | None, format_param: str | None) -> None:
    with pytest.raises(OperationOutcomeError) as refused:
        response_media_type(accept, format_param)
    assert refused.value.status == 406


def test_request_bodies_must_be_json() -> None:
    for ok in (None, FHIR_JSON, "application/json; charset=utf-8", "application/json+fhir"):
        check_request_media_type(ok)
    for bad in ("application/fhir+xml", "text/plain"):
        with pytest.raises(OperationOutcomeError) as refused:
            check_request_media_type(bad)
        assert refused.value.status == 415
