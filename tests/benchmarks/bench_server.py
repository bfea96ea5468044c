"""The server side of the FHIR benchmark: the real bridge app plus a baseline route, under uvicorn.

Run by ``bench_fhir.py`` in a process of its own (``python3 -m tests.benchmarks.bench_server``), so the
load generator never competes with the server for one GIL. The database must already be migrated and
seeded. The baseline (``/bench/raw/Observation``) shares everything with ``/fhir/Observation`` up to
the route body: the same app instance and middleware, the same bearer-token principal and one
transaction per request (``PrincipalDep``, ``ServicesDep``), the same body reading, JSON parsing and
response serialisation. It then stores the JSON as it came, in one plain table, so the ratio of the two
is what validation, reference and access checks, the version history, search indexing and the audit
trail cost.
"""

from __future__ import annotations

import argparse
import os
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fhir_adapter.errors import invalid
from fhir_adapter.store.tables import JsonDocument
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, func, select

from bridge.api.deps import PrincipalDep, ServicesDep
from bridge.api.fhir_http import BodyDep, MediaTypeDep, fhir_response, parse_json_body
from bridge.app import create_app
from bridge.db.engine import make_engine
from bridge.logging_config import configure_logging
from bridge.runtime import Runtime
from bridge.settings import Settings

BASELINE_PREFIX = "/bench/raw"
_metadata = MetaData()
# The one index a hand-rolled JSON store would have for "this resident's observations, newest first";
# without it the baseline search would scan every stored ECG and compare nothing useful.
raw_observation = Table(
    "bench_raw_observation",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("patient", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("content", JsonDocument, nullable=False),
    Index("ix_bench_raw_observation_patient", "patient", "created_at"),
)


def baseline_router() -> APIRouter:
    router = APIRouter(prefix=BASELINE_PREFIX, include_in_schema=False)

    @router.post("/Observation")
    def create_raw(
        request: Request, body: BodyDep, media: MediaTypeDep, services: ServicesDep, principal: PrincipalDep
    ) -> Response:
        resource = parse_json_body(body, request.headers.get("content-type"))
        if not isinstance(resource, dict):
            raise invalid("the body must be a JSON object")
        subject = resource.get("subject")
        patient = subject.get("reference") if isinstance(subject, dict) else None
        stored = {**resource, "id": str(uuid.uuid4())}
        services.db.execute(
            raw_observation.insert().values(
                id=stored["id"], patient=str(patient or ""), created_at=datetime.now(UTC), content=stored
            )
        )
        return fhir_response(stored, media, 201)

    @router.get("/Observation")
    def search_raw(
        request: Request, media: MediaTypeDep, services: ServicesDep, principal: PrincipalDep, patient: str = ""
    ) -> Response:
        count = int(request.query_params.get("_count", "20"))
        where = raw_observation.c.patient == patient
        total = services.db.scalar(select(func.count()).select_from(raw_observation).where(where))
        rows = services.db.scalars(
            select(raw_observation.c.content).where(where).order_by(raw_observation.c.created_at.desc()).limit(count)
        ).all()
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "entry": [{"resource": row, "search": {"mode": "match"}} for row in rows],
        }
        return fhir_response(bundle, media)

    return router


def bench_settings(database_url: str, port: int) -> Settings:
    # The secret only has to be shared with itself: clients get their tokens from this server.
    return Settings(
        database_url=database_url, secret_key=secrets.token_urlsafe(48), public_base_url=f"http://127.0.0.1:{port}"
    )


def build_app(settings: Settings) -> FastAPI:
    runtime = Runtime.from_settings(settings)
    _metadata.create_all(runtime.engine)
    app = create_app(runtime=runtime)
    app.include_router(baseline_router())
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process, configured like production: from ``BRIDGE_`` variables."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return build_app(settings)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default: one, as bridge serve)"
    )
    args = parser.parse_args()
    # As `bridge serve` runs it: INFO logging configured once, uvicorn's access log off.
    settings = bench_settings(args.database_url, args.port)
    configure_logging(settings.log_level, settings.log_json)
    if args.workers <= 1:
        uvicorn.run(build_app(settings), host="127.0.0.1", port=args.port, log_config=None, proxy_headers=True)
        return
    # Several processes, like several bridge instances behind a proxy: every worker must sign and
    # check tokens with the same key, so the settings travel as environment variables.
    _metadata.create_all(make_engine(settings.database_url))  # once, before the workers race to it
    os.environ.update(
        BRIDGE_DATABASE_URL=settings.database_url,
        BRIDGE_SECRET_KEY=settings.secret_key.get_secret_value(),
        BRIDGE_PUBLIC_BASE_URL=settings.public_base_url,
    )
    uvicorn.run(
        "tests.benchmarks.bench_server:app_from_environment",
        factory=True,
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        proxy_headers=True,
        # A worker must answer uvicorn's start-up health check within this; importing the app (FHIR
        # models, aiortc) takes more than uvicorn's default 5 s on a busy 2-core machine, and uvicorn
        # then kills and restarts workers for ever.
        timeout_worker_healthcheck=60,
    )


if __name__ == "__main__":
    main()
