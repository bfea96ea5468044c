"""Every database test runs on SQLite and on PostgreSQL (a failure, not a skip, when CI lacks it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.db.migrate import upgrade
from bridge.demo.seed import DEMO_PASSWORD, seed_demo
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.settings import Settings
from tests.fhir_peer import medplum  # noqa: F401 - the Medplum validator, a session fixture for every test
from tests.support import AdjustableClock, LiveServer, fresh_database

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
_OPEN_CLIENTS: list[httpx.Client] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`, the README's command) each file's tests run on one worker,
    as `--dist loadfile` would, and every file that drives Chromium shares one group: two browsers with
    WebRTC calls at once on a two-core machine starve each other's media (a consult then sat in
    "reconnecting" past its test's timeout), so they take turns while the other worker runs the rest."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    browser_files = {item.path for item in items if item.get_closest_marker("browser")}
    for item in items:
        group = "chromium" if item.path in browser_files else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    """Tests keep signed-in clients around freely; they are closed here, not leaked as sockets."""
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class _PerBackend:
    """Each backend's session database and seeded live bridge, made on first use, kept to the session's end.

    pytest keeps one value of a parametrized session fixture at a time and makes it again when the
    parameter changes. A plain run orders the tests so that happens once, but pytest-xdist (files
    grouped, below) runs each file's SQLite and PostgreSQL tests together, which would seed a fresh
    bridge twice per file; here the fixtures below only look their backend up.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._stack = ExitStack()
        self._urls: dict[str, str] = {}
        self._bridges: dict[str, Bridge] = {}

    def database_url(self, backend: str) -> str:
        if backend not in self._urls:
            url = self._stack.enter_context(fresh_database(backend, str(self._tmp.mktemp(backend))))
            upgrade(url)
            self._urls[backend] = url
        return self._urls[backend]

    def bridge(self, backend: str) -> Bridge:
        if backend not in self._bridges:
            self._bridges[backend] = self._stack.enter_context(_served_bridge(self.database_url(backend), self._tmp))
        return self._bridges[backend]

    def close(self) -> None:
        self._stack.close()  # bridges first, then their databases: the reverse of making them


@pytest.fixture(scope="session")
def _per_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_PerBackend]:
    per_backend = _PerBackend(tmp_path_factory)
    yield per_backend
    per_backend.close()


@pytest.fixture(scope="session")
def database_url(backend: str, _per_backend: _PerBackend) -> str:
    return _per_backend.database_url(backend)


@dataclass
class Bridge:
    """A seeded bridge on one backend, served over real HTTP."""

    runtime: Runtime
    clock: AdjustableClock
    url: str

    def services(self) -> Any:
        return _services_cm(self.runtime)

    def client(self, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=20, **kwargs)
        _OPEN_CLIENTS.append(client)
        return client

    def token(self, username: str, password: str = DEMO_PASSWORD, scope: str = "") -> str:
        data = {"grant_type": "password", "username": username, "password": password}
        if scope:
            data["scope"] = scope
        response = httpx.post(f"{self.url}/auth/token", data=data, timeout=20)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def bearer(self, username: str, **kwargs: Any) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {self.token(username, **kwargs)}"})


class _services_cm:  # noqa: N801 - used as a context manager
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __enter__(self) -> Services:
        self._cm = self._runtime.session_factory.begin()
        return Services(self._cm.__enter__(), self._runtime)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET, public_base_url="http://testserver", **overrides)


@pytest.fixture(scope="session")
def bridge(backend: str, database_url: str, _per_backend: _PerBackend) -> Bridge:
    return _per_backend.bridge(backend)


@contextmanager
def _served_bridge(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    clock = AdjustableClock()
    recordings = tmp_path_factory.mktemp("recordings")
    settings = make_settings(database_url, login_max_failures=3, recording_dir=recordings)
    runtime = Runtime.from_settings(settings, clock=clock)
    with runtime.session_factory.begin() as db:
        seed_demo(Services(db, runtime))
    with LiveServer(create_app(runtime=runtime)) as server:
        yield Bridge(runtime, clock, server.url)
    runtime.engine.dispose()
