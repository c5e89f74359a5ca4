"""The moving parts of the outage run: child processes we start and stop by PID, and a TCP relay.

* :class:`Child` — one process (Mosquitto, InfluxDB, the agent, the gateway) with ``start``,
  ``kill`` (SIGKILL, as a crash), ``stop`` (SIGTERM, as an operator), ``pause``/``resume``
  (SIGSTOP/SIGCONT: a hung server whose sockets stay open);
* :class:`Relay` — a loopback TCP relay between the agent and the broker; ``stop`` closes its
  listener and every connection (a partition), ``start`` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from chargewatch.errors import ChargeWatchError


class OutageError(ChargeWatchError):
    """A part of the outage run did not come up or did not behave in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    """Path of a server binary; OutageError naming the Debian package when missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), ""
    )
    if not path:
        raise OutageError(f"{name} not found: install it (Debian packages mosquitto, influxdb)")
    return path


def can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def http_status(url: str) -> int:
    """HTTP status of a GET to a loopback URL this run started (0 when nothing answers)."""
    if not url.startswith("http://127.0.0.1:"):
        raise OutageError(f"refusing to open {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback, checked above
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def wait_until(check: Callable[[], bool], what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise OutageError(f"{what} not ready after {within} s")
        time.sleep(0.05)


class Child:
    """A child process started and signalled only by its own PID; output appended to ``log``."""

    def __init__(
        self, argv: list[str], log: Path, ready: Callable[[], bool] | None = None, cwd: Path | None = None
    ) -> None:
        self.argv = argv
        self.log = log
        self.ready = ready
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, within: float = 30.0) -> None:
        if self.running:
            raise OutageError(f"{self.argv[0]} already running as pid {self.proc and self.proc.pid}")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd)
        if self.ready is not None:
            wait_until(
                lambda: self.ready is not None and (self.ready() or self._died()), str(self.argv[:3]), within
            )
            if self._died():
                raise OutageError(f"{self.argv[:3]} exited at start-up; see {self.log}")

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _signal(self, sig: signal.Signals) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM (a clean stop); SIGKILL after 15 s. The exit status."""
        if self.proc is None:
            return 0
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the process hangs with its sockets open."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


class Relay:
    """Loopback TCP relay ``port`` → ``target``; ``stop`` cuts every connection."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, (writer, up_writer)), name="relay-pipe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, pair: tuple[asyncio.StreamWriter, ...]
    ) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in pair:
                w.transport.abort()
                self._writers.discard(w)
