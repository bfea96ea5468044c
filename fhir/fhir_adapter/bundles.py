"""The Bundles the REST API answers with: searchset, history, and batch/transaction responses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fhir_adapter.errors import Issue, operation_outcome
from fhir_adapter.store.history import VersionRecord


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def etag(resource: dict[str, Any]) -> str:
    return f'W/"{resource.get("meta", {}).get("versionId", "")}"'


def full_url(base_url: str, resource: dict[str, Any]) -> str:
    return f"{base_url}/{resource['resourceType']}/{resource['id']}"


def _bundle(kind: str, now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(now)},
        "type": kind,
    }


def page_links(url: str, link_params: Any, offset: int, count: int, total: int) -> list[dict[str, str]]:
    """self/first/previous/next/last links; ``link_params(offset)`` renders the query at an offset."""

    def at(position: int) -> str:
        return f"{url}?{urlencode(link_params(position))}"

    links = [{"relation": "self", "url": at(offset)}, {"relation": "first", "url": at(0)}]
    if count > 0 and offset > 0:
        links.append({"relation": "previous", "url": at(max(offset - count, 0))})
    if count > 0 and offset + count < total:
        links.append({"relation": "next", "url": at(offset + count)})
    if count > 0 and total > 0:
        links.append({"relation": "last", "url": at(((total - 1) // count) * count)})
    return links


def searchset(
    *,
    base_url: str,
    total: int,
    matches: Sequence[dict[str, Any]],
    included: Sequence[dict[str, Any]] = (),
    links: list[dict[str, str]],
    warnings: Sequence[Issue] = (),
    now: datetime,
) -> dict[str, Any]:
    bundle = _bundle("searchset", now)
    bundle["total"] = total
    bundle["link"] = links
    entries = [{"fullUrl": full_url(base_url, r), "resource": r, "search": {"mode": "match"}} for r in matches]
    entries += [{"fullUrl": full_url(base_url, r), "resource": r, "search": {"mode": "include"}} for r in included]
    if warnings:
        outcome = {"id": str(uuid.uuid4()), **operation_outcome(list(warnings))}
        entries.append({"fullUrl": f"urn:uuid:{outcome['id']}", "resource": outcome, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def history(
    *, base_url: str, total: int, versions: Sequence[VersionRecord], links: list[dict[str, str]], now: datetime
) -> dict[str, Any]:
    bundle = _bundle("history", now)
    bundle["total"] = total
    bundle["link"] = links
    entries = []
    for version in versions:
        url = f"{version.resource_type}/{version.id}"
        entry: dict[str, Any] = {"fullUrl": f"{base_url}/{url}"}
        response = {"etag": f'W/"{version.version_id}"', "lastModified": instant(version.last_updated)}
        if version.deleted:
            entry["request"] = {"method": "DELETE", "url": url}
            entry["response"] = {"status": "204 No Content", **response}
        else:
            entry["resource"] = version.content
            method = "POST" if version.version_id == 1 else "PUT"
            entry["request"] = {"method": method, "url": url if method == "PUT" else version.resource_type}
            entry["response"] = {"status": "201 Created" if method == "POST" else "200 OK", **response}
        entries.append(entry)
    if entries:
        bundle["entry"] = entries
    return bundle


def response_bundle(kind: str, entries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """``batch-response`` or ``transaction-response``; entries are already in request order."""
    bundle = _bundle(kind, now)
    if entries:
        bundle["entry"] = entries
    return bundle
