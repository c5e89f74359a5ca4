"""Start-up checks shared by ``chargewatch agent|gateway|sim --check`` and their start-up paths.

Each check either returns a short "ok" description or raises :class:`CheckFailedError` whose
message is one line naming what was checked (and the config key behind it) and why it failed.
Every network wait has a deadline. Nothing here keeps a connection or a socket open.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from chargewatch.errors import ChargeWatchError
from chargewatch.mqtt_transport import Connection, Endpoint, LinkError

__all__ = [
    "CheckFailedError",
    "http_ok",
    "mqtt_connack",
    "port_free",
    "serial_present",
    "tcp_reachable",
    "writable_dir",
]

TIMEOUT_S = 3.0


class CheckFailedError(ChargeWatchError):
    """A start-up check failed; the message is one line: what, where, why, and the fix."""


def tcp_reachable(host: str, port: int, what: str, timeout: float = TIMEOUT_S) -> str:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return f"{what} {host}:{port} reachable"
    except OSError as exc:
        raise CheckFailedError(f"{what} {host}:{port} is not reachable: {_why(exc)}") from exc


def port_free(host: str, port: int, what: str) -> str:
    """``host:port`` can be bound now (what a server about to start needs); port 0 always can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CheckFailedError(
                    f"{what} {host}:{port} is already in use by another process. "
                    "Fix: stop that process or configure another port"
                ) from exc
            raise CheckFailedError(f"{what} {host}:{port} cannot be bound: {_why(exc)}") from exc
    return f"{what} {host}:{port} free"


def serial_present(path: str, what: str) -> str:
    """The serial device exists and this user may read and write it."""
    if not os.path.exists(path):
        raise CheckFailedError(f"{what} {path} does not exist. Fix: plug the adapter in or fix the path")
    if not os.access(path, os.R_OK | os.W_OK):
        raise CheckFailedError(
            f"{what} {path} is not readable and writable by this user. "
            "Fix: add the user to the dialout group (the systemd unit does)"
        )
    return f"{what} {path} present"


def http_ok(url: str, what: str, timeout: float = TIMEOUT_S) -> str:
    """``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL from the operator's config
            return f"{what} {url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        raise CheckFailedError(f"{what} {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CheckFailedError(f"{what} {url} is not reachable: {reason}") from exc


def mqtt_connack(ep: Endpoint, what: str) -> str:
    """TCP (+TLS) connect and a successful CONNACK with ``ep``'s credentials.

    Connects as ``<client_id>-check`` with a clean session and no will, so a running service's
    persistent session under the real id is neither taken over nor disturbed.
    """
    probe = replace(
        ep,
        client_id=f"{ep.client_id}-check"[:64],
        clean_start=True,
        session_expiry=0,
        will=None,
        connect_timeout=min(ep.connect_timeout, TIMEOUT_S),
    )

    async def connect() -> None:
        async with Connection(probe, lambda _t, _p: None):
            pass

    try:
        asyncio.run(connect())
    except LinkError as exc:
        raise CheckFailedError(f"{what}: {exc}") from exc
    return f"{what} {ep.name} accepted client {probe.client_id!r}"


def writable_dir(path: Path | str, what: str) -> str:
    """The folder holding ``path`` exists (or can be made) and this user may write in it."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckFailedError(f"{what} folder {folder} cannot be created: {_why(exc)}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CheckFailedError(f"{what} folder {folder} is not writable by this user")
    return f"{what} folder {folder} writable"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
