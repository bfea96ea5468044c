"""`bridge drugs`: the drug catalogue (import an admin's CSV, list or search the drugs)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bridge.cli.common import load_settings, unit_of_work
from bridge.i18n import Translator
from bridge.logging_config import configure_logging
from bridge.prescriptions.catalogue import catalogue, seed_catalogue
from bridge.prescriptions.catalogue_import import import_catalogue_csv


@click.group(help="The drug catalogue doctors prescribe from.")
def drugs() -> None:
    configure_logging("WARNING")


@drugs.command("import", help="Add or update drugs from a CSV file (the columns of drugs.csv); all or nothing.")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def drugs_import(csv_file: Path) -> None:
    try:
        text = csv_file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file} is not UTF-8 text") from None
    t = Translator("en")
    with unit_of_work(load_settings()) as services:
        report = import_catalogue_csv(services, text)
    if not report.ok:
        for message in report.messages(t):
            click.echo(message, err=True)
        raise click.ClickException(f"nothing imported: {len(report.errors)} error(s) in {csv_file}")
    click.echo(report.summary(t))


@drugs.command("seed", help="Write the shipped starter catalogue (idempotent; imported drugs are kept).")
def drugs_seed() -> None:
    with unit_of_work(load_settings()) as services:
        counts = seed_catalogue(services)
    click.echo(
        f"starter catalogue: {counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged, "
        f"{counts.kept} kept as imported"
    )


@drugs.command("list", help="The catalogue's drugs, by code.")
@click.option("--search", "text", default="", help="Part of a code, a Chinese or English name, or an ingredient.")
@click.option("--json", "as_json", is_flag=True)
def drugs_list(text: str, as_json: bool) -> None:
    with unit_of_work(load_settings()) as services:
        found = catalogue(services).search(text)
    if as_json:
        click.echo(json.dumps([{"id": d.medication_id, **d.as_row()} for d in found], ensure_ascii=False))
        return
    if not found:
        click.echo("no drug matches" if text else "the catalogue is empty")
    for drug in found:
        flags = " ".join(f for f in (drug.controlled, f"qt:{drug.qt_risk}" if drug.qt_risk else None) if f)
        maximum = f"max {drug.max_daily_dose:g} {drug.dose_unit}/d" if drug.max_daily_dose else ""
        line = f"{drug.code:<10} {drug.name_zh}  {drug.name_en}  [{drug.atc_class or '-'}]  {maximum}  {flags}"
        click.echo(line.rstrip())
