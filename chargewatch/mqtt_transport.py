"""One MQTT connection: a paho-mqtt 2.x client driven by the asyncio loop, no network thread.

Shared by the edge agent and the gateway.

paho's socket callbacks register the socket with the loop (``add_reader``/``add_writer``), so
every callback runs in the loop thread and costs what plain paho costs (aiomqtt adds a future
per message, ≈ 3× the cost). Only the blocking TCP/TLS connect runs in a worker thread, bounded
by the connect timeout, so a slow broker never stalls the agent's loop (interlocks run there).
Each readable event reads on while messages keep arriving (up to ``READ_BURST``), so a busy
subscriber pays one loop wake-up per burst, not per message; :meth:`Connection.pause_reading`
stops reading (backpressure: the broker queues instead).

The agent makes a fresh paho client per connection: the durable session state that matters
lives in the outbox, and a dead client's in-memory queue must not re-send behind our back. The
gateway passes one client (:func:`make_client`) to each of its connections, so paho re-sends its
unacknowledged QoS 1 publishes (acks, alerts) after a reconnect, as a persistent session should.

TLS (``mqtts://``) verifies the broker against ``ca_file`` (the system CAs when unset), also for
its host name or IP, and presents ``cert_file``/``key_file`` when given. A failed handshake is a
LinkError naming the broker and the TLS reason; a broker that closes the TLS session before its
CONNACK (a client certificate it requires but did not get) is reported with paho's socket error,
which paho only logs: the connection listens to paho's log until the CONNACK, and no longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion, LogLevel, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from chargewatch.errors import ChargeWatchError
from chargewatch.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MISC_INTERVAL = 1.0
READ_BURST = 256


def check_tls_files(
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    *,
    name: Callable[[str], str],
    user: str,
) -> None:
    """Raise ValueError unless every TLS file given is readable and loads as what it should be.

    ``name`` spells a setting in the caller's config (``mqtt.ca_file``, `` `ca_file` ``);
    ``user`` is who reads the files (the agent, the gateway). An encrypted key fails here
    instead of prompting on the terminal."""
    files = (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file))
    for key, path in files:
        if path and not (Path(path).is_file() and os.access(path, os.R_OK)):
            raise ValueError(
                f"{name(key)} {path!r} is not a readable file. Fix: correct the path (relative paths "
                f"start from the {user}'s working directory) or make it readable by the {user} user"
            )
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(ca_file)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{name('ca_file')} {ca_file!r} holds no PEM certificate ({exc}). "
                "Fix: point it at the CA certificate that signed the broker's certificate"
            ) from exc
    if cert_file:
        try:
            ctx.load_cert_chain(cert_file, key_file, password="")
        except ssl.SSLError as exc:
            raise ValueError(
                f"{name('cert_file')} {cert_file!r} and {name('key_file')} {key_file!r} are not a PEM "
                f"certificate and its unencrypted private key ({exc}). Fix: give the matching pair"
            ) from exc


class LinkError(ChargeWatchError):
    """The broker could not be reached or refused us; the message names the broker."""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Everything needed to open one connection."""

    host: str
    port: int
    client_id: str
    keepalive: int = 30
    clean_start: bool = False
    session_expiry: int = 86_400
    mqtt5: bool = True
    connect_timeout: float = 10.0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    max_inflight: int = 20
    will: tuple[str, bytes] | None = None
    setting_prefix: str = ""
    """How the caller's config names the TLS settings in hints (the gateway's ``mqtt.``)."""

    @property
    def name(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


MessageHandler = Callable[[str, bytes], None]
PubackHandler = Callable[[int], None]


class Connection:
    """``async with Connection(ep, on_message, on_puback) as c``: connected on entry or LinkError."""

    def __init__(
        self,
        ep: Endpoint,
        on_message: MessageHandler,
        on_puback: PubackHandler | None = None,
        *,
        client: paho.Client | None = None,
    ) -> None:
        self.ep = ep
        self.session_present = False
        self._on_message = on_message
        self._on_puback = on_puback
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        self._lost: asyncio.Future[str] = self._loop.create_future()
        self._misc: asyncio.Task[None] | None = None
        self._sock: Any = None
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._socket_error = ""
        self._received = 0
        self._paused = False
        self.client = make_client(ep) if client is None else client
        self._bind(self.client)

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Connection:
        ep = self.ep
        try:
            async with asyncio.timeout(ep.connect_timeout + 1.0):
                await asyncio.to_thread(self._connect_blocking)
                reason = await asyncio.shield(self._connack)
        except ssl.SSLError as exc:
            self._teardown()
            why = _tls_reason(exc, ep.setting_prefix)
            raise LinkError(f"{ep.name}: TLS handshake failed for client {ep.client_id!r}: {why}") from exc
        except (OSError, TimeoutError) as exc:
            self._teardown()
            raise LinkError(f"{ep.name}: cannot connect: {exc!r}") from exc
        except BaseException:
            self._teardown()
            raise
        if reason.is_failure:
            self._teardown()
            raise LinkError(f"{ep.name}: broker refused client {ep.client_id!r}: {reason}")
        self._misc = asyncio.create_task(self._misc_loop(), name=f"mqtt-misc-{ep.client_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        misc, self._misc = self._misc, None
        await cancel_and_wait(misc)
        if self.connected:
            self.client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self._lost)
        self._teardown()

    def _connect_blocking(self) -> None:
        """TCP (+TLS) connect and CONNECT packet; runs in a worker thread."""
        ep = self.ep
        if ep.mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
            props.SessionExpiryInterval = ep.session_expiry
            rc = self.client.connect(
                ep.host, ep.port, ep.keepalive, clean_start=ep.clean_start, properties=props
            )
        else:
            rc = self.client.connect(ep.host, ep.port, ep.keepalive)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkError(f"{ep.name}: connect failed: {paho.error_string(rc)}")

    @property
    def connected(self) -> bool:
        return self._connack.done() and not self._lost.done()

    async def wait_lost(self) -> str:
        """Return the reason once the connection is gone."""
        return await asyncio.shield(self._lost)

    # -- I/O ---------------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue one publish; returns its mid (its PUBACK reaches ``on_puback``)."""
        return self.client.publish(topic, payload, qos=qos, retain=retain).mid

    async def subscribe(self, topics: list[tuple[str, int]]) -> None:
        """Subscribe and wait for the SUBACK (bounded by the connect timeout)."""
        if not topics:
            return
        rc, mid = self.client.subscribe(topics)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise LinkError(f"{self.ep.name}: subscribe failed: {paho.error_string(rc)}")
        done = self._subacks[mid] = self._loop.create_future()
        try:
            async with asyncio.timeout(self.ep.connect_timeout):
                await done
        except TimeoutError as exc:
            raise LinkError(f"{self.ep.name}: no SUBACK within {self.ep.connect_timeout} s") from exc
        finally:
            self._subacks.pop(mid, None)

    # -- paho glue ---------------------------------------------------------------------------
    def _bind(self, c: paho.Client) -> None:
        c.on_log = self._cb_log
        c.on_connect = self._cb_connect
        c.on_disconnect = self._cb_disconnect
        c.on_message = self._cb_message
        c.on_publish = self._cb_publish
        c.on_subscribe = self._cb_subscribe
        c.on_socket_open = self._cb_sock_open
        c.on_socket_close = self._cb_sock_close
        c.on_socket_register_write = self._cb_reg_write
        c.on_socket_unregister_write = self._cb_unreg_write

    def _in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        if threading.get_ident() == self._thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _cb_sock_open(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._sock = sock
        self._in_loop(self._loop.add_reader, sock, self._readable)

    def _cb_sock_close(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._loop.remove_reader, sock)
        self._in_loop(self._loop.remove_writer, sock)

    def _cb_reg_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._loop.add_writer, sock, self.client.loop_write)

    def _cb_unreg_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._loop.remove_writer, sock)

    def pause_reading(self) -> None:
        """Stop reading the socket until :meth:`resume_reading`.

        paho's keepalive goes on without reading the PINGRESP: a pause of about two keepalives
        ends the connection as if the broker had gone."""
        self._paused = True
        sock = self.client.socket()
        if sock is not None:
            self._loop.remove_reader(sock)

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`; a no-op when reading."""
        if not self._paused:
            return
        self._paused = False
        sock = self.client.socket()
        if sock is not None:
            self._loop.add_reader(sock, self._readable)
            if _pending(sock):  # TLS bytes already decrypted: the socket will not wake us
                self._loop.call_soon(self._readable)

    def _readable(self) -> None:
        client = self.client
        for _ in range(READ_BURST):
            received = self._received
            client.loop_read()
            sock = client.socket()
            if sock is None or self._paused or (self._received == received and not _pending(sock)):
                return
        if _pending(client.socket()):  # a long burst: go on after the loop's other callbacks
            self._loop.call_soon(self._readable)

    def _cb_log(self, _c: paho.Client, _u: Any, level: int, buf: str) -> None:
        if level == LogLevel.MQTT_LOG_ERR:
            self._socket_error = buf

    def _cb_connect(self, client: paho.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        client.on_log = None  # formatting every packet's log line costs; only the handshake needs it
        self.session_present = bool(flags.session_present)
        if not self._connack.done():
            self._connack.set_result(rc)

    def _cb_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not self._lost.done():
            self._lost.set_result(str(rc))
        if not self._connack.done():
            self._connack.set_exception(self._closed_early(str(rc)))

    def _cb_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self._received += 1
        self._on_message(msg.topic, bytes(msg.payload))

    def _cb_publish(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        if self._on_puback is not None:
            self._on_puback(mid)

    def _cb_subscribe(self, _c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        done = self._subacks.get(mid)
        if done is not None and not done.done():
            done.set_result(None)

    def _closed_early(self, reason: str) -> LinkError:
        """The broker hung up before its CONNACK: say why, as far as the socket told."""
        ep = self.ep
        text = (
            f"{ep.name}: the broker closed the connection of client {ep.client_id!r} before its "
            f"CONNACK ({self._socket_error or reason})"
        )
        if ep.tls and ep.cert_file is None:
            # the TLS 1.3 "certificate required" alert is often lost to the connection reset
            text += (
                f"; if the broker requires a client certificate, set {ep.setting_prefix}cert_file "
                f"and {ep.setting_prefix}key_file"
            )
        return LinkError(text)

    async def _misc_loop(self) -> None:
        while not self._lost.done():
            await asyncio.sleep(MISC_INTERVAL)
            self.client.loop_misc()

    def _teardown(self) -> None:
        sock = self.client.socket() or self._sock
        if sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            with contextlib.suppress(OSError):
                sock.close()
        if not self._lost.done():
            self._lost.set_result("closed")
        if not self._connack.done():
            self._connack.cancel()


def _pending(sock: Any) -> bool:
    """TLS bytes decrypted and buffered, which no readable event announces."""
    return hasattr(sock, "pending") and sock.pending() > 0


def _tls_reason(exc: ssl.SSLError, setting_prefix: str) -> str:
    """What went wrong in the handshake, and where to look."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the broker's certificate is not trusted: {exc.verify_message}. "
            f"Fix: set {setting_prefix}ca_file to the CA that signed it, and connect by a name or IP it "
            "carries"
        )
    return str(exc.reason or exc)


def make_client(ep: Endpoint) -> paho.Client:
    """A paho client configured for ``ep`` (protocol, session, window, credentials, TLS, will)."""
    if ep.mqtt5:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=ep.client_id, protocol=paho.MQTTv5)
    else:
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=ep.client_id,
            protocol=paho.MQTTv311,
            clean_session=ep.clean_start,
        )
    c.connect_timeout = ep.connect_timeout
    c.max_inflight_messages_set(ep.max_inflight)
    c.max_queued_messages_set(0)
    if ep.username is not None:
        c.username_pw_set(ep.username, ep.password)
    if ep.tls:
        try:
            c.tls_set(ca_certs=ep.ca_file, certfile=ep.cert_file, keyfile=ep.key_file)
        except (OSError, ValueError) as exc:
            raise LinkError(
                f"{ep.name}: cannot load TLS files ca_file={ep.ca_file} cert_file={ep.cert_file} "
                f"key_file={ep.key_file}: {exc}"
            ) from exc
    if ep.will is not None:
        c.will_set(ep.will[0], ep.will[1], qos=1, retain=True)
    return c
