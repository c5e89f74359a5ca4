"""The agent's MQTT link over TLS with credentials, against a real Mosquitto (MosquittoTls).

Trusted CA + password from the environment: telemetry flows, acks empty the outbox, the status
is retained. Every refusal (untrusted broker, wrong password, missing client certificate) is a
LinkError that names the broker and says why, within the connect timeout. Settings reject a
password in the YAML and bad TLS files at load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import msgspec
import pytest

from chargewatch.errors import ConfigError
from chargewatch.messages import Status, decode_message
from chargewatch.mqtt_transport import Connection, Endpoint
from chargewatch.topics import agent_status_topic
from edge_agent.acker import Acker
from edge_agent.config import load_config
from edge_agent.mqtt import LinkError, MqttLink, mqtt_settings
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for, wait_empty
from tests.support.servers import MosquittoTls, Pki

PW_ENV = "CW_TEST_MQTT_PASSWORD"
EXAMPLE = Path(__file__).resolve().parents[3] / "configs" / "agent.example.yaml"
CONNECT_TIMEOUT = 3.0


def _endpoint(broker: MosquittoTls, **kw: object) -> Endpoint:
    """A TLS endpoint trusting the test CA as the ``acker`` user; ``kw`` overrides any field."""
    opts: dict[str, object] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "client_id": "probe",
        "clean_start": True,
        "tls": True,
        "ca_file": str(broker.pki.ca),
        "username": "acker",
        "password": broker.users["acker"],
        "connect_timeout": CONNECT_TIMEOUT,
    }
    opts.update(kw)
    return Endpoint(**opts)  # type: ignore[arg-type]


async def _refusal(ep: Endpoint) -> str:
    """The LinkError message of connecting to ``ep``, which must fail within the connect timeout."""
    async with asyncio.timeout(CONNECT_TIMEOUT + 2.0):
        with pytest.raises(LinkError) as info:
            async with Connection(ep, lambda _t, _p: None):
                pass
    return str(info.value)


async def _retained_status(broker: MosquittoTls, agent: str) -> Status:
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_message(_topic: str, payload: bytes) -> None:
        if not got.done():
            got.set_result(payload)

    async with Connection(_endpoint(broker, client_id="status-reader"), on_message) as conn:
        async with asyncio.timeout(20):
            await conn.subscribe([(agent_status_topic(agent), 1)])
            msg = decode_message(await got)
    assert isinstance(msg, Status)
    return msg


@pytest.mark.integration
async def test_agent_over_tls_with_password_from_env_is_acked(
    mosquitto_tls: MosquittoTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = mosquitto_tls
    monkeypatch.setenv(PW_ENV, broker.users["agent-1"])
    settings = mqtt_for(broker.url, username="agent-1", password_env=PW_ENV, ca_file=str(broker.pki.ca))
    assert settings.tls
    acker = Acker(broker.url, username="acker", password=broker.users["acker"], ca_file=str(broker.pki.ca))
    with Outbox(outbox_for(tmp_path)) as box:
        async with acker, MqttLink(settings, box, agent="agent-1", devices=["pile-1"]) as link:
            async with asyncio.timeout(10):
                await acker.wait_ready()
                await link.wait_connected()
            seqs = [add_tel(box, "pile-1", time.time()) for _ in range(50)]
            async with asyncio.timeout(10):
                await acker.wait_count(50)
                await wait_empty(box)
            assert acker.seqs("pile-1", box.boot) == seqs
            assert link.health.acked == 50
            status = await _retained_status(broker, "agent-1")
    assert status.online
    assert status.boot == box.boot
    assert status.devices == ["pile-1"]


@pytest.mark.integration
async def test_untrusted_broker_is_a_tls_link_error(mosquitto_tls: MosquittoTls) -> None:
    message = await _refusal(_endpoint(mosquitto_tls, ca_file=str(mosquitto_tls.pki.other_ca)))
    assert f"mqtts://127.0.0.1:{mosquitto_tls.port}" in message
    assert "TLS handshake failed" in message
    assert "not trusted" in message
    assert "ca_file" in message


class _Failures(logging.Handler):
    """Collects ``mqtt_connect_failed`` lines and wakes a waiter on the first one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if line.startswith("mqtt_connect_failed"):
            self.lines.append(line)
            self.seen.set()


@pytest.mark.integration
async def test_link_with_untrusted_broker_logs_the_tls_failure_and_stays_down(
    mosquitto_tls: MosquittoTls, tmp_path: Path
) -> None:
    broker = mosquitto_tls
    settings = mqtt_for(broker.url, connect_timeout_s=CONNECT_TIMEOUT, ca_file=str(broker.pki.other_ca))
    failures = _Failures()
    link_log = logging.getLogger("edge_agent.mqtt.link")
    link_log.addHandler(failures)
    try:
        with Outbox(outbox_for(tmp_path)) as box:
            async with MqttLink(settings, box, agent="agent-1", devices=["pile-1"]) as link:
                async with asyncio.timeout(CONNECT_TIMEOUT + 2.0):
                    await failures.seen.wait()
                assert not link.is_connected
    finally:
        link_log.removeHandler(failures)
    assert "TLS handshake failed" in failures.lines[0]
    assert broker.url in failures.lines[0]


@pytest.mark.integration
async def test_wrong_password_is_refused_naming_the_client(mosquitto_tls: MosquittoTls) -> None:
    message = await _refusal(_endpoint(mosquitto_tls, client_id="agent-7", password="not-the-password"))  # noqa: S106 -- a wrong one on purpose
    assert f"mqtts://127.0.0.1:{mosquitto_tls.port}" in message
    assert "refused client 'agent-7'" in message
    assert "Not authorized" in message


@pytest.mark.integration
async def test_client_certificate_listener(mosquitto_tls: MosquittoTls) -> None:
    broker, pki = mosquitto_tls, mosquitto_tls.pki
    message = await _refusal(_endpoint(broker, port=broker.mtls_port))
    assert f"mqtts://127.0.0.1:{broker.mtls_port}" in message
    assert "client 'probe' before its CONNACK" in message
    assert "requires a client certificate, set cert_file and key_file" in message
    with_cert = _endpoint(
        broker, port=broker.mtls_port, cert_file=str(pki.client_cert), key_file=str(pki.client_key)
    )
    async with asyncio.timeout(CONNECT_TIMEOUT + 2.0), Connection(with_cert, lambda _t, _p: None) as conn:
        assert conn.connected


def test_password_in_the_agent_yaml_is_rejected(tmp_path: Path) -> None:
    raw = msgspec.yaml.decode(EXAMPLE.read_bytes())
    raw["mqtt"].update(username="site-a", password="hunter2")  # noqa: S106 -- the secret we refuse
    path = tmp_path / "agent.yaml"
    path.write_bytes(msgspec.yaml.encode(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "mqtt.password must not be written in the config" in message
    assert "password_env" in message
    assert "hunter2" not in message


def test_tls_files_are_checked_at_load(tmp_path_factory: pytest.TempPathFactory) -> None:
    pki = Pki.ensure(tmp_path_factory.getbasetemp() / "pki")
    base = {"url": "mqtts://127.0.0.1:8883", "client_id": "agent-1"}
    ok = mqtt_settings(
        {**base, "ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    )
    assert (ok.tls, ok.port) == (True, 8883)
    cases = [
        (
            {"ca_file": str(pki.directory / "missing.crt")},
            "mqtt.ca_file .*missing.crt.* is not a readable file. Fix",
        ),
        ({"ca_file": str(pki.client_key)}, "mqtt.ca_file .* holds no PEM certificate"),
        ({"cert_file": str(pki.client_cert)}, "mqtt.cert_file and mqtt.key_file go together"),
        (
            {"cert_file": str(pki.client_cert), "key_file": str(pki.server_key)},
            "mqtt.cert_file .* and mqtt.key_file .* are not a PEM certificate and its",
        ),
    ]
    for extra, needle in cases:
        with pytest.raises(ConfigError, match=rf"agent\.yaml: mqtt: {needle}"):
            mqtt_settings({**base, **extra}, "agent.yaml")
    with pytest.raises(ConfigError, match=r"is not TLS\. Fix: use an mqtts://host:port url"):
        mqtt_settings({**base, "url": "mqtt://127.0.0.1:1883", "ca_file": str(pki.ca)}, "agent.yaml")
