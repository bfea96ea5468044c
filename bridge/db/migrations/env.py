"""Alembic environment: the bridge's relational tables and the FHIR store's, one schema."""

from __future__ import annotations

from alembic import context
from fhir_adapter.store.tables import FhirBase

from bridge.db.engine import make_engine
from bridge.db.tables import BridgeBase
from bridge.ingest import tables as ingest_tables  # noqa: F401 - registers its models
from bridge.loops import tables as loop_tables  # noqa: F401 - registers its models
from bridge.outbox import tables as outbox_tables  # noqa: F401 - registers its models
from bridge.prescriptions import tables as prescription_tables  # noqa: F401 - registers its models
from bridge.recording import tables as recording_tables  # noqa: F401 - registers its model
from bridge.results import tables as results_tables  # noqa: F401 - registers its model
from bridge.subscriptions import tables as subscription_tables  # noqa: F401 - registers its models

target_metadata = [BridgeBase.metadata, FhirBase.metadata]


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
