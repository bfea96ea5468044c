"""What every `bridge` command shares: settings, a unit of work, and errors as readable messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import ValidationError

from bridge.errors import BridgeError, InvalidInput
from bridge.i18n import Translator
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.settings import Settings


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = "; ".join(str(err.get("ctx", {}).get("error", err["msg"])) for err in exc.errors())
        raise click.ClickException(f"configuration refused: {messages}") from None


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[Services]:
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session_factory.begin() as db:
            yield Services(db, runtime)
    finally:
        runtime.engine.dispose()


def explain(error: BridgeError) -> click.ClickException:
    t = Translator("en")
    if isinstance(error, InvalidInput):
        details = "; ".join(f"{e.field}: {t(e.message_key, **e.params)}" for e in error.errors)
        return click.ClickException(details)
    return click.ClickException(t(error.message_key, **error.params))
