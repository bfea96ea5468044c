"""``bridge``: serve, seed demo data, manage users and clients, migrate the database."""

from __future__ import annotations

import json
import sys

import click

from bridge.accounts.service import NewAccount
from bridge.cli.common import explain, load_settings, unit_of_work
from bridge.cli.drugs import drugs
from bridge.cli.endpoint import endpoint
from bridge.cli.quarantine import quarantine
from bridge.cli.station import station
from bridge.db.migrate import upgrade
from bridge.errors import BridgeError
from bridge.logging_config import configure_logging
from bridge.runtime import Runtime
from bridge.settings import Settings


@click.group(help="Telemedicine bridge between nursing homes, internet hospitals and pharmacies.")
def main() -> None:
    pass


@main.command(help="Apply migrations and serve the bridge (HTTP, WebSocket, portal).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Demo mode: seed demo data, print its credentials, allow the demo key.")
def serve(host: str, port: int, demo: bool) -> None:
    import uvicorn

    from bridge.app import create_app
    from bridge.demo.seed import print_credentials, seed_demo

    settings = load_settings(demo_mode=True if demo else None)
    configure_logging(settings.log_level, settings.log_json)
    upgrade(settings.database_url)
    seed_reference_data(settings)
    if settings.demo_mode:
        with unit_of_work(settings) as services:
            summary = seed_demo(services)
        shown_host = "localhost" if host in {"0.0.0.0", "127.0.0.1"} else host  # noqa: S104
        print_credentials(summary, f"http://{shown_host}:{port}")
    own_host = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - where this process listens
    app = create_app(settings, recorder_url=f"ws://{own_host}:{port}/ws/signal")
    # No permessage-deflate: signalling frames are few and small, and zlib's state costs about 40 KiB
    # per socket and a tenth of the CPU (docs/benchmarks.md).
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True, ws_per_message_deflate=False)


@main.command(help="Seed demo data into the configured database (idempotent).")
@click.option("--json", "as_json", is_flag=True, help="Print what exists: organisations, accounts, residents.")
def demo(as_json: bool) -> None:
    from bridge.demo.seed import print_credentials, seed_demo

    settings = load_settings(demo_mode=True)
    configure_logging("WARNING")
    upgrade(settings.database_url)
    with unit_of_work(settings) as services:
        summary = seed_demo(services)
    if as_json:
        click.echo(json.dumps(summary.as_json(), ensure_ascii=False, indent=2))
    else:
        print_credentials(summary, settings.public_base_url)


@main.group(help="Staff accounts.")
def user() -> None:
    pass


@user.command("add", help="Create a staff account; the password is read from standard input.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["nurse", "doctor", "pharmacist", "supervisor", "admin"]))
@click.option("--org", "organization", required=True, help="Organization id or identifier value.")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
@click.option("--display-name", default="")
@click.option("--practitioner", "practitioner_id", default=None, help="Practitioner id of this person.")
def user_add(
    username: str, role: str, organization: str, password_stdin: bool, display_name: str, practitioner_id: str | None
) -> None:
    password = sys.stdin.readline().rstrip("\r\n")
    settings = load_settings()
    configure_logging("WARNING")
    try:
        with unit_of_work(settings) as services:
            account = services.accounts.create(
                NewAccount(username, role, organization, password, display_name, practitioner_id), services.now()
            )
            click.echo(
                json.dumps(
                    {
                        "id": account.id,
                        "username": account.username,
                        "role": account.role,
                        "organization_id": account.organization_id,
                    },
                    ensure_ascii=False,
                )
            )
    except BridgeError as exc:
        raise explain(exc) from None


@main.group(help="System clients (client_credentials).")
def client() -> None:
    pass


@client.command("add", help="Register a system client; prints client_id and client_secret (shown once).")
@click.option("--name", required=True)
@click.option("--org", "organization", required=True, help="Organization id or identifier value.")
@click.option("--scope", required=True, help='SMART system scopes, e.g. "system/Observation.cru system/Patient.rs".')
@click.option("--json", "as_json", is_flag=True)
def client_add(name: str, organization: str, scope: str, as_json: bool) -> None:
    settings = load_settings()
    configure_logging("WARNING")
    try:
        with unit_of_work(settings) as services:
            issued = services.clients.create(name, organization, scope, services.now())
            result = {
                "client_id": issued.client.client_id,
                "client_secret": issued.client_secret,
                "organization_id": issued.client.organization_id,
                "scope": issued.client.scopes,
            }
    except BridgeError as exc:
        raise explain(exc) from None
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key}: {value}")


main.add_command(station)
main.add_command(quarantine)
main.add_command(endpoint)
main.add_command(drugs)


@main.command(
    help="Run the consent-gated recorder worker apart from `bridge serve` (BRIDGE_RECORDING_IN_PROCESS=false there)."
)
@click.option("--url", default="ws://127.0.0.1:8000/ws/signal", show_default=True, help="A bridge's /ws/signal.")
def recorder(url: str) -> None:
    import asyncio

    from bridge.recording.worker import run_recorder

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = Runtime.from_settings(settings)
    try:
        asyncio.run(run_recorder(runtime, url))
    except KeyboardInterrupt:
        pass
    finally:
        runtime.engine.dispose()


def seed_reference_data(settings: Settings) -> None:
    """Data every bridge needs, demo or not: the starter drug catalogue (idempotent; admins' imports stay)."""
    from bridge.prescriptions.catalogue import seed_catalogue

    with unit_of_work(settings) as services:
        seed_catalogue(services)


@main.group(help="Database.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply all pending migrations.")
def db_upgrade() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    upgrade(settings.database_url)
    seed_reference_data(settings)
    click.echo("database is up to date")


@db.command("reindex", help="Rebuild the FHIR search index from the stored resources.")
def db_reindex() -> None:
    from fhir_adapter.store.reindex import reindex_all

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    with unit_of_work(settings) as services:
        count = reindex_all(services.db)
    click.echo(f"re-indexed {count} resources")
