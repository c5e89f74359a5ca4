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
        # write the cache to TSM files and compact them soon after writes stop, so the bench can
        # measure the bytes a port-sample takes on disk (:func:`settled_bytes`)
        '  cache-snapshot-write-cold-duration = "1s"\n  compact-full-write-cold-duration = "2s"\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    url = f"http://127.0.0.1:{port}"
    with _server([_binary("influxd"), "run", "-config", str(conf)], tmp / "influxd.log"):
        wait(lambda: http(f"{url}/ping", "GET") == 204, "influxd", 30)
        yield url


@contextmanager
def victoria(tmp: Path, retention: str = "30d") -> Iterator[str]:
    """VictoriaMetrics single node (InfluxDB ``/api/v2/write``) keeping ``retention`` of data, with
    the deduplication the gateway needs (README "Stored data"); yields its base URL."""
    port = free_port()
    argv = [
        _binary("victoria-metrics"),
        f"-storageDataPath={tmp}/vmdata",
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-retentionPeriod={retention}",
        "-dedup.minScrapeInterval=1ms",
        "-loggerLevel=ERROR",
    ]
    url = f"http://127.0.0.1:{port}"
    with _server(argv, tmp / "victoria.log"):
        wait(lambda: http(f"{url}/health", "GET") == 200, "victoria-metrics", 30)
        yield url


def dir_bytes(path: Path) -> int:
    """Disk space the files under ``path`` use, like ``du`` (0 when it does not exist): allocated
    blocks, not sizes, since InfluxDB preallocates its series-file segments as sparse files."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def settled_bytes(path: Path, within: float, flush: str = "") -> int:
    """On-disk size of ``path`` once the store has flushed and compacted: ``flush`` (a URL to
    POST, e.g. VictoriaMetrics' ``/internal/force_flush``) first, then the size must hold still
    for 3 s in a row (InfluxDB snapshots its cache and compacts its TSM files on its own)."""
    if flush:
        http(flush, "GET")
    deadline = time.monotonic() + within
    last, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = dir_bytes(path)
        if size != last:
            last, still_since = size, time.monotonic()
        elif time.monotonic() - still_since >= 3.0:
            return size
        time.sleep(0.25)
    raise BenchError(f"the store's data in {path} did not settle within {within:.0f} s")
