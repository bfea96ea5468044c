"""Search-index rows of a resource, and rebuilding the whole index when search parameters change.

Index rows are derived data: when a release adds a parameter (or changes how values are indexed),
resources written before it must be re-indexed, or searches silently miss them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from fhir_adapter.store.indexing import index_values
from fhir_adapter.store.tables import SEARCH_INDEX_TABLE, SearchIndexEntry, StoredResource

logger = logging.getLogger(__name__)


def index_rows(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Column values of the index rows of one resource, for an INSERT of ``SearchIndexEntry``."""
    return [
        {
            "resource_type": content["resourceType"],
            "resource_id": content["id"],
            "param": value.param,
            "system": value.system,
            "value": value.value,
            "date_start": value.date_start,
            "date_end": value.date_end,
        }
        for value in index_values(content)
    ]


def reindex_all(session: Session, batch_size: int = 500) -> int:
    """Rewrite the index of every current resource in the caller's transaction; returns how many."""
    session.execute(delete(SearchIndexEntry))
    count = 0
    rows = session.execute(
        select(StoredResource.content).where(StoredResource.deleted.is_(False)).execution_options(yield_per=batch_size)
    )
    batch: list[dict[str, Any]] = []
    for (content,) in rows:
        batch += index_rows(content)
        count += 1
        if len(batch) >= batch_size:
            session.execute(insert(SEARCH_INDEX_TABLE), batch)
            batch = []
    if batch:
        session.execute(insert(SEARCH_INDEX_TABLE), batch)
    logger.info("re-indexed %d FHIR resources", count)
    return count
