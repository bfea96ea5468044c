"""`bridge quarantine`: what could not be processed, and fixing it (match a resident, replay, discard).

The command line acts for the operator: every organisation's entries, recorded as done by `cli:<user>`.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from bridge.cli.common import explain, load_settings, unit_of_work
from bridge.errors import BridgeError
from bridge.ingest.quarantine import Quarantine, QuarantineStatus
from bridge.ingest.replay import replay
from bridge.logging_config import configure_logging


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.group(help="Inbound results that could not be processed, kept with the reason.")
def quarantine() -> None:
    configure_logging("WARNING")


@quarantine.command("list", help="Entries, newest first.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in QuarantineStatus]),
    default=QuarantineStatus.QUARANTINED.value,
    show_default=True,
)
@click.option("--all", "every", is_flag=True, help="Every status.")
@click.option("--json", "as_json", is_flag=True)
def quarantine_list(status: str, every: bool, as_json: bool) -> None:
    with unit_of_work(load_settings()) as services:
        rows = Quarantine(services).listing(None, None if every else QuarantineStatus(status))
        listed: list[dict[str, Any]] = [
            {
                "id": r.id,
                "kind": r.kind,
                "received_at": r.received_at.isoformat(),
                "sender": r.sender,
                "organization": r.organization_id,
                "channel": r.channel,
                "status": r.status,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "attempts": r.attempts,
                "patient": r.patient_id,
            }
            for r in rows
        ]
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False))
        return
    if not listed:
        click.echo("nothing in the quarantine")
    for item in listed:
        click.echo(
            f"{item['id']}  {item['received_at'][:19]}  {item['kind']:<5}  {item['status']:<11}  "
            f"{item['sender']}  {item['reason_code']}: {item['reason']}"
        )


@quarantine.command("show", help="One entry: its reason and the input as received (text inputs).")
@click.argument("entry_id")
def quarantine_show(entry_id: str) -> None:
    try:
        with unit_of_work(load_settings()) as services:
            entry = Quarantine(services).get(entry_id)
            row = entry.row
            click.echo(f"{row.kind} from {row.sender} ({row.channel}) at {row.received_at.isoformat()}")
            click.echo(f"status {row.status}, {row.attempts} attempt(s); {row.reason_code}: {row.reason}")
            if row.patient_id:
                click.echo(f"matched to Patient/{row.patient_id} by {row.resolved_by}")
            for name, content in entry.files.items():
                click.echo(f"--- {name} ({len(content)} bytes)")
                if row.kind == "hl7v2":
                    click.echo(content.decode("utf-8", "replace").replace("\r", "\n"))
    except BridgeError as exc:
        raise explain(exc) from None


@quarantine.command("match", help="Say which resident an entry is about; `replay` then uses it.")
@click.argument("entry_id")
@click.option("--patient", "patient_id", required=True, help="The resident's Patient id.")
def quarantine_match(entry_id: str, patient_id: str) -> None:
    try:
        with unit_of_work(load_settings()) as services:
            services.repository.read("Patient", patient_id)
            Quarantine(services).match_resident(entry_id, patient_id, _actor(), None)
    except BridgeError as exc:
        raise explain(exc) from None
    click.echo(f"{entry_id} matched to Patient/{patient_id}")


@quarantine.command("replay", help="Process an entry again, as its sender.")
@click.argument("entry_id")
def quarantine_replay(entry_id: str) -> None:
    try:
        with unit_of_work(load_settings()) as services:
            result = replay(services, entry_id, _actor(), None)
    except BridgeError as exc:
        raise explain(exc) from None
    if not result.processed:
        raise click.ClickException(f"{entry_id} is still quarantined: {result.detail}")
    click.echo(f"{entry_id} processed: {result.detail}")


@quarantine.command("discard", help="Close an entry without processing it (kept, with who and why).")
@click.argument("entry_id")
@click.option("--why", required=True)
def quarantine_discard(entry_id: str, why: str) -> None:
    try:
        with unit_of_work(load_settings()) as services:
            Quarantine(services).discard(entry_id, _actor(), why, None)
    except BridgeError as exc:
        raise explain(exc) from None
    click.echo(f"{entry_id} discarded")
