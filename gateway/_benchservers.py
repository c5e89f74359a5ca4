"""Servers the ingest benchmark starts for itself: Mosquitto, InfluxDB 1.x, VictoriaMetrics.

Each runs on free loopback ports with its data in the bench's temp dir and is stopped by PID
(terminate, then kill after 10 s). Used by the benchmarks (:mod:`gateway.bench`, :mod:`gateway.bench_flood`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chargewatch.errors import ChargeWatchError


class BenchError(ChargeWatchError):
    """A bench phase failed or ran out of time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not ready after {within} s")
        time.sleep(0.05)


def _can_connect(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 0.5):
        return True


def http(url: str, method: str) -> int:
    """Status of a request to a loopback server the bench started (http only)."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to open {url!r}")
    req = urllib.request.Request(url, method=method)  # noqa: S310 - checked above
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - checked above
        return int(resp.status)


@contextmanager
def _server(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), ""
    )
    if not path:
        raise BenchError(
            f"{name} not found: install it (Debian packages mosquitto, influxdb, victoria-metrics)"
        )
    return path


@contextmanager
def mosquitto(tmp: Path, max_queued: int | None = 2_000_000) -> Iterator[int]:
    """Mosquitto on a free port; ``max_queued`` None keeps its default queue limits."""
    port = free_port()
    conf = tmp / "mosquitto.conf"
    queue = "" if max_queued is None else f"max_queued_messages {max_queued}\nmax_queued_bytes 0\n"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{queue}")
    with _server([_binary("mosquitto"), "-c", str(conf)], tmp / "mosquitto.log"):
        wait(lambda: _can_connect(port), "mosquitto", 15)
        yield port


@contextmanager
def influxd(tmp: Path) -> Iterator[str]:
    port, rpc = free_port(), free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{tmp}/meta"\n'
        f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    url = f"http://127.0.0.1:{port}"
    with _server([_binary("influxd"), "run", "-config", str(conf)], tmp / "influxd.log"):
        wait(lambda: http(f"{url}/ping", "GET") == 204, "influxd", 30)
        yield url


@contextmanager
def victoria(tmp: Path) -> Iterator[str]:
    """VictoriaMetrics single node (InfluxDB ``/api/v2/write``); yields its base URL."""
    port = free_port()
    argv = [
        _binary("victoria-metrics"),
        f"-storageDataPath={tmp}/vmdata",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-loggerLevel=ERROR",
    ]
    url = f"http://127.0.0.1:{port}"
    with _server(argv, tmp / "victoria.log"):
        wait(lambda: http(f"{url}/health", "GET") == 200, "victoria-metrics", 30)
        yield url
