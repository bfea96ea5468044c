"""An admin's CSV: all rows or none, row-level errors, imports survive a later seed."""

from __future__ import annotations

import uuid

from bridge.i18n import Translator
from bridge.prescriptions.catalogue import catalogue, seed_catalogue
from bridge.prescriptions.catalogue_import import import_catalogue_csv

HEADER = "code,name_zh,name_en,atc,atc_class,ingredient,dose_unit,max_daily_dose,controlled,egfr_avoid_below\n"


def test_import_creates_updates_and_is_idempotent(bridge) -> None:
    local = f"LOC{uuid.uuid4().hex[:6]}"
    text = HEADER + f"{local},本院氨氯地平,amlodipine (local),C08CA01,C08CA,amlodipine,mg,10,,\n"
    with bridge.services() as services:
        seed_catalogue(services)
        first = import_catalogue_csv(services, text)
        assert first.ok and (first.created, first.updated) == (1, 0)
        assert import_catalogue_csv(services, text).unchanged == 1
        changed = import_catalogue_csv(services, text.replace(",10,", ",5,"))
        assert changed.updated == 1
        drug = catalogue(services).by_code(local)
        assert drug is not None and drug.max_daily_dose == 5 and drug.origin == "import"
        assert services.repository.read("Medication", f"drug-{local.lower()}")["meta"]["versionId"] == "2"
        assert catalogue(services).by_atc("C08CA01").code == "C08CA01"  # the starter entry stays canonical


def test_import_of_a_starter_drug_survives_seeding(bridge) -> None:
    text = HEADER + "C03CA04,托拉塞米（本院）,torasemide,,C03CA,torasemide,mg,100,,\n"
    with bridge.services() as services:
        seed_catalogue(services)
        assert import_catalogue_csv(services, text).ok
        counts = seed_catalogue(services)
        assert counts.kept >= 1
        assert catalogue(services).by_code("C03CA04").max_daily_dose == 100


def test_invalid_file_changes_nothing_and_names_rows(bridge) -> None:
    good = f"NEW{uuid.uuid4().hex[:6]}"
    text = (
        HEADER
        + f"{good},新药,new drug,,,newdrug,mg,,,\n"
        + "bad code!,坏,bad,,,x,mg,,,\n"
        + "X2,无单位,no unit,,,x,tablets,abc,opiate,200\n"
        + f"{good},重复,duplicate,,,x,mg,,,\n"
    )
    with bridge.services() as services:
        seed_catalogue(services)
        report = import_catalogue_csv(services, text)
        assert not report.ok
        where = {(e.row, e.column) for e in report.errors}
        assert {
            (3, "code"),
            (4, "dose_unit"),
            (4, "max_daily_dose"),
            (4, "controlled"),
            (4, "egfr_avoid_below"),
        } <= where
        assert (5, "code") in where
        assert catalogue(services).by_code(good) is None
        messages = report.messages(Translator("en"))
        assert any(m.startswith("row 4, column dose_unit:") and "tablets" in m for m in messages)
        assert any("第 5 行" in m for m in report.messages(Translator("zh-CN")))


def test_header_problems(bridge) -> None:
    with bridge.services() as services:
        missing = import_catalogue_csv(services, "code,name_zh\nX,药\n")
        assert {e.column for e in missing.errors} >= {"name_en", "ingredient", "dose_unit"}
        typo = import_catalogue_csv(services, HEADER.replace("max_daily_dose", "max_dose"))
        assert [(e.row, e.column, e.message_key) for e in typo.errors] == [
            (1, "max_dose", "drugs.import.unknown_column")
        ]
        assert not import_catalogue_csv(services, "").ok
