"""Running ``bridge`` commands in the test process, or as the real process where the process is the point.

In-process runs go through click's CliRunner with the environment a fresh ``python -m bridge`` would see
(no inherited ``BRIDGE_`` variables, standard input and output of its own). Starting Python and importing
the bridge costs about 3 seconds a command, which is what these tests do not test; ``bridge serve`` and
``python -m bridge`` itself are still run as processes (test_cli.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from click.testing import CliRunner

from bridge.cli.main import main

SECRET = "cli-test-secret-key-long-enough-0123456789abc"


def command_environment(database_url: str | None, **env: str) -> dict[str, str | None]:
    """What CliRunner sets for a run: every inherited ``BRIDGE_`` variable unset, then the test's own."""
    environment: dict[str, str | None] = {key: None for key in os.environ if key.startswith("BRIDGE_")}
    if database_url is not None:
        environment.update({"BRIDGE_DATABASE_URL": database_url, "BRIDGE_SECRET_KEY": SECRET})
    environment.update(env)
    return environment


@contextmanager
def logging_kept() -> Iterator[None]:
    """Commands configure logging for their process (dictConfig on the root logger); the test process's
    own configuration (pytest's capture handlers, levels) is put back afterwards."""
    manager = logging.root.manager
    loggers = [logging.root, *(lg for lg in manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    try:
        yield
    finally:
        for lg, level, handlers, propagate, disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled


def run(
    args: list[str], database_url: str | None, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``bridge ARGS`` in this process; the result looks like the finished process's.

    An exception the command does not turn into a message is raised here rather than becoming a
    non-zero exit: a traceback is never an acceptable answer to a user.
    """
    runner = CliRunner()
    with logging_kept():
        result = runner.invoke(
            main, args, input=stdin, env=command_environment(database_url, **env), catch_exceptions=False
        )
    return subprocess.CompletedProcess(["bridge", *args], result.exit_code, result.stdout, result.stderr)


def run_process(args: list[str], database_url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` as a real process, with the same environment as ``run``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    environment.update({k: v for k, v in command_environment(database_url, **env).items() if v is not None})
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
