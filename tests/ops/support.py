"""Helpers for the operations tests: CLI processes, config files as data, store readers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.servers import Server

REPO = Path(__file__).resolve().parents[2]
CHARGEWATCH = [sys.executable, "-m", "chargewatch_cli"]


def cli(*args: str, cwd: Path | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``chargewatch ARGS`` in a child process (the checkout's interpreter) and capture it."""
    return subprocess.run(
        [*CHARGEWATCH, *args], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def write_yaml(data: Any, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sqlite_points(path: Path, measurement: str) -> int:
    """Points stored in measurement ``measurement`` of a gateway's SQLite store (0 if none yet)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(
            db.execute("SELECT count(*) FROM points WHERE measurement=?", (measurement,)).fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def alive(procs: Sequence[Server]) -> bool:
    """True while every process runs; AssertionError with its log once one has exited."""
    for p in procs:
        if p.proc is not None and p.proc.poll() is not None:
            raise AssertionError(f"{p.name} exited with {p.proc.returncode}:\n{p.log_tail()}")
    return True


def eventually(cond: Callable[[], bool], within: float, what: str, logs: Callable[[], str]) -> None:
    """Poll ``cond`` until true; AssertionError naming ``what`` with the process logs otherwise."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s\n{logs()}")
        time.sleep(0.2)
