"""The one translation mechanism: message keys looked up in per-locale JSON catalogues.

Simplified Chinese is the default; English is available. Templates, form errors and API error
messages all go through :class:`Translator`, so no text is written twice in code.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LOCALE = "zh-CN"
SUPPORTED_LOCALES = ("zh-CN", "en")
LOCALE_NAMES = {"zh-CN": "中文", "en": "English"}


@cache
def catalogue(locale: str) -> dict[str, str]:
    text = resources.files(__package__).joinpath(f"{locale}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def negotiate(*candidates: str | None) -> str:
    """The first supported locale among the candidates (account setting, cookie, ...), else Chinese."""
    for candidate in candidates:
        if not candidate:
            continue
        if candidate in SUPPORTED_LOCALES:
            return candidate
        if candidate.lower().startswith("zh"):
            return "zh-CN"
        if candidate.lower().startswith("en"):
            return "en"
    return DEFAULT_LOCALE


class Translator:
    def __init__(self, locale: str = DEFAULT_LOCALE) -> None:
        self.locale = locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE

    def __call__(self, key: str, **params: Any) -> str:
        text = catalogue(self.locale).get(key) or catalogue(DEFAULT_LOCALE).get(key)
        if text is None:
            logger.warning("missing translation key %r", key)
            return key
        return text.format(**params) if params else text

    @property
    def html_lang(self) -> str:
        return "zh-Hans" if self.locale == "zh-CN" else self.locale
