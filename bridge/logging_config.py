"""The one place where logging is configured; modules only call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    formatter = "json" if as_json else "plain"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                "json": {"()": JsonFormatter},
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": formatter}},
            "root": {"level": level, "handlers": ["console"]},
            "loggers": {"uvicorn.access": {"level": "WARNING"}},
        }
    )
