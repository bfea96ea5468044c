"""Find and rewrite the literal references inside a resource (``{"reference": "Type/id"}`` anywhere)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

RELATIVE_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")
URN_PREFIXES = ("urn:uuid:", "urn:oid:")


def iter_references(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(FHIRPath-like location, reference string) for every literal reference, contained ones excepted."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str):
            yield path, reference
        for key, value in node.items():
            if key in {"contained", "reference"}:
                continue
            yield from iter_references(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_references(item, f"{path}[{index}]")


def rewrite_references(node: Any, replace: Callable[[str], str | None]) -> Any:
    """A copy of ``node`` where each reference ``r`` becomes ``replace(r)`` when that is not None."""
    if isinstance(node, dict):
        copied: dict[str, Any] = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                copied[key] = replace(value) or value
            elif key == "contained":
                copied[key] = value
            else:
                copied[key] = rewrite_references(value, replace)
        return copied
    if isinstance(node, list):
        return [rewrite_references(item, replace) for item in node]
    return node


def relative_target(reference: str, base_urls: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(type, id) when the reference points into this server (relative, or absolute under one of its bases)."""
    for base in base_urls:
        if base and reference.startswith(base.rstrip("/") + "/"):
            reference = reference[len(base.rstrip("/")) + 1 :]
            break
    match = RELATIVE_REFERENCE.match(reference)
    return (match.group(1), match.group(2)) if match else None


def is_placeholder(reference: str) -> bool:
    """urn:uuid / urn:oid: only meaningful inside the Bundle that defines them."""
    return reference.startswith(URN_PREFIXES)


def mapped(mapping: Mapping[str, str]) -> Callable[[str], str | None]:
    return mapping.get
