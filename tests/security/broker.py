"""The shipped broker config (configs/mosquitto/mosquitto.conf) run for real, and a probing client.

:class:`ShippedMosquitto` templates ONLY paths, the listener port and the run-as user; every
security and bounds setting is the shipped file's. :class:`Probe` is a thin synchronous paho
MQTT 5 client that returns the broker's reason codes (CONNACK, SUBACK, PUBACK) and records what
it receives, so a test can assert on both the verdict and the delivery.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.servers import Mosquitto, Pki, require

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "mosquitto" / "mosquitto.conf"
NOT_AUTHORIZED = 0x87
#: PUBACK codes of an accepted publish: success, or success with no subscriber to deliver to
ACCEPTED = frozenset({0x00, 0x10})
WAIT_S = 10.0


class ShippedMosquitto(Mosquitto):
    """Mosquitto running the shipped config with test files (certs, passwd, acl) in ``workdir``."""

    def __init__(self, workdir: Path, pki: Pki, users: dict[str, str], acl: str) -> None:
        self.pki = pki
        self.users = users
        self.acl = acl
        super().__init__(workdir)

    def _listeners(self, workdir: Path) -> str:
        for name, src in (
            ("ca.crt", self.pki.ca),
            ("server.crt", self.pki.server_cert),
            ("server.key", self.pki.server_key),
        ):
            shutil.copy(src, workdir / name)
        tool = require("mosquitto_passwd", "mosquitto")
        for i, (user, password) in enumerate(self.users.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [tool, *create, "-b", str(workdir / "passwd"), user, password],
                check=True,
                capture_output=True,
                timeout=30,
            )
        (workdir / "acl").write_text(self.acl)
        (workdir / "data").mkdir(exist_ok=True)
        text = SHIPPED.read_text()
        for old, new in (
            ("/etc/mosquitto/chargewatch/", f"{workdir}/"),
            ("/var/lib/mosquitto/", f"{workdir}/data/"),
            ("/var/log/mosquitto/mosquitto.log", f"{workdir}/broker.log"),
            ("\nlistener 8883\n", f"\nlistener {self.port} 127.0.0.1\n"),
        ):
            assert old in text, f"the shipped config no longer has {old!r}"
            text = text.replace(old, new)
        # started as root, Mosquitto drops to user "mosquitto", who cannot read the test's temp dir
        return f"user {pwd.getpwuid(os.geteuid()).pw_name}\n{text}"

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def broker_log(self) -> str:
        return (self.workdir / "broker.log").read_text(errors="replace")

    def wait_log(self, text: str) -> None:
        """Until the broker's log holds ``text`` (AssertionError after WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while text not in self.broker_log():
            assert time.monotonic() < deadline, f"broker never logged {text!r}"
            time.sleep(0.02)


class Probe:
    """One MQTT 5 client over TLS: ``connect``, ``subscribe``, ``publish`` return reason codes."""

    def __init__(
        self, broker: ShippedMosquitto, username: str | None, password: str | None, client_id: str
    ) -> None:
        self.broker = broker
        self.name = client_id
        self.received: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._acks: dict[int, tuple[threading.Event, list[int]]] = {}
        self._connack = threading.Event()
        self.connack_rc = -1
        self.disconnected = threading.Event()
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username is not None:
            c.username_pw_set(username, password)
        c.tls_set(ca_certs=str(broker.pki.ca))
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        self.client = c

    # paho callbacks (network thread)
    def _on_connect(self, _c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connack_rc = rc.value
        self._connack.set()

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        self.disconnected.set()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _done(self, mid: int, codes: list[int]) -> None:
        with self._lock:
            ev, out = self._acks.setdefault(mid, (threading.Event(), []))
        out.extend(codes)
        ev.set()

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        self._done(mid, [rc.value])

    def _on_subscribe(self, _c: paho.Client, _u: object, mid: int, rcs: list[ReasonCode], _p: object) -> None:
        self._done(mid, [rc.value for rc in rcs])

    def _wait(self, mid: int, what: str) -> int:
        with self._lock:
            ev, out = self._acks.setdefault(mid, (threading.Event(), []))
        assert ev.wait(WAIT_S), f"{self.name}: no {what} for mid {mid}"
        return out[0]

    # API (test thread)
    def connect(self, will: tuple[str, bytes] | None = None, session_expiry: int = 0) -> int:
        """Connect (with ``will`` if given; a persistent session kept ``session_expiry`` seconds
        when > 0, else a clean start); the CONNACK reason code."""
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
        props.SessionExpiryInterval = session_expiry
        self._connack.clear()
        self.client.connect(
            "127.0.0.1", self.broker.port, keepalive=30, clean_start=session_expiry == 0, properties=props
        )
        self.client.loop_start()
        assert self._connack.wait(WAIT_S), f"{self.name}: no CONNACK"
        return self.connack_rc

    def subscribe(self, topic_filter: str) -> int:
        """SUBACK reason code of one QoS 1 subscription (1 = granted QoS 1, 0x87 = not authorised)."""
        rc, mid = self.client.subscribe(topic_filter, qos=1)
        assert rc == paho.MQTT_ERR_SUCCESS
        assert mid is not None
        return self._wait(mid, "SUBACK")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """PUBACK reason code of one QoS 1 publish (0 = accepted, 0x87 = not authorised)."""
        return self._wait(self.send(topic, payload, retain=retain), "PUBACK")

    def send(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1 without waiting; the message id."""
        return self.client.publish(topic, payload, qos=1, retain=retain).mid

    def sync(self) -> None:
        """A QoS 1 round trip: every message the broker queued for us before it has arrived.

        It goes to a topic outside the ACL, so it is also one more denied cell per account."""
        rc = self.publish(f"cw/v1/sync/{self.name}", b"")
        assert rc == NOT_AUTHORIZED, f"{self.name} may write outside the ACL (PUBACK {rc:#x})"

    def wait_count(self, n: int) -> None:
        """Until at least ``n`` messages arrived (AssertionError after WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while len(self.got()) < n:
            assert time.monotonic() < deadline, f"{self.name}: {len(self.got())} of {n} messages"
            time.sleep(0.01)

    def got(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.received)

    def drop_with_will(self) -> None:
        """Disconnect asking the broker to publish the will (MQTT 5 reason code 0x04)."""
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
        self.client.loop_stop()

    def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()
