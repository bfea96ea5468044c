"""The package layout DESIGN.md fixes, and the fhir.resources name trap."""

from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fhir_folder_is_not_a_package() -> None:
    assert not (ROOT / "fhir" / "__init__.py").exists(), "fhir/__init__.py would shadow fhir.resources"


def test_both_fhir_packages_import() -> None:
    resources = importlib.import_module("fhir.resources.R4B.patient")
    adapter = importlib.import_module("fhir_adapter.store.repository")
    assert "site-packages" in str(resources.__file__) or "fhir/resources" in str(resources.__file__)
    assert Path(str(adapter.__file__)).is_relative_to(ROOT / "fhir" / "fhir_adapter")


def test_libraries_do_not_import_the_application() -> None:
    for package in ("fhir/fhir_adapter", "rtc"):
        for source in (ROOT / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "import bridge" not in text and "from bridge" not in text, source
            assert "from portal" not in text and "import portal" not in text, source


def test_only_the_composition_root_imports_the_portal() -> None:
    importers = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "bridge").rglob("*.py")
        if "from portal" in p.read_text(encoding="utf-8")
    ]
    assert importers == ["bridge/app.py"]


def test_translation_catalogues_have_the_same_keys_and_cover_every_key_used() -> None:
    import json
    import re

    zh = json.loads((ROOT / "bridge/i18n/zh-CN.json").read_text(encoding="utf-8"))
    en = json.loads((ROOT / "bridge/i18n/en.json").read_text(encoding="utf-8"))
    assert zh.keys() == en.keys()
    used: set[str] = set()
    for path in [
        *(ROOT / "portal").rglob("*.html"),
        *(ROOT / "bridge").rglob("*.py"),
        *(ROOT / "portal").rglob("*.py"),
    ]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_.]+)["']""", text))
        used |= set(re.findall(r"""["']((?:error|field|login|nav|home|admin|audit)\.[a-z_.]+)["']""", text))
    # keys built from a prefix and a value ("role." ~ r.value) are checked where the values are known
    used = {key for key in used if not key.endswith((".html", ".py", "_", "."))}
    missing = sorted(key for key in used if key not in zh)
    assert missing == []
