"""Alerts raised by the real ingest pipeline reach a real Alertmanager through the notifier, with
their labels and Chinese annotations; Alertmanager's own webhook delivers them to a local
receiver; resolving the alert resolves it there; critical inhibits warning per port."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from chargewatch import topics
from chargewatch.clock import SystemClock
from chargewatch.messages import Alert, Telemetry, encode
from gateway.config import AlertmanagerConfig, NotifyConfig
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.notify import Notifier
from tests.gateway.notify.receiver import Receiver
from tests.support.servers import Alertmanager


class _Spool:
    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        return len(lines)


def _am_config(hook_url: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [site, device]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [site, device, port]
receivers:
  - name: hook
    webhook_configs:
      - url: {hook_url}
        send_resolved: true
"""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


async def _am_alerts(am: Alertmanager, want: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        alerts: list[dict[str, Any]] = await asyncio.to_thread(_get, f"{am.url}/api/v2/alerts")
        if want(alerts):
            return alerts
        assert time.monotonic() < deadline, f"Alertmanager never showed the expected alerts: {alerts}"
        await asyncio.sleep(0.1)


def _item(seq: int, t0: float, hot: float) -> tuple[str, bytes, float]:
    """cw-pile-10 telemetry (its 10 ports) with port index 2 (printed "3") at ``hot`` °C."""
    temps: list[float | None] = [30.0] * 10
    temps[2] = hot
    msg = Telemetry(
        device="pile-7",
        boot=1,
        seq=seq,
        ts=t0 + seq,
        model="cw-pile-10",
        ports={"socket_temp": temps, "power": [300.0] * len(temps)},
    )
    return topics.device_topic("pile-7", topics.TELEMETRY), encode(msg), t0 + seq + 0.5


async def test_overheating_port_fires_and_resolves_in_alertmanager(
    tmp_path: Path, receiver: Receiver, alertmanager: Callable[[str], Alertmanager]
) -> None:
    am = alertmanager(_am_config(receiver.url("/am")))
    metrics = Metrics()
    cfg = NotifyConfig(alertmanager=AlertmanagerConfig(url=am.url, resend_s=60))
    async with Notifier(
        cfg, site="xh-01", public_url="http://cw.example:8080", metrics=metrics, clock=SystemClock()
    ) as notifier:
        state = IngestState(tmp_path / "state.sqlite")
        pipeline = IngestPipeline(
            site="xh-01",
            spool=_Spool(),
            state=state,
            tracker=SeqTracker(),
            analytics=ThresholdRule(samples=3),
            liveness=Liveness(90.0),
            metrics=metrics,
            policy=TimePolicy(60.0, 86400.0),
            publish=lambda *_: None,
            notify=notifier.submit,
        )
        t0 = time.time() - 30
        for seq in range(3):  # port index 2 (printed "3") over 80 °C, three samples in a row
            await pipeline.handle([_item(seq, t0, 85.0 + seq)])
        await notifier.sync()

        alerts = await _am_alerts(am, lambda a: len(a) == 1)
        a = alerts[0]
        assert a["labels"] == {
            "alertname": "socket_temp_high",
            "kind": "socket_temp_high",
            "severity": "critical",
            "site": "xh-01",
            "device": "pile-7",
            "port": "3",
            "alert_id": "pile-7.2.socket_temp_high.1",
        }
        assert a["status"]["state"] == "active"
        ann = a["annotations"]
        assert ann["summary"].startswith("【严重·告警】xh-01 设备 pile-7 · 端口 3 插座温度过高")
        assert "插座温度 87.0 °C" in ann["value"]
        assert "北京时间" in ann["description"]
        assert ann["evidence_url"] == "http://cw.example:8080/#/alerts/pile-7.2.socket_temp_high.1"
        assert a["generatorURL"] == ann["evidence_url"]

        hooks = await receiver.wait(1)
        first = hooks[0].body
        assert first["status"] == "firing"
        assert first["alerts"][0]["annotations"]["summary"] == ann["summary"]

        await pipeline.handle([_item(3, t0, 60.0)])  # cooled below clear_below
        await notifier.sync()
        await _am_alerts(am, lambda a: a == [])  # resolved alerts leave the active list
        hooks = await receiver.wait(2)
        resolved = hooks[1].body
        assert resolved["status"] == "resolved"
        assert resolved["alerts"][0]["labels"]["alert_id"] == "pile-7.2.socket_temp_high.1"
        assert "【严重·已恢复】" in resolved["alerts"][0]["annotations"]["summary"]
        state.close()
    assert metrics.get("cw_notify_sent_total", channel="alertmanager") == 2
    assert metrics.get("cw_notify_failed_total", channel="alertmanager") == 0


async def test_critical_inhibits_warning_of_the_same_port(
    receiver: Receiver, alertmanager: Callable[[str], Alertmanager]
) -> None:
    am = alertmanager(_am_config(receiver.url("/am")))
    cfg = NotifyConfig(alertmanager=AlertmanagerConfig(url=am.url))
    now = time.time()

    def alert(alert_id: str, kind: str, severity: Literal["warning", "critical"], port: int) -> Alert:
        return Alert(
            id=alert_id, device="pile-7", kind=kind, severity=severity, state="firing", ts=now, port=port
        )

    async with Notifier(
        cfg, site="xh-01", public_url="http://x:1", metrics=Metrics(), clock=SystemClock()
    ) as n:
        n.submit(
            [
                alert("a.1", "temp_rising_fast", "warning", 4),
                alert("b.1", "socket_overtemp", "critical", 4),
                alert("c.1", "temp_rising_fast", "warning", 5),
            ]
        )
        await n.sync()
        alerts = await _am_alerts(am, lambda a: len(a) == 3 and any(x["status"]["inhibitedBy"] for x in a))
    by_id = {x["labels"]["alert_id"]: x["status"] for x in alerts}
    assert by_id["a.1"]["state"] == "suppressed"
    assert by_id["a.1"]["inhibitedBy"]
    assert by_id["b.1"]["state"] == "active"
    assert by_id["c.1"]["state"] == "active"  # another port: not inhibited
