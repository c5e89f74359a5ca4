"""Real servers for integration tests, started on loopback with ephemeral ports and temp dirs.

Each server is started and stopped by PID by the test that owns it. A missing binary fails
the test under ``CI=true`` and skips it loudly elsewhere (see :func:`require`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(binary: str, package: str) -> str:
    """Path of ``binary``; fail under CI, skip loudly elsewhere, when it is not installed."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        msg = f"{binary} not found: install the Debian package {package!r} (bash .ci/run does)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(f"SKIPPED — NEEDS A REAL SERVER: {msg}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until ``url`` answers with a 2xx status."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                if 200 <= resp.status < 300:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {last}")


class Server:
    """A child process we started; stopped and killed only by its own PID."""

    def __init__(self, argv: list[str], workdir: Path, name: str) -> None:
        self.argv = argv
        self.workdir = workdir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"{name}.log"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{self.name} already running as pid {self.proc.pid}")
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Mosquitto(Server):
    """Mosquitto with its default settings (no persistence) on an ephemeral loopback port."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"{self._listeners(workdir)}{extra_conf}\n")
        super().__init__([require("mosquitto", "mosquitto"), "-c", str(conf)], workdir, "mosquitto")

    def _listeners(self, workdir: Path) -> str:
        """The listener and access part of the config (``workdir`` holds any files it needs)."""
        return f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        assert self.proc is not None
        wait_port(self.port, proc=self.proc)


@dataclass(frozen=True)
class Pki:
    """A throwaway CA, a server cert for 127.0.0.1 (IP SAN) and localhost, a client cert, and a
    second, unrelated CA (a wrong trust anchor), as PEM files in ``directory`` (EC P-256 keys)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def other_ca(self) -> Path:
        return self.directory / "other-ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @classmethod
    def ensure(cls, directory: Path) -> Pki:
        """The PKI in ``directory``, made with the ``openssl`` CLI unless it is already there."""
        pki = cls(directory)
        if not pki.client_key.exists():
            directory.mkdir(parents=True, exist_ok=True)
            openssl = require("openssl", "openssl")
            pki._make_ca(openssl, "ca", "cw-test-ca")
            pki._make_ca(openssl, "other-ca", "cw-other-ca")
            pki._make_leaf(openssl, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n", "serverAuth")
            pki._make_leaf(openssl, "client", "", "clientAuth")
        return pki

    def _run(self, openssl: str, *args: str) -> None:
        subprocess.run([openssl, *args], cwd=self.directory, check=True, capture_output=True, timeout=30)

    def _new_key(self, name: str) -> list[str]:
        return [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            f"{name}.key",
        ]

    def _make_ca(self, openssl: str, name: str, cn: str) -> None:
        self._run(openssl, "req", "-x509", *self._new_key(name), "-out", f"{name}.crt", "-subj", f"/CN={cn}")

    def _make_leaf(self, openssl: str, name: str, san: str, usage: str) -> None:
        ext = self.directory / f"{name}.ext"
        ext.write_text(
            f"basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
            f"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n{san}"
        )
        self._run(openssl, "req", *self._new_key(name), "-out", f"{name}.csr", "-subj", f"/CN=cw-test-{name}")
        sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", str(secrets.randbits(63))]
        self._run(
            openssl, "x509", "-req", "-in", f"{name}.csr", *sign, "-extfile", ext.name, "-out", f"{name}.crt"
        )


class MosquittoTls(Mosquitto):
    """Mosquitto with two TLS listeners and password auth (``allow_anonymous false``).

    ``port`` wants the server to be trusted (``pki.ca``) and a username/password from ``users``;
    ``mtls_port`` also requires a client certificate signed by the same CA.
    """

    USERS: ClassVar[dict[str, str]] = {"agent-1": "agent-pw", "acker": "acker-pw", "gateway": "gw-pw"}

    def __init__(self, workdir: Path, pki: Pki, extra_conf: str = "") -> None:
        self.pki = pki
        self.mtls_port = free_port()
        self.users = dict(self.USERS)
        super().__init__(workdir, extra_conf)

    def _listeners(self, workdir: Path) -> str:
        passwd = workdir / "passwd"
        tool = require("mosquitto_passwd", "mosquitto")
        for i, (user, password) in enumerate(self.users.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [tool, *create, "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
                timeout=30,
            )
        p = self.pki
        tls = f"cafile {p.ca}\ncertfile {p.server_cert}\nkeyfile {p.server_key}\n"
        # started as root, Mosquitto drops to user "mosquitto", who cannot read the test's temp dir
        return (
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
            f"listener {self.port} 127.0.0.1\n{tls}require_certificate false\n"
            f"listener {self.mtls_port} 127.0.0.1\n{tls}require_certificate true\n"
        )

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    @property
    def mtls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.mtls_port}"

    def start(self) -> None:
        super().start()
        assert self.proc is not None
        wait_port(self.mtls_port, proc=self.proc)


class InfluxDB1(Server):
    """InfluxDB 1.x (Debian ``influxdb``) with its data in a temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        rpc = free_port()
        conf = workdir / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
            f'[meta]\n  dir = "{workdir}/meta"\n'
            f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
        )
        super().__init__([require("influxd", "influxdb"), "run", "-config", str(conf)], workdir, "influxd")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_http(f"{self.url}/ping", proc=self.proc)


class VictoriaMetrics(Server):
    """VictoriaMetrics single node (Debian ``victoria-metrics``): serves InfluxDB ``/api/v2/write``."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        super().__init__(
            [
                require("victoria-metrics", "victoria-metrics"),
                f"-storageDataPath={workdir}/vmdata",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-search.latencyOffset=0s",
                "-dedup.minScrapeInterval=1ms",
                "-loggerLevel=ERROR",
            ],
            workdir,
            "victoria-metrics",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_http(f"{self.url}/health", proc=self.proc)


class Alertmanager(Server):
    """Prometheus Alertmanager (Debian ``prometheus-alertmanager``) with ``config`` (YAML text),
    its storage in a temp dir and clustering off (an empty ``--cluster.listen-address``)."""

    def __init__(self, workdir: Path, config: str) -> None:
        self.port = free_port()
        conf = workdir / "alertmanager.yml"
        conf.write_text(config)
        super().__init__(
            [
                require("prometheus-alertmanager", "prometheus-alertmanager"),
                f"--config.file={conf}",
                f"--storage.path={workdir}/data",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            workdir,
            "alertmanager",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_http(f"{self.url}/-/ready", proc=self.proc)


class PtyPair(Server):
    """Two linked pseudo-terminals from socat, standing in for an RS-485 line."""

    def __init__(self, workdir: Path) -> None:
        self.a = workdir / "ttyA"
        self.b = workdir / "ttyB"
        super().__init__(
            [
                require("socat", "socat"),
                "-d",
                f"pty,raw,echo=0,link={self.a}",
                f"pty,raw,echo=0,link={self.b}",
            ],
            workdir,
            "socat",
        )

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 10
        while not (self.a.exists() and self.b.exists()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"socat did not create {self.a} and {self.b}: {self.log_tail()}")
            time.sleep(0.02)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Start ``server`` and stop it (by its PID) on exit."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
