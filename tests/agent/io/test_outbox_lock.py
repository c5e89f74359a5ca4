"""One agent per outbox: a second opener gets a clear error naming the lock file and the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.outbox import Outbox, OutboxLockedError
from tests.agent.io.support import outbox_for
from tests.support.servers import free_port


def test_second_outbox_in_one_process_is_refused(tmp_path: Path) -> None:
    settings = outbox_for(tmp_path)
    with Outbox(settings) as first:
        with pytest.raises(OutboxLockedError) as err:
            Outbox(settings).open()
        assert f"{settings.path}.lock" in str(err.value)
        assert f"pid {os.getpid()}" in str(err.value)
        assert first.boot == 1
    with Outbox(settings) as again:  # released on close
        assert again.boot == 2


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        "agent_id: lock-test\n"
        "buses:\n"
        "  - name: tcp\n"
        "    transport: tcp\n"
        "    host: 127.0.0.1\n"
        f"    port: {free_port()}\n"
        "    timeout_s: 0.2\n"
        "    devices:\n"
        "      - {id: pile-1, unit: 1, model: cw-pile-10, poll_s: 1.0}\n"
        "outbox:\n"
        f"  path: {tmp_path / 'outbox.sqlite3'}\n"
    )
    return cfg


def test_second_agent_process_refuses_to_start(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    argv = [sys.executable, "-m", "chargewatch_cli", "agent", "--config", str(cfg)]
    lock = tmp_path / "outbox.sqlite3.lock"
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None, "the first agent exited"
            assert time.monotonic() < deadline, "the first agent never took the lock"
            time.sleep(0.05)
        second = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(15)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert lines[-1] == (
        f"chargewatch agent: {lock}: outbox is in use by another agent (pid {first.pid}); "
        "stop it or give this agent its own outbox.path"
    )
