"""Tables of the FHIR store. They live on their own MetaData so an application can add them to its
migrations without this library knowing anything about that application."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class FhirBase(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class StoredResource(FhirBase):
    """The current version of each resource (deleted ones stay, flagged, so reads can answer 410)."""

    __tablename__ = "fhir_resource"
    # The default search order is newest first within a type.
    __table_args__ = (Index("ix_fhir_resource_type_updated", "resource_type", "last_updated"),)

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    content: Mapped[dict[str, Any]] = mapped_column(JsonDocument, nullable=False)


class ResourceVersion(FhirBase):
    """Every version ever written, for vread and history."""

    __tablename__ = "fhir_resource_version"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    content: Mapped[dict[str, Any]] = mapped_column(JsonDocument, nullable=False)


class SearchIndexEntry(FhirBase):
    """One searchable value of the current version of a resource (rewritten on every write)."""

    __tablename__ = "fhir_search_index"
    __table_args__ = (
        Index("ix_fhir_search_lookup", "resource_type", "param", "value"),
        Index("ix_fhir_search_owner", "resource_type", "resource_id"),
        # Date searches compare ranges; who-references-this lookups (before a delete) know only the value.
        Index("ix_fhir_search_date", "resource_type", "param", "date_start"),
        Index("ix_fhir_search_value", "value"),
    )

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(64), nullable=False)
    param: Mapped[str] = mapped_column(String(64), nullable=False)
    system: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(String(255))
    date_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    date_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The Core tables, for plain INSERTs: one executemany for index rows, where the ORM's bulk path would
# send one statement per combination of null columns, and none of the ORM's bookkeeping for new rows.
SEARCH_INDEX_TABLE = cast(Table, SearchIndexEntry.__table__)
RESOURCE_TABLE = cast(Table, StoredResource.__table__)
VERSION_TABLE = cast(Table, ResourceVersion.__table__)
