"""The gateway's MQTT over TLS with credentials: config checked at load, refusals named, and an
agent's messages stored and acked end to end through a real TLS Mosquitto (MosquittoTls)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from chargewatch.errors import ConfigError
from chargewatch.mqtt_config import MqttConfig
from edge_agent.mqtt import MqttLink, MqttSettings
from edge_agent.outbox import Outbox
from edge_agent.outbox.settings import OutboxSettings
from gateway.app import Gateway
from gateway.config import (
    GatewayConfig,
    HttpConfig,
    LimitsConfig,
    SpoolConfig,
    StoreConfig,
    load_config,
    validate_config,
)
from gateway.ingest.mqtt import MqttError, MqttSession
from tests.gateway.ingest.support import wait_for
from tests.support.servers import MosquittoTls, Pki, free_port

GW_PW_ENV = "CW_TEST_GATEWAY_MQTT_PASSWORD"
AGENT_PW_ENV = "CW_TEST_AGENT_MQTT_PASSWORD"


def _yaml(tmp_path: Path, mqtt: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"mqtt:\n  client_id: cw-gateway-1\n{mqtt}store:\n  kind: sqlite\n  path: {tmp_path}/ts.db\n"
    )
    return path


def test_mqtts_config_loads_with_its_tls_files(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pki = Pki.ensure(tmp_path_factory.getbasetemp() / "pki")
    cfg = load_config(
        _yaml(
            tmp_path,
            f"  url: mqtts://broker.example\n  ca_file: {pki.ca}\n"
            f"  cert_file: {pki.client_cert}\n  key_file: {pki.client_key}\n",
        )
    ).mqtt
    assert (cfg.tls, cfg.host, cfg.port) == (True, "broker.example", 8883)
    assert cfg.ca_file == str(pki.ca)


@pytest.mark.parametrize(
    ("mqtt", "needle"),
    [
        (
            "  url: mqtt://127.0.0.1:1883\n  ca_file: {ca}\n",
            r"mqtt\.ca_file is set but mqtt\.url .* is not TLS\. Fix",
        ),
        ("  url: mqtts://h\n  cert_file: {cert}\n", r"mqtt\.cert_file and mqtt\.key_file go together\. Fix"),
        (
            "  url: mqtts://h\n  ca_file: {dir}/nope.crt\n",
            r"mqtt\.ca_file '.*nope\.crt' is not a readable file\. Fix",
        ),
        ("  url: mqtts://h\n  ca_file: {key}\n", r"mqtt\.ca_file '.*' holds no PEM certificate .* Fix"),
        (
            "  url: mqtts://h\n  cert_file: {cert}\n  key_file: {other_key}\n",
            r"mqtt\.cert_file '.*' and mqtt\.key_file '.*' are not a PEM certificate and its .* Fix",
        ),
        ("  url: ws://h:80\n", r"mqtt\.url 'ws://h:80' must be mqtt://host:port or mqtts://host:port"),
        ("  url: mqtts://h\n  password: x\n", r"mqtt\.password must not be written in the config"),
    ],
)
def test_bad_tls_config_names_file_key_and_fix(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, mqtt: str, needle: str
) -> None:
    pki = Pki.ensure(tmp_path_factory.getbasetemp() / "pki")
    files = {
        "ca": pki.ca,
        "cert": pki.client_cert,
        "key": pki.client_key,
        "other_key": pki.server_key,
        "dir": pki.directory,
    }
    path = _yaml(tmp_path, mqtt.format(**files))
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def _mqtt(broker: MosquittoTls, client_id: str, **changes: str) -> MqttConfig:
    """The gateway's MQTT config for ``broker``: TLS trusting the test CA, user ``gateway``."""
    base = MqttConfig(
        url=broker.url,
        client_id=client_id,
        keepalive_s=5,
        connect_timeout_s=3.0,
        username="gateway",
        password_env=GW_PW_ENV,
        ca_file=str(broker.pki.ca),
    )
    return msgspec.structs.replace(base, **changes)


@pytest.mark.integration
async def test_session_refusals_are_named(mosquitto_tls: MosquittoTls) -> None:
    broker, pki = mosquitto_tls, mosquitto_tls.pki
    cases = [
        (
            _mqtt(broker, "gw-ca", ca_file=str(pki.other_ca)),
            "gateway",
            r"TLS handshake failed.*not trusted.*set mqtt\.ca_file",
        ),
        (_mqtt(broker, "gw-pw"), "wrong", "broker refused client 'gw-pw': Not authorized"),
        (
            _mqtt(broker, "gw-nocert", url=broker.mtls_url),
            "gateway",
            "before its CONNACK .*set mqtt.cert_file and mqtt.key_file",
        ),
    ]
    for cfg, user, needle in cases:
        password = broker.users.get(user, "not-the-password")
        async with MqttSession(cfg, ["cw/#"], password=password) as session:
            with pytest.raises(MqttError, match=needle) as info:
                await session.wait_connected(2.0)
            assert cfg.url in str(info.value)
            assert not session.connected
    with_cert = _mqtt(
        broker, "gw-cert", url=broker.mtls_url, cert_file=str(pki.client_cert), key_file=str(pki.client_key)
    )
    async with MqttSession(with_cert, ["cw/#"], password=broker.users["gateway"]) as session:
        await session.wait_connected(5.0)
        assert session.last_error == ""


@pytest.mark.integration
async def test_agent_messages_stored_and_acked_over_tls(
    mosquitto_tls: MosquittoTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = mosquitto_tls
    monkeypatch.setenv(GW_PW_ENV, broker.users["gateway"])
    monkeypatch.setenv(AGENT_PW_ENV, broker.users["agent-1"])
    cfg = validate_config(
        GatewayConfig(
            site="test",
            analytics="threshold",
            mqtt=_mqtt(broker, "gw-tls"),
            store=StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite")),
            spool=SpoolConfig(
                path=str(tmp_path / "spool.sqlite"),
                state_path=str(tmp_path / "state.sqlite"),
                analytics_path=str(tmp_path / "analytics.ckpt"),
            ),
            http=HttpConfig(bind="127.0.0.1", port=free_port()),
            limits=LimitsConfig(ack_interval_s=0.1),
        ),
        "test",
    )
    link_settings = MqttSettings(
        url=broker.url,
        client_id="agent-1",
        username="agent-1",
        password_env=AGENT_PW_ENV,
        ca_file=str(broker.pki.ca),
        backoff_initial_s=0.05,
        backoff_cap_s=0.5,
        status_interval_s=0.5,
    )
    box_settings = OutboxSettings(
        path=str(tmp_path / "outbox.db"),
        resend_timeout=1.0,
        reconnect_drain_delay_max=0.0,
        synchronous="normal",
    )
    t0 = time.time() - 30
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        with Outbox(box_settings) as box:
            async with MqttLink(link_settings, box, agent="agent-1", devices=["pile-t"]) as link:
                async with asyncio.timeout(10):
                    await link.wait_connected()
                for i in range(100):
                    box.add_telemetry(
                        "pile-t", t0 + i * 0.05, "cw-pile-10", {"socket_temp": [30.0, *[31.0] * 9]}, {}, {}
                    )
                await wait_for(lambda: box.depth() == 0, 20, "the outbox to empty through the gateway's acks")
                assert link.health.acked == 100
        await gw.spool.flush()
        start, end = int(t0 * 1000) - 1000, int(time.time() * 1000)
        stored = await gw.store.count("pile", "seq", {"device": "pile-t"}, start, end)
        rows = await gw.store.series("pile", ["seq"], {"device": "pile-t"}, start, end)
    assert stored == 100
    assert sorted(int(r.fields["seq"]) for r in rows) == list(range(100))
