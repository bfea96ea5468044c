"""`bridge drugs` as an admin runs it, against a fresh database (in the test process: tests/bridge/cli/support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.cli.support import run
from tests.support import fresh_database

HEADER = "code,name_zh,name_en,atc_class,ingredient,dose_unit,max_daily_dose\n"


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, str(tmp_path)) as url:
        yield url


def test_seed_import_and_list(database_url: str, tmp_path: Path) -> None:
    # `bridge db upgrade` (and `bridge serve`) write the starter catalogue: seeding again creates nothing.
    assert run(["db", "upgrade"], database_url).returncode == 0
    shipped = json.loads(run(["drugs", "list", "--json"], database_url).stdout)
    assert len(shipped) >= 100
    seeded = run(["drugs", "seed"], database_url)
    assert seeded.returncode == 0, seeded.stderr
    assert "0 created" in seeded.stdout and "0 updated" in seeded.stdout

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "LOCAL-1,本院复方制剂,local combination,C09DX,valsartan,mg,320\n", encoding="utf-8")
    imported = run(["drugs", "import", str(good)], database_url)
    assert imported.returncode == 0, imported.stderr
    assert "1 created" in imported.stdout

    listed = run(["drugs", "list", "--search", "本院", "--json"], database_url)
    assert listed.returncode == 0, listed.stderr
    assert [d["id"] for d in json.loads(listed.stdout)] == ["drug-local-1"]
    text = run(["drugs", "list", "--search", "metformin"], database_url).stdout
    assert "A10BA02" in text and "二甲双胍" in text


def test_import_of_a_bad_file_reports_rows_and_changes_nothing(database_url: str, tmp_path: Path) -> None:
    assert run(["db", "upgrade"], database_url).returncode == 0
    before = json.loads(run(["drugs", "list", "--json"], database_url).stdout)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "OK-1,好,good,,x,mg,\nBAD-1,坏,bad,,x,pills,\n", encoding="utf-8")
    result = run(["drugs", "import", str(bad)], database_url)
    assert result.returncode != 0
    assert "row 3, column dose_unit" in result.stderr and "nothing imported" in result.stderr
    assert json.loads(run(["drugs", "list", "--json"], database_url).stdout) == before


def test_help() -> None:
    for command in (["drugs"], ["drugs", "import"], ["drugs", "list"], ["drugs", "seed"]):
        result = run([*command, "--help"], None)
        assert result.returncode == 0 and "Usage:" in result.stdout
