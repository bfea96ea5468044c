"""What the plain FHIR API may not do to referrals: they are made by `$refer` and change only through
`$accept`, `$decline`, `$complete` and `$cancel`, so the loop tracker, the news and the hospital push
can never be bypassed, and no referral reaches a hospital that is not contracted with the home.

Refused (409): creating a ServiceRequest of category "Patient referral", changing or deleting one, turning
another ServiceRequest into one, and writing a Task that tracks one (its focus or basedOn names a referral).
Other ServiceRequests and Tasks are the plain API's as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.auth.principal import Principal
from bridge.referrals.codes import is_referral
from bridge.services import Services

# Relative or absolute, with or without a version.
_SERVICE_REQUEST = re.compile(r"(?:^|/)ServiceRequest/([A-Za-z0-9\-.]{1,64})(?:/_history/\d+)?$")


def check_referral_write(
    services: Services, principal: Principal, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    """Raise an OperationOutcomeError unless the FHIR API may turn `old` into `new` (None: create, delete)."""
    resource_type = (new or old or {}).get("resourceType")
    if resource_type == "ServiceRequest" and any(is_referral(r) for r in (new, old) if r):
        raise OperationOutcomeError.single(
            409,
            "conflict",
            "a referral (ServiceRequest of category SNOMED 3457005) is made by POST Patient/{id}/$refer and changes "
            "only through $accept, $decline, $complete and $cancel",
            "ServiceRequest.category",
        )
    if resource_type == "Task" and any(_tracks_referral(services, r) for r in (new, old) if r):
        raise OperationOutcomeError.single(
            409,
            "conflict",
            "a referral's Task is created by $refer and changes only through the referral's operations",
            "Task.focus",
        )


def _tracks_referral(services: Services, task: dict[str, Any]) -> bool:
    for reference in _references([task.get("focus"), *(task.get("basedOn") or [])]):
        match = _SERVICE_REQUEST.search(reference)
        if match is None:
            continue
        try:
            request = services.repository.read("ServiceRequest", match.group(1))
        except OperationOutcomeError:
            continue
        if is_referral(request):
            return True
    return False


def _references(value: list[Any]) -> Iterator[str]:
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("reference"), str):
            yield item["reference"]
