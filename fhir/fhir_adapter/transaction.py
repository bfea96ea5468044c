"""Batch and transaction Bundles (FHIR R4 http.html#transaction), independent of any web framework.

The processor knows Bundle semantics: entry validation, the processing order (DELETE, POST, PUT, GET),
``urn:uuid`` placeholders rewritten to the ids the server assigns, conditional creates, and
all-or-nothing for transactions. What each interaction does (access rules, audit, storage) belongs to
the ``EntryHandler`` the caller supplies. A transaction fails by raising, so the caller's database
transaction rolls back whole; a batch runs each entry in its own savepoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl

from fhir_adapter.bundles import response_bundle
from fhir_adapter.errors import Issue, OperationOutcomeError, invalid
from fhir_adapter.references import is_placeholder, iter_references, rewrite_references
from fhir_adapter.transaction_order import creation_order

METHODS = ("DELETE", "POST", "PUT", "GET", "HEAD")


@dataclass
class EntryResult:
    status: int
    resource: dict[str, Any] | None = None  # the resource written or read, or a searchset Bundle
    location: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class EntryHandler(Protocol):
    def create(self, resource: dict[str, Any], resource_id: str, if_none_exist: str | None) -> EntryResult: ...
    def find_existing(self, resource_type: str, query: str) -> str | None: ...
    def update(self, resource: dict[str, Any], if_match: str | None) -> EntryResult: ...
    def delete(self, resource_type: str, resource_id: str) -> EntryResult: ...
    def read(self, resource_type: str, resource_id: str, version_id: str | None) -> EntryResult: ...
    def search(self, resource_type: str, params: list[tuple[str, str]]) -> EntryResult: ...


@dataclass
class Entry:
    index: int
    method: str
    resource_type: str
    resource_id: str | None = None
    version_id: str | None = None
    query: str = ""
    resource: dict[str, Any] | None = None
    full_url: str | None = None
    if_none_exist: str | None = None
    if_match: str | None = None
    result: EntryResult | None = None
    error: OperationOutcomeError | None = None
    assigned_id: str | None = field(default=None)


def process_bundle(
    bundle: Any,
    handler: EntryHandler,
    savepoint: Callable[[], AbstractContextManager[Any]],
    *,
    base_url: str,
    supported_types: frozenset[str],
    max_entries: int,
    now: datetime,
) -> dict[str, Any]:
    kind = _bundle_kind(bundle)
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise invalid("Bundle.entry must be a list", "Bundle.entry")
    if len(raw_entries) > max_entries:
        raise OperationOutcomeError.single(
            413,
            "too-costly",
            f"a {kind} Bundle may hold at most {max_entries} entries; this one has {len(raw_entries)}",
        )
    if kind == "transaction":
        entries = [_parse_entry(i, raw, base_url, supported_types) for i, raw in enumerate(raw_entries)]
        _run_transaction(entries, handler)
    else:
        entries = []
        for i, raw in enumerate(raw_entries):
            try:
                entries.append(_parse_entry(i, raw, base_url, supported_types))
            except OperationOutcomeError as exc:
                entries.append(Entry(i, "GET", "", error=exc))
        _run_batch(entries, handler, savepoint)
    return response_bundle(f"{kind}-response", [_response_entry(e) for e in entries], now)


def _bundle_kind(bundle: Any) -> str:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise invalid("POST to the server base takes a Bundle of type batch or transaction", "resourceType")
    kind = bundle.get("type")
    if kind not in {"batch", "transaction"}:
        raise invalid(f"Bundle.type must be batch or transaction, not {kind!r}", "Bundle.type")
    return str(kind)


def _parse_entry(index: int, raw: Any, base_url: str, supported_types: frozenset[str]) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise invalid(f"entry {index} has no request", f"{where}.request")
    request = raw["request"]
    method, url = request.get("method"), request.get("url")
    if method not in METHODS:
        raise OperationOutcomeError.single(
            400 if method != "PATCH" else 405,
            "not-supported",
            f"entry {index}: method {method!r} is not supported (use {', '.join(METHODS)})",
            f"{where}.request.method",
        )
    if not isinstance(url, str) or not url:
        raise invalid(f"entry {index} has no request.url", f"{where}.request.url")
    path, _, query = url.removeprefix(base_url).lstrip("/").partition("?")
    parts = path.split("/")
    if parts[0] not in supported_types:
        raise OperationOutcomeError.single(
            404,
            "not-supported",
            f"entry {index}: {parts[0]!r} is not a supported resource type",
            f"{where}.request.url",
        )
    entry = Entry(index, method, parts[0], query=query, full_url=raw.get("fullUrl"))
    if len(parts) >= 2:
        entry.resource_id = parts[1]
    if len(parts) == 4 and parts[2] == "_history":
        entry.version_id = parts[3]
    elif len(parts) not in (1, 2):
        raise invalid(f"entry {index}: cannot interpret request.url {url!r}", f"{where}.request.url")
    entry.if_none_exist = request.get("ifNoneExist")
    entry.if_match = request.get("ifMatch")
    if method in {"POST", "PUT"}:
        resource = raw.get("resource")
        if not isinstance(resource, dict):
            raise invalid(f"entry {index}: {method} needs a resource", f"{where}.resource")
        if resource.get("resourceType") != entry.resource_type:
            raise invalid(
                f"entry {index}: the resource is a {resource.get('resourceType')}, the url names {entry.resource_type}",
                f"{where}.resource.resourceType",
            )
        if method == "PUT":
            if entry.resource_id is None or query:
                raise invalid(f"entry {index}: PUT needs a url of the form Type/id", f"{where}.request.url")
            if resource.get("id", entry.resource_id) != entry.resource_id:
                raise invalid(
                    f"entry {index}: resource id {resource.get('id')!r} differs from the url's {entry.resource_id!r}",
                    f"{where}.resource.id",
                )
            resource = {**resource, "id": entry.resource_id}
        elif entry.resource_id is not None:
            raise invalid(f"entry {index}: POST takes a url of the form Type", f"{where}.request.url")
        entry.resource = resource
    elif method == "DELETE" and (entry.resource_id is None or query):
        raise OperationOutcomeError.single(
            400, "not-supported", f"entry {index}: DELETE needs a url of the form Type/id", f"{where}.request.url"
        )
    return entry


def _run_transaction(entries: list[Entry], handler: EntryHandler) -> None:
    mapping = _assign_ids(entries, handler)
    for entry in entries:
        if entry.resource is not None:
            entry.resource = rewrite_references(entry.resource, mapping.get)
            for location, reference in iter_references(entry.resource):
                if is_placeholder(reference):
                    raise _entry_error(
                        entry,
                        invalid(f"{location} references {reference}, which no entry of this transaction defines"),
                    )
    posts = [e for e in entries if e.method == "POST"]
    ordered = (
        [e for e in entries if e.method == "DELETE"]
        + [posts[i] for i in _creation_order(posts)]
        + [e for e in entries if e.method == "PUT"]
        + [e for e in entries if e.method in {"GET", "HEAD"}]
    )
    for entry in ordered:
        try:
            entry.result = _execute(entry, handler)
        except OperationOutcomeError as exc:
            raise _entry_error(entry, exc) from None


def _creation_order(posts: list[Entry]) -> list[int]:
    return creation_order([e.resource or {} for e in posts], [e.assigned_id for e in posts], [e.index for e in posts])


def _assign_ids(entries: list[Entry], handler: EntryHandler) -> dict[str, str]:
    """Server ids for POSTed resources (or the existing match of a conditional create), keyed by fullUrl."""
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    for entry in entries:
        if entry.full_url:
            if entry.full_url in seen:
                raise _entry_error(entry, invalid(f"fullUrl {entry.full_url} appears twice in this transaction"))
            seen.add(entry.full_url)
        if entry.method != "POST":
            continue
        existing = None
        if entry.if_none_exist:
            try:
                existing = handler.find_existing(entry.resource_type, entry.if_none_exist)
            except OperationOutcomeError as exc:
                raise _entry_error(entry, exc) from None
        entry.assigned_id = existing or str(uuid.uuid4())
        if entry.full_url and is_placeholder(entry.full_url):
            mapping[entry.full_url] = f"{entry.resource_type}/{entry.assigned_id}"
    return mapping


def _run_batch(
    entries: list[Entry], handler: EntryHandler, savepoint: Callable[[], AbstractContextManager[Any]]
) -> None:
    for entry in entries:
        if entry.error is not None:
            continue
        if entry.resource is not None:
            for location, reference in iter_references(entry.resource):
                if is_placeholder(reference):
                    entry.error = invalid(
                        f"{location} references {reference}: batch entries cannot refer to each other"
                    )
        if entry.error is not None:
            continue
        if entry.method == "POST":
            entry.assigned_id = str(uuid.uuid4())
        try:
            with savepoint():
                entry.result = _execute(entry, handler)
        except OperationOutcomeError as exc:
            entry.error = exc


def _execute(entry: Entry, handler: EntryHandler) -> EntryResult:
    if entry.method == "DELETE":
        return handler.delete(entry.resource_type, entry.resource_id or "")
    if entry.method == "POST":
        return handler.create(entry.resource or {}, entry.assigned_id or str(uuid.uuid4()), entry.if_none_exist)
    if entry.method == "PUT":
        return handler.update(entry.resource or {}, entry.if_match)
    if entry.resource_id is not None:
        return handler.read(entry.resource_type, entry.resource_id, entry.version_id)
    return handler.search(entry.resource_type, parse_qsl(entry.query, keep_blank_values=True))


def _entry_error(entry: Entry, error: OperationOutcomeError) -> OperationOutcomeError:
    prefix = f"entry {entry.index} ({entry.method} {entry.resource_type}): "
    issues = [
        Issue(
            i.severity,
            i.code,
            i.diagnostics if i.diagnostics.startswith("entry ") else prefix + i.diagnostics,
            i.expression or (f"Bundle.entry[{entry.index}]",),
        )
        for i in error.issues
    ]
    return OperationOutcomeError(error.status, issues)


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _response_entry(entry: Entry) -> dict[str, Any]:
    if entry.error is not None:
        return {"response": {"status": _status_line(entry.error.status), "outcome": entry.error.outcome()}}
    result = entry.result or EntryResult(500)
    response: dict[str, Any] = {"status": _status_line(result.status)}
    for key, value in (("location", result.location), ("etag", result.etag), ("lastModified", result.last_modified)):
        if value:
            response[key] = value
    out: dict[str, Any] = {"response": response}
    if result.resource is not None:
        resource = result.resource
        if resource.get("resourceType") != "Bundle" and resource.get("id"):
            out["fullUrl"] = f"{resource['resourceType']}/{resource['id']}"
        out["resource"] = resource
    return out
