"""The ``bridge`` command as a user runs it, against a fresh database.

The commands run in the test process (tests/bridge/cli/support.py): what is tested is what they do, not
Python's start-up. ``python -m bridge`` and ``bridge serve`` run as real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bridge.cli.support import SECRET, run, run_process
from tests.support import free_port, fresh_database


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: these tests count what the commands create."""
    with fresh_database(backend, str(tmp_path)) as url:
        yield url


COMMANDS = [[], ["serve"], ["demo"], ["user", "add"], ["client", "add"], ["db", "upgrade"], ["db", "reindex"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = run([*command, "--help"], None)
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_python_m_bridge_is_the_command() -> None:
    result = run_process(["--help"])
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and all(c in result.stdout for c in ("serve", "demo", "user", "db", "drugs"))


def test_db_reindex_rebuilds_the_search_index(database_url: str) -> None:
    assert run(["demo"], database_url).returncode == 0
    result = run(["db", "reindex"], database_url)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[1]) >= 100  # every demo resource and audit event


def test_demo_is_idempotent_and_lists_what_exists(database_url: str) -> None:
    first = run(["demo", "--json"], database_url)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    kinds = [o["kind"] for o in summary["organizations"]]
    assert kinds.count("nursing-home") == 2 and kinds.count("internet-hospital") == 1 and "pharmacy" in kinds
    assert {a["role"] for a in summary["accounts"]} >= {"nurse", "doctor", "pharmacist", "supervisor", "admin"}
    assert 10 <= len(summary["residents"]) <= 14
    second = run(["demo", "--json"], database_url)
    assert json.loads(second.stdout) == summary


def test_user_add_reads_the_password_from_stdin(database_url: str) -> None:
    run(["db", "upgrade"], database_url)
    run(["demo"], database_url)
    added = run(
        ["user", "add", "--username", "nurse.li", "--role", "nurse", "--org", "H2", "--password-stdin"],
        database_url,
        stdin="a-strong-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["organization_id"] == "demo-home-2"
    duplicate = run(
        ["user", "add", "--username", "nurse.li", "--role", "nurse", "--org", "H2", "--password-stdin"],
        database_url,
        stdin="a-strong-password\n",
    )
    assert duplicate.returncode != 0 and "username" in duplicate.stderr
    wrong_org = run(
        ["user", "add", "--username", "dr.x", "--role", "doctor", "--org", "H2", "--password-stdin"],
        database_url,
        stdin="a-strong-password\n",
    )
    assert wrong_org.returncode != 0 and "role" in wrong_org.stderr


def test_client_add_prints_credentials_that_work(database_url: str, tmp_path: Path) -> None:
    run(["demo"], database_url)
    added = run(
        [
            "client",
            "add",
            "--name",
            "Pharmacy system",
            "--org",
            "demo-pharmacy",
            "--scope",
            "system/MedicationRequest.rs system/Task.rus",
            "--json",
        ],
        database_url,
    )
    assert added.returncode == 0, added.stderr
    creds = json.loads(added.stdout)
    assert creds["client_id"] and creds["client_secret"]
    bad_scope = run(["client", "add", "--name", "x", "--org", "demo-pharmacy", "--scope", "user/Task.r"], database_url)
    assert bad_scope.returncode != 0 and "scope" in bad_scope.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update({"BRIDGE_DATABASE_URL": database_url, "BRIDGE_SECRET_KEY": SECRET})
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base)
        token = httpx.post(
            f"{base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        )
        assert token.status_code == 200 and token.json()["scope"] == "system/MedicationRequest.rs system/Task.rus"
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_serve_demo_is_the_readme_first_command(tmp_path: Path) -> None:
    """`bridge serve --demo` on an empty SQLite file: migrations, demo data, health, login page."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base)
            login = httpx.get(f"{base}/login")
            assert login.status_code == 200 and "<form" in login.text
            assert (tmp_path / "var" / "bridge.db").exists()
        finally:
            server.terminate()
            server.wait(timeout=20)
    output = log_path.read_text()
    assert "nurse1" in output and "bridge-demo-2026" in output


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the bridge did not become healthy within 60 s")
