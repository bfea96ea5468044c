"""Settings refuse placeholder secrets outside demo mode, naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from bridge.settings import DEMO_SECRET_KEY, Settings


@pytest.mark.parametrize("secret", ["", "changeme", "change-me", "secret", DEMO_SECRET_KEY, "too-short"])
def test_placeholder_or_short_secret_is_refused(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="BRIDGE_SECRET_KEY"):
        Settings(secret_key=secret)


def test_demo_mode_runs_with_the_demo_key() -> None:
    settings = Settings(demo_mode=True)
    assert settings.secret_key.get_secret_value() == DEMO_SECRET_KEY
    assert settings.database_url.startswith("sqlite:///")


def test_turn_secret_must_be_real_when_turn_is_configured() -> None:
    with pytest.raises(ValidationError, match="BRIDGE_TURN_SHARED_SECRET"):
        Settings(secret_key="x" * 40, turn_urls=["turn:turn.example:3478"], turn_shared_secret="changeme")


def test_token_lifetime_is_at_most_15_minutes() -> None:
    with pytest.raises(ValidationError):
        Settings(secret_key="x" * 40, token_lifetime_seconds=3600)


def test_settings_come_from_bridge_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("BRIDGE_PUBLIC_BASE_URL", "https://bridge.example/")
    monkeypatch.setenv("BRIDGE_TURN_URLS", '["turn:a:3478","turns:a:5349"]')
    settings = Settings()
    assert settings.public_base_url == "https://bridge.example" and settings.cookies_secure
    assert settings.turn_urls == ["turn:a:3478", "turns:a:5349"]


def test_serve_refuses_to_start_without_a_secret(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "BRIDGE_SECRET_KEY" in result.stderr
