"""Structured logs: one JSON object per line, one line per decision.

Platform log pipelines (Knative, Loki, Cloud Logging) index JSON fields, so every decision carries
the event id, source, emitter, dependent, KFP run id and outcome as fields rather than prose, and
the CloudEvents `traceparent` rides along so a log line can be joined to its trace.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from ..settings import LogFormat

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        fields = " ".join(f"{k}={v}" for k, v in extra.items())
        return f"{record.levelname:<7} {record.getMessage()} {fields}".rstrip()


def configure_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Idempotent: functions-framework may import the entry module more than once."""
    logger = logging.getLogger("kfp_chain")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        if getattr(handler, "_kfp_chain", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._kfp_chain = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
