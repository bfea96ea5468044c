"""Bridge instances as real `bridge serve` processes sharing one database and one Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping

import httpx

from tests.support import free_port


class Instance:
    def __init__(self, name: str, env: Mapping[str, str], port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._process: subprocess.Popen[str] | None = None
        self.log = ""

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/signal"

    def start(self, timeout: float = 60) -> Instance:
        command = [sys.executable, "-m", "bridge", "serve", "--demo", "--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(
            command, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.stop()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.stop()}")

    def stop(self, *, crash: bool = False) -> str:
        """Stop (SIGTERM: uvicorn closes its sockets) or crash (SIGKILL: nothing is cleaned up)."""
        process, self._process = self._process, None
        if process is None:
            return self.log
        if crash:
            process.kill()
        else:
            process.terminate()
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        self.log += output
        return self.log


def instance_env(database_url: str, redis_url: str, public_url: str) -> dict[str, str]:
    return {
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_REDIS_URL": redis_url,
        # Runs of the suite (and other deployments) may share this Redis: channels of their own.
        "BRIDGE_REDIS_CHANNEL_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
        "BRIDGE_PUBLIC_BASE_URL": public_url,  # one issuer and audience: tokens work on every instance
        "BRIDGE_DEMO_MODE": "true",
        # Short, but not so short that a loaded 2-core machine misses heartbeats: stale after 6 s.
        "BRIDGE_RECONNECT_WINDOW_SECONDS": "8",
        "BRIDGE_CONSULT_TIMER_INTERVAL_SECONDS": "0.25",
        "BRIDGE_SIGNAL_HEARTBEAT_SECONDS": "2",
        "BRIDGE_LOG_LEVEL": "WARNING",
    }


def token(instance: Instance, username: str) -> str:
    response = httpx.post(
        f"{instance.url}/auth/token",
        data={"grant_type": "password", "username": username, "password": "bridge-demo-2026"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def client_token(instance: Instance, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{instance.url}/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=20
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
