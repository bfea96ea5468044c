"""HTTP plumbing of the FHIR API: bodies with a size limit, JSON parsing, negotiated responses."""

from __future__ import annotations

import json
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fhir_adapter.bundles import etag
from fhir_adapter.errors import OperationOutcomeError
from fhir_adapter.formats import check_request_media_type, response_media_type
from fhir_adapter.store.indexing import parse_fhir_date

from bridge.api.deps import get_runtime
from bridge.json_codec import response_bytes


async def negotiated_media_type(request: Request) -> str:
    # Async, though it awaits nothing: FastAPI runs a plain function dependency in the thread pool,
    # a thread hop per request for a header look-up.
    return response_media_type(request.headers.get("accept"), request.query_params.get("_format"))


async def limited_body(request: Request) -> bytes:
    return await read_limited(request, get_runtime(request).settings.fhir_max_body_bytes)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit (not after buffering it all)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_body(body: bytes, content_type: str | None) -> Any:
    check_request_media_type(content_type)
    if not body.strip():
        raise OperationOutcomeError.single(400, "required", "the request has no body; send a FHIR JSON resource")
    try:
        return json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise OperationOutcomeError.single(400, "structure", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise OperationOutcomeError.single(
            400, "structure", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def fhir_response(
    content: dict[str, Any] | None,
    media_type: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    pretty: bool = False,
) -> Response:
    body = b"" if content is None else response_bytes(content, pretty=pretty)
    return Response(body, status_code=status, media_type=f"{media_type}; charset=utf-8", headers=headers)


def version_headers(resource: dict[str, Any], base_url: str | None = None) -> dict[str, str]:
    meta = resource.get("meta", {})
    headers = {"ETag": etag(resource)}
    moment = parse_fhir_date(meta.get("lastUpdated", ""))
    if moment:
        headers["Last-Modified"] = format_datetime(moment[0], usegmt=True)
    if base_url:
        headers["Location"] = f"{base_url}/{resource['resourceType']}/{resource['id']}/_history/{meta.get('versionId')}"
    return headers


def prefer(request: Request, key: str) -> str | None:
    """One token of the Prefer header (RFC 7240), e.g. prefer(request, "return") -> "minimal"."""
    for part in request.headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == key:
            return value.strip().strip('"').lower()
    return None


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _too_large(limit: int) -> OperationOutcomeError:
    return OperationOutcomeError.single(413, "too-long", f"the request body is larger than {limit} bytes")


def _reject_constant(name: str) -> Any:
    raise OperationOutcomeError.single(400, "structure", f"{name} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise OperationOutcomeError.single(400, "structure", f"the JSON object repeats the key {key!r}")
        result[key] = value
    return result


MediaTypeDep = Annotated[str, Depends(negotiated_media_type)]
BodyDep = Annotated[bytes, Depends(limited_body)]
