"""Instance history with what each version was: a write or a delete, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fhir_adapter.errors import not_found
from fhir_adapter.store.tables import ResourceVersion


@dataclass(frozen=True)
class VersionRecord:
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any]


def version_records(
    session: Session, resource_type: str, resource_id: str, count: int, offset: int = 0
) -> tuple[int, list[VersionRecord]]:
    """(total versions, a page of them newest first); 404 when the resource never existed."""
    where = (ResourceVersion.resource_type == resource_type, ResourceVersion.id == resource_id)
    total = session.scalar(select(func.count()).select_from(ResourceVersion).where(*where)) or 0
    if total == 0:
        raise not_found(resource_type, resource_id)
    rows = session.scalars(
        select(ResourceVersion).where(*where).order_by(ResourceVersion.version_id.desc()).offset(offset).limit(count)
    ).all()
    return total, [
        VersionRecord(row.resource_type, row.id, row.version_id, row.last_updated, row.deleted, row.content)
        for row in rows
    ]
