"""`bridge endpoint`: an internet hospital's own FHIR endpoint, and the deliveries of results to it.

The command line acts for the operator (any hospital), recorded as `cli:<user>`. The token is read
from standard input, never from the command line, where other users of the machine could see it.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import click

from bridge.cli.common import explain, load_settings, unit_of_work
from bridge.errors import BridgeError
from bridge.logging_config import configure_logging
from bridge.outbox import outbox
from bridge.outbox.endpoints import HOSPITAL_FHIR, HospitalEndpoints, check_connection, cli_actor, view_of
from bridge.outbox.outbox import Status
from bridge.outbox.tables import OutboxMessage
from bridge.services import Services


def _organization_id(services: Services, organization: str) -> str:
    return str(services.organizations.resolve(organization.strip())["id"])


@click.group(help="Internet hospitals' own FHIR endpoints, to which new results are pushed.")
def endpoint() -> None:
    configure_logging("WARNING")


@endpoint.command("set", help="Set (or change) a hospital's endpoint; the bearer token comes from standard input.")
@click.option("--org", "organization", required=True, help="The hospital's Organization id or identifier value.")
@click.option("--url", required=True, help="The FHIR base URL, e.g. https://fhir.example.org/fhir/R4.")
@click.option(
    "--token-stdin", is_flag=True, help="Read a bearer token from standard input (else the stored one stays)."
)
@click.option("--clear-token", is_flag=True, help="Send no bearer token any more.")
@click.option("--inactive", is_flag=True, help="Keep the endpoint but push nothing to it (as if there were none).")
def endpoint_set(organization: str, url: str, token_stdin: bool, clear_token: bool, inactive: bool) -> None:
    token = sys.stdin.readline().strip() if token_stdin else None
    try:
        with unit_of_work(load_settings()) as services:
            org = _organization_id(services, organization)
            view = HospitalEndpoints(services).set(
                org, url, token, cli_actor(getpass.getuser()), clear_token=clear_token, active=not inactive
            )
    except BridgeError as exc:
        raise explain(exc) from None
    state = "" if view.active else ", inactive"
    click.echo(f"{view.organization_id}: {view.base_url} (token {view.token_hint or 'none'}{state})")


@endpoint.command("show", help="A hospital's endpoint and its deliveries by status, with the latest problems.")
@click.option("--org", "organization", required=True, help="The hospital's Organization id or identifier value.")
@click.option("--test", "test_connection", is_flag=True, help="Also try the endpoint (GET [base]/metadata).")
@click.option("--json", "as_json", is_flag=True)
def endpoint_show(organization: str, test_connection: bool, as_json: bool) -> None:
    settings = load_settings()
    try:
        with unit_of_work(settings) as services:
            org = _organization_id(services, organization)
            row = HospitalEndpoints(services).get(org)
            view = view_of(row) if row is not None else None
            token = row.bearer_token if row is not None else None
            counts = outbox.counts(services.db, HOSPITAL_FHIR, org)
            failing = [
                {"id": m.id, "status": m.status, "attempts": m.attempts, "what": m.description, "error": m.last_error}
                for m in outbox.listing(services.db, HOSPITAL_FHIR, org, None, 200)
                if m.last_error and m.status != Status.SENT.value
            ][:10]
    except BridgeError as exc:
        raise explain(exc) from None
    shown: dict[str, Any] = {
        "organization": org,
        "url": view.base_url if view else None,
        "active": view.active if view else None,
        "token": view.token_hint if view else None,
        "updated": f"{view.updated_at.isoformat()} by {view.updated_by}" if view else None,
        "deliveries": counts,
        "problems": failing,
    }
    if test_connection and view is not None:
        check = check_connection(view.base_url, token, settings.outbox_timeout_seconds)
        shown["test"] = {"ok": check.ok, "detail": check.detail}
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False))
        return
    click.echo(f"{org}: {shown['url'] or 'no endpoint (results are not pushed)'}")
    if view is not None:
        state = "active" if view.active else "inactive: nothing is pushed"
        click.echo(f"  {state}; token {shown['token'] or 'none'}; updated {shown['updated']}")
    click.echo("  deliveries: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for problem in failing:
        click.echo(f"  #{problem['id']} {problem['status']} after {problem['attempts']}: {problem['error']}")
    if "test" in shown:
        click.echo(f"  test: {'ok' if shown['test']['ok'] else 'FAILED'} ({shown['test']['detail']})")


@endpoint.command("remove", help="Forget a hospital's endpoint: no more pushes to it.")
@click.option("--org", "organization", required=True, help="The hospital's Organization id or identifier value.")
def endpoint_remove(organization: str) -> None:
    try:
        with unit_of_work(load_settings()) as services:
            org = _organization_id(services, organization)
            removed = HospitalEndpoints(services).remove(org, cli_actor(getpass.getuser()))
    except BridgeError as exc:
        raise explain(exc) from None
    click.echo(f"{org}: endpoint removed" if removed else f"{org}: had no endpoint")


@endpoint.command("retry", help="Send failed deliveries to a hospital again (those given, or all).")
@click.option("--org", "organization", required=True, help="The hospital's Organization id or identifier value.")
@click.option("--id", "message_ids", type=int, multiple=True, help="An outbox message id (repeatable).")
@click.option("--all-failed", is_flag=True, help="Every failed delivery to this hospital.")
def endpoint_retry(organization: str, message_ids: tuple[int, ...], all_failed: bool) -> None:
    if not message_ids and not all_failed:
        raise click.UsageError("name messages with --id, or use --all-failed")
    try:
        with unit_of_work(load_settings()) as services:
            org = _organization_id(services, organization)
            if all_failed:
                message_ids = tuple(
                    m.id for m in outbox.listing(services.db, HOSPITAL_FHIR, org, Status.FAILED, 10_000)
                )
            results = {}
            for message_id in message_ids:
                row = services.db.get(OutboxMessage, message_id)
                ours = row is not None and row.destination_kind == HOSPITAL_FHIR and row.destination_id == org
                results[message_id] = outbox.retry(services.db, message_id, services.now()) if ours else None
    except BridgeError as exc:
        raise explain(exc) from None
    for message_id, result in results.items():
        click.echo(f"#{message_id}: {result.value if result else 'not a delivery to ' + org}")
