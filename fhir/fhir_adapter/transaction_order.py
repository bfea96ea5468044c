"""The order in which a transaction's creates run: a resource after the new resources it references.

Access rules may need to read what a new resource points at (an Observation's new Patient, to know its
home), so a create must not run before the creates it depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_adapter.errors import invalid
from fhir_adapter.references import iter_references, relative_target


def creation_order(
    resources: Sequence[dict[str, Any]], ids: Sequence[str | None], entry_numbers: Sequence[int]
) -> list[int]:
    """Indexes of ``resources`` so that each comes after those it references (stable otherwise);
    ``entry_numbers`` are their places in the Bundle, for the error a cycle gets."""
    key_of = {f"{r.get('resourceType')}/{ids[i]}": i for i, r in enumerate(resources) if ids[i]}
    depends: list[set[int]] = []
    for i, resource in enumerate(resources):
        targets = set()
        for _, reference in iter_references(resource):
            target = relative_target(reference)
            if target and f"{target[0]}/{target[1]}" in key_of and key_of[f"{target[0]}/{target[1]}"] != i:
                targets.add(key_of[f"{target[0]}/{target[1]}"])
        depends.append(targets)
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(resources):
        ready = [i for i in range(len(resources)) if i not in placed and depends[i] <= placed]
        if not ready:
            cycle = sorted(entry_numbers[i] for i in range(len(resources)) if i not in placed)
            raise invalid(
                f"the new resources in entries {cycle} reference each other in a cycle; split the transaction"
            )
        order.extend(ready)
        placed.update(ready)
    return order
