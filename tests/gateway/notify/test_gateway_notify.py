"""The running gateway (real Mosquitto, SQLite store, threshold rule) notifies an overheating port
to a real Alertmanager and to a webhook, keeps re-posting it after a restart, and resolves it."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chargewatch import topics
from chargewatch.messages import Telemetry, encode
from gateway.app import Gateway
from gateway.config import AlertmanagerConfig, NotifyConfig, StoreConfig, WebhookConfig
from tests.gateway.ingest.support import make_config, raw_publish, wait_for
from tests.gateway.notify.receiver import Receiver
from tests.support.servers import Alertmanager, Mosquitto

pytestmark = pytest.mark.integration

AM_CONFIG = """
route: {receiver: hook, group_by: [device], group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}
receivers: [{name: hook}]
"""


def _tel(seq: int, temp: float) -> tuple[str, bytes, bool]:
    """cw-pile-10 telemetry (its 10 ports) with port index 4 (printed "5") at ``temp`` °C."""
    temps: list[float | None] = [30.0] * 10
    temps[4] = temp
    msg = Telemetry(
        device="pile-3",
        boot=1,
        seq=seq,
        ts=time.time() - 5 + seq * 0.01,
        model="cw-pile-10",
        ports={"socket_temp": temps, "power": [200.0] * 10},
    )
    return topics.device_topic("pile-3", topics.TELEMETRY), encode(msg), False


def _am_alerts(am: Alertmanager) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=5) as resp:
        alerts: list[dict[str, Any]] = json.loads(resp.read())
    return alerts


async def test_gateway_notifies_alertmanager_and_webhook(
    tmp_path: Path, mosquitto: Mosquitto, receiver: Receiver, alertmanager: Callable[[str], Alertmanager]
) -> None:
    am = alertmanager(AM_CONFIG)
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:1")
    cfg.store = StoreConfig(kind="sqlite", path=str(tmp_path / "store.sqlite"))
    cfg.notify = NotifyConfig(
        public_url="http://control.example",
        group_s=0.2,
        alertmanager=AlertmanagerConfig(url=am.url, resend_s=60),
        webhook=WebhookConfig(url=receiver.url("/hook")),
    )
    seen: list[dict[str, Any]] = []

    async def am_has(pred: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
        async def poll() -> bool:
            seen[:] = await asyncio.to_thread(_am_alerts, am)
            return pred(seen)

        deadline = time.monotonic() + 20
        while not await poll():
            assert time.monotonic() < deadline, f"{what}: Alertmanager shows {seen}"
            await asyncio.sleep(0.1)

    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [_tel(s, 90.0 + s) for s in range(3)])
        await am_has(lambda a: len(a) == 1, "the overheating port")
        hooks = await receiver.wait(1)
        await wait_for(
            lambda: gw.metrics.get("cw_notify_sent_total", channel="webhook") == 1, 5, "sent metric"
        )
        first_update = seen[0]["updatedAt"]
    alert = seen[0]
    assert alert["labels"]["port"] == "5"  # wire port 4
    assert alert["labels"]["site"] == "test"
    assert (
        alert["annotations"]["evidence_url"] == "http://control.example/#/alerts/pile-3.4.socket_temp_high.1"
    )
    assert "插座温度 92.0 °C" in alert["annotations"]["summary"]
    (body,) = [r.body for r in hooks]
    assert [(a["id"], a["state_zh"], a["port_printed"]) for a in body["alerts"]] == [
        ("pile-3.4.socket_temp_high.1", "告警", 5)
    ]

    # restarted, the gateway re-posts what is still firing (the webhook is not told again)
    async with Gateway(msgspec.structs.replace(cfg)) as gw:
        await gw.mqtt.wait_connected(10)
        await am_has(lambda a: len(a) == 1 and a[0]["updatedAt"] != first_update, "re-posted after restart")
        # the metric counts once the POST has answered, a moment after Alertmanager shows it
        await wait_for(
            lambda: gw.metrics.get("cw_notify_sent_total", channel="alertmanager") == 1, 5, "am sent"
        )
        # the threshold rule keeps no state across restarts: it sees the port hot again (the
        # alert book knows it is open: no new alert), then cool
        raw_publish(mosquitto.port, [_tel(s, 95.0) for s in range(3, 6)] + [_tel(6, 50.0)])
        await am_has(lambda a: a == [], "resolved")
        hooks = await receiver.wait(2)
        await wait_for(lambda: gw.metrics.get("cw_notify_sent_total", channel="webhook") == 1, 5, "sent")
        metrics_text = gw.metrics_text()
    assert [(a["id"], a["state_zh"]) for a in hooks[1].body["alerts"]] == [
        ("pile-3.4.socket_temp_high.1", "已恢复")
    ]
    assert 'cw_notify_sent_total{channel="webhook"} 1.0' in metrics_text
    assert 'cw_notify_failed_total{channel="alertmanager"}' not in metrics_text
