"""Structured logging: one line per event, ``key=value`` pairs after the event name."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def kv(event: str, **fields: Any) -> str:
    """``event key=value ...`` with values quoted where needed."""
    if not fields:
        return event
    return event + " " + " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())


def describe(exc: BaseException) -> str:
    """``Type: message at file:line`` of where ``exc`` was raised (one log field)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


def setup(level: str = "INFO") -> None:
    """Configure the root logger for ``ts level logger event key=value`` lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
