"""Inserting a new resource: its current row, its first version row and its search-index rows.

On PostgreSQL one statement writes all three (data-modifying CTEs; the index rows travel as five
arrays and are unnested), so a create costs one round trip instead of three, the document is
serialised and sent once instead of twice, and the index rows need no per-row executemany. SQLite has
no data-modifying CTEs and no round trips to save: it gets three plain INSERTs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, String, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from fhir_adapter.store.tables import RESOURCE_TABLE, SEARCH_INDEX_TABLE, VERSION_TABLE, JsonDocument

# Built once: SQLAlchemy then reuses their compiled form without recomputing a cache key per write.
INSERT_RESOURCE = insert(RESOURCE_TABLE)
INSERT_VERSION = insert(VERSION_TABLE)
INSERT_INDEX = insert(SEARCH_INDEX_TABLE)

# Static text (the tables are named by the migrations); every value is a bound parameter.
_POSTGRES_INSERT_NEW = text(
    """
    WITH new_resource AS (
        INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content)
        VALUES (:resource_type, :id, :version_id, :last_updated, :deleted, :content)
        RETURNING resource_type, id, version_id, last_updated, deleted, content
    ), new_version AS (
        INSERT INTO fhir_resource_version (resource_type, id, version_id, last_updated, deleted, content)
        SELECT resource_type, id, version_id, last_updated, deleted, content FROM new_resource
    )
    INSERT INTO fhir_search_index (resource_type, resource_id, param, system, value, date_start, date_end)
    SELECT new_resource.resource_type, new_resource.id, i.param, i.system, i.value, i.date_start, i.date_end
    FROM new_resource, unnest(
        CAST(:params AS VARCHAR[]), CAST(:systems AS VARCHAR[]), CAST(:index_values AS VARCHAR[]),
        CAST(:date_starts AS TIMESTAMPTZ[]), CAST(:date_ends AS TIMESTAMPTZ[])
    ) AS i(param, system, value, date_start, date_end)
    """
).bindparams(
    bindparam("content", type_=JsonDocument),
    bindparam("last_updated", type_=DateTime(timezone=True)),
    bindparam("params", type_=ARRAY(String)),
    bindparam("systems", type_=ARRAY(String)),
    bindparam("index_values", type_=ARRAY(String)),
    bindparam("date_starts", type_=ARRAY(DateTime(timezone=True))),
    bindparam("date_ends", type_=ARRAY(DateTime(timezone=True))),
)


def insert_new(session: Session, row: dict[str, Any], index: list[dict[str, Any]]) -> None:
    """Insert a resource that has no current row yet: ``row`` holds the columns shared by the current
    and the version row, ``index`` the search-index rows (as ``reindex.index_rows`` makes them)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _POSTGRES_INSERT_NEW,
            {
                **row,
                "params": [entry["param"] for entry in index],
                "systems": [entry["system"] for entry in index],
                "index_values": [entry["value"] for entry in index],
                "date_starts": [entry["date_start"] for entry in index],
                "date_ends": [entry["date_end"] for entry in index],
            },
        )
        return
    session.execute(INSERT_RESOURCE, row)
    session.execute(INSERT_VERSION, row)
    if index:
        session.execute(INSERT_INDEX, index)
