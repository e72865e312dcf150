"""Logging: readable lines on a terminal, one JSON object per line in containers.

Set `TRITTER_LOG_FORMAT=json` (the images do) for structured logs that log collectors parse;
`TRITTER_LOG_LEVEL` picks the level. Extra structured fields go through `event()`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sys
from typing import Any

_FIELDS = "tritter_fields"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, _FIELDS, {})
        suffix = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"[{record.levelname.lower()}] {record.getMessage()}"
        return f"{line} {suffix}" if suffix else line


def configure(level: str | None = None, json_format: bool | None = None) -> None:
    """Install the Tritter handler on the root `tritter` logger (idempotent)."""
    if json_format is None:
        json_format = os.environ.get("TRITTER_LOG_FORMAT", "").lower() == "json"
    logger = logging.getLogger("tritter")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel((level or os.environ.get("TRITTER_LOG_LEVEL", "INFO")).upper())
    logger.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("tritter") else f"tritter.{name}")


def event(
    logger: logging.Logger, message: str, /, level: int = logging.INFO, **fields: Any
) -> None:
    """Log a message with structured key/value fields (a field may be called `message` or
    `logger` too: those two parameters are positional-only)."""
    logger.log(level, message, extra={_FIELDS: fields})


def json_logs() -> bool:
    return os.environ.get("TRITTER_LOG_FORMAT", "").lower() == "json"
