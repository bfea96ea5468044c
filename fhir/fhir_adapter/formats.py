"""Content negotiation for the FHIR REST API: JSON only, said clearly to clients that ask for XML.

The mime types follow FHIR R4 http.html#mime-type; ``application/json+fhir`` is the DSTU2 spelling some
older clients still send.
"""

from __future__ import annotations

from fhir_adapter.errors import OperationOutcomeError

FHIR_JSON = "application/fhir+json"
PLAIN_JSON = "application/json"
_JSON_TYPES = frozenset({FHIR_JSON, PLAIN_JSON, "application/json+fhir", "text/json"})
_WILDCARDS = frozenset({"*/*", "application/*"})
_FORMAT_ALIASES = {"json": FHIR_JSON, FHIR_JSON: FHIR_JSON, PLAIN_JSON: PLAIN_JSON, "application/json+fhir": FHIR_JSON}
_XML_HINTS = ("xml",)


def _media_types(header: str) -> list[tuple[str, float]]:
    """Media ranges of an Accept header with their q-values, best first."""
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((fields[0].lower(), quality))
    return sorted(ranges, key=lambda item: -item[1])


def response_media_type(accept: str | None, format_param: str | None) -> str:
    """The JSON media type to answer with, or 406 when the client wants only what we cannot give."""
    if format_param:
        chosen = _FORMAT_ALIASES.get(format_param.strip().lower().split(";")[0].strip())
        if chosen is None:
            raise _not_acceptable(f"_format={format_param!r}")
        return chosen
    if not accept:
        return FHIR_JSON
    for media_type, quality in _media_types(accept):
        if quality <= 0:
            continue
        if media_type in _JSON_TYPES:
            return PLAIN_JSON if media_type == PLAIN_JSON else FHIR_JSON
        if media_type in _WILDCARDS:
            return FHIR_JSON
    # A browser's Accept (text/html, ... without */*) is not worth refusing over: JSON is all there is.
    if any(hint in accept.lower() for hint in _XML_HINTS):
        raise _not_acceptable(f"Accept: {accept}")
    return FHIR_JSON


def check_request_media_type(content_type: str | None) -> None:
    """A body must be FHIR JSON (or plain JSON); XML and anything else is refused with 415."""
    if not content_type:
        return  # curl without -H: treat the body as JSON and let parsing decide
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in _JSON_TYPES:
        return
    raise OperationOutcomeError.single(
        415,
        "not-supported",
        f"request bodies must be {FHIR_JSON}; {media_type} is not supported (this server speaks FHIR JSON only)",
    )


def _not_acceptable(asked: str) -> OperationOutcomeError:
    return OperationOutcomeError.single(
        406, "not-supported", f"{asked}: this server answers in FHIR JSON ({FHIR_JSON}) only; XML is not supported"
    )
