"""WeCom, DingTalk and webhook deliveries through a local HTTP receiver: formats, signature,
retries, grouping, the rate limit and the bounded queue, with time driven by a ManualClock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chargewatch.clock import ManualClock
from chargewatch.messages import Alert
from chargewatch.retry import Backoff
from gateway.config import DingTalkConfig, NotifyConfig, WebhookConfig, WeComConfig
from gateway.metrics import Metrics
from gateway.notify import Notifier, dingtalk_sign, from_alert
from gateway.notify.channels import WeComRobot
from tests.gateway.notify.receiver import Receiver

T0 = 1_764_820_800.0  # 2025-12-04 12:00:00 Beijing time
FAST = Backoff(initial=0.01, cap=0.02, attempts=4)


def _alert(n: int, state: str = "firing", port: int | None = 2, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": f"pile-{n}.{port}.socket_overtemp.1",
        "device": f"pile-{n}",
        "kind": "socket_overtemp",
        "severity": "critical",
        "state": state,
        "ts": T0,
        "port": port,
        "message": "socket 82.3 °C",
        "evidence": [{"port": float(port or 0), "ts": T0, "socket_temp": 82.3}],
    }
    return Alert(**(fields | kw))


def _notifier(cfg: NotifyConfig, clock: ManualClock, metrics: Metrics) -> Notifier:
    return Notifier(
        cfg, site="xh-01", public_url="http://cw.local:8080", metrics=metrics, clock=clock, backoff=FAST
    )


async def test_wecom_sends_one_chinese_markdown_message_per_window(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_WECOM_KEY", "k-123")
    cfg = NotifyConfig(
        group_s=30, wecom=WeComConfig(url=receiver.url("/cgi-bin/webhook/send"), key_env="CW_TEST_WECOM_KEY")
    )
    clock, metrics = ManualClock(T0), Metrics()
    async with _notifier(cfg, clock, metrics) as n:
        n.submit([_alert(1)])
        clock.advance(10)
        n.submit([_alert(2, port=None, kind="smoke", message="pile smoke sensor alarm", evidence=[])])
        await n.sync()
        assert receiver.requests == []  # the window is still open
        clock.advance(20)
        await n.sync()
        assert len(receiver.requests) == 1
        clock.advance(30)
        n.submit([_alert(1, state="resolved", ts=T0 + 60)])  # its own state change: not rate limited
        clock.advance(30)
        await n.sync()
    first, second = receiver.requests
    assert first.path == "/cgi-bin/webhook/send"
    assert first.query == {"key": "k-123"}
    assert first.body["msgtype"] == "markdown"
    content = first.body["markdown"]["content"]
    assert "xh-01：告警 2 条" in content
    assert "严重 · 告警 · 插座过温" in content
    assert "严重 · 告警 · 烟雾报警" in content
    assert "设备 pile-1 · 端口 3" in content  # wire port 2 is printed "3" on the pile
    assert "设备 pile-2\n" in content  # a pile-wide alert names no port
    assert "插座温度 82.3 °C" in content
    assert "2025-12-04 12:00:00（北京时间）" in content
    assert "(http://cw.local:8080/#/alerts/pile-1.2.socket_overtemp.1)" in content
    resolved = second.body["markdown"]["content"]
    assert "已恢复 1 条" in resolved
    assert "时间：2025-12-04 12:01:00（北京时间）" in resolved
    assert "开始于：2025-12-04 12:00:00" in resolved  # when it began firing, remembered by the notifier
    assert metrics.get("cw_notify_sent_total", channel="wecom") == 2


async def test_dingtalk_signs_with_the_configured_secret(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "secret").write_text("SEC-abc\n")
    monkeypatch.setenv("CW_TEST_DT_TOKEN", "tok-9")
    cfg = NotifyConfig(
        group_s=5,
        dingtalk=DingTalkConfig(
            url=receiver.url("/robot/send"),
            access_token_env="CW_TEST_DT_TOKEN",  # noqa: S106 - the name of a variable, not a secret
            secret_file=str(tmp_path / "secret"),
        ),
    )
    clock = ManualClock(T0)
    async with _notifier(cfg, clock, Metrics()) as n:
        n.submit([_alert(1)])
        clock.advance(5)
        await n.sync()
    (req,) = receiver.requests
    assert req.query["access_token"] == "tok-9"  # noqa: S105 - a test value
    assert req.query["timestamp"] == str(int((T0 + 5) * 1000))
    assert req.query["sign"] == dingtalk_sign("SEC-abc", int(req.query["timestamp"]))
    assert dingtalk_sign("SEC-abc", 1) != dingtalk_sign("SEC-abd", 1)
    md = req.body["markdown"]
    assert md["title"] == "xh-01：告警 1 条"
    assert "严重 · 告警 · 插座过温" in md["text"]
    assert "<font" not in md["text"]


async def test_webhook_posts_the_alerts_as_json_with_a_bearer_token(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_HOOK", "bearer-1")
    cfg = NotifyConfig(group_s=1, webhook=WebhookConfig(url=receiver.url("/hook"), token_env="CW_TEST_HOOK"))  # noqa: S106
    clock = ManualClock(T0)
    async with _notifier(cfg, clock, Metrics()) as n:
        n.submit([_alert(1, severity="warning", kind="temp_rising_fast"), _alert(2)])
        clock.advance(1)
        await n.sync()
    (req,) = receiver.requests
    assert req.headers["Authorization"] == "Bearer bearer-1"
    alerts = req.body["alerts"]
    assert [a["device"] for a in alerts] == ["pile-2", "pile-1"]  # critical first
    a = alerts[1]
    assert (a["port"], a["port_printed"], a["severity_zh"], a["state_zh"]) == (2, 3, "警告", "告警")
    assert a["kind_zh"] == "温度快速上升"
    assert a["time_local"] == "2025-12-04 12:00:00"
    assert a["url"] == "http://cw.local:8080/#/alerts/pile-1.2.socket_overtemp.1"


async def test_retries_after_500_and_busy_answers_then_delivers(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_WECOM_KEY", "k")
    receiver.script = [(500, {}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    cfg = NotifyConfig(group_s=1, wecom=WeComConfig(url=receiver.url("/w"), key_env="CW_TEST_WECOM_KEY"))
    clock, metrics = ManualClock(T0), Metrics()
    async with _notifier(cfg, clock, metrics) as n:
        n.submit([_alert(1)])
        clock.advance(1)
        await n.sync()
    assert len(receiver.requests) == 3
    assert receiver.requests[0].body == receiver.requests[2].body
    assert metrics.get("cw_notify_sent_total", channel="wecom") == 1
    assert metrics.get("cw_notify_failed_total", channel="wecom") == 0


async def test_failures_are_counted_and_logged_once_per_down_and_up(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CW_TEST_WECOM_KEY", "k-secret-7")
    receiver.script = [(400, {}), (200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    cfg = NotifyConfig(group_s=1, wecom=WeComConfig(url=receiver.url("/w"), key_env="CW_TEST_WECOM_KEY"))
    clock, metrics = ManualClock(T0), Metrics()
    caplog.set_level(logging.INFO, logger="gateway.notify")
    async with _notifier(cfg, clock, metrics) as n:
        for i in range(3):
            n.submit([_alert(i)])
            clock.advance(1)
            await n.sync()
    assert len(receiver.requests) == 3  # permanent errors are not retried
    assert metrics.get("cw_notify_failed_total", channel="wecom") == 2
    assert metrics.get("cw_notify_sent_total", channel="wecom") == 1
    events = [r.getMessage().split()[0] for r in caplog.records if "notify_channel" in r.getMessage()]
    assert events == ["notify_channel_down", "notify_channel_up"]
    assert not [r for r in caplog.records if "k-secret-7" in r.getMessage()]  # secrets never logged


async def test_rate_limit_holds_a_flapping_condition_and_tells_it_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = NotifyConfig(group_s=1, rate_limit_s=600, webhook=WebhookConfig(url=receiver.url("/hook")))
    clock, metrics = ManualClock(T0), Metrics()
    ep1, ep2, ep3 = (_alert(1, id=f"pile-1.2.socket_overtemp.{k}") for k in (1, 2, 3))
    async with _notifier(cfg, clock, metrics) as n:
        n.submit([ep1])
        clock.advance(1)
        await n.sync()
        n.submit([_alert(1, id=ep1.id, state="resolved")])  # its own state change goes through
        clock.advance(1)
        await n.sync()
        # the condition flaps: fires again (ep2), clears, fires again (ep3), all within the limit
        for change in (ep2, _alert(1, id=ep2.id, state="resolved"), ep3):
            n.submit([change])
            clock.advance(60)
            await n.sync()
        assert len(receiver.requests) == 2
        clock.advance(600)
        await n.sync()
    states = [[(a["id"], a["state"], a["repeats"]) for a in r.body["alerts"]] for r in receiver.requests]
    assert states == [
        [(ep1.id, "firing", 0)],
        [(ep1.id, "resolved", 0)],
        [(ep3.id, "firing", 2)],
    ]
    assert metrics.get("cw_notify_suppressed_total", channel="webhook") == 3
    assert "限流期间同一告警又发生 2 次" in receiver.requests[2].body["text"]


async def test_a_full_queue_drops_and_counts_without_blocking(receiver: Receiver) -> None:
    cfg = NotifyConfig(group_s=1, queue_max=10, webhook=WebhookConfig(url=receiver.url("/hook")))
    clock, metrics = ManualClock(T0), Metrics()
    async with _notifier(cfg, clock, metrics) as n:
        n.submit([_alert(i) for i in range(15)])  # synchronous: the worker has not run yet
        clock.advance(1)
        await n.sync()
    assert metrics.get("cw_notify_dropped_total", channel="webhook") == 5
    assert [len(r.body["alerts"]) for r in receiver.requests] == [10]


async def test_pending_is_never_told_nor_its_resolution(receiver: Receiver) -> None:
    cfg = NotifyConfig(group_s=1, webhook=WebhookConfig(url=receiver.url("/hook"), min_severity="warning"))
    clock = ManualClock(T0)
    async with _notifier(cfg, clock, Metrics()) as n:
        n.submit([_alert(1, state="pending"), _alert(1, state="resolved")])
        n.submit([_alert(2, severity="info", kind="power_after_float")])  # below min_severity
        n.submit([_alert(3, state="pending"), _alert(3)])
        clock.advance(1)
        await n.sync()
    assert [[a["device"] for a in r.body["alerts"]] for r in receiver.requests] == [["pile-3"]]


async def test_grouped_alerts_are_sent_at_shutdown(receiver: Receiver) -> None:
    cfg = NotifyConfig(group_s=300, webhook=WebhookConfig(url=receiver.url("/hook")))
    async with _notifier(cfg, ManualClock(T0), Metrics()) as n:
        n.submit([_alert(1)])
        await n.sync()
        assert receiver.requests == []
    assert len(receiver.requests) == 1


def test_wecom_content_fits_its_4096_byte_limit() -> None:
    robot = WeComRobot("http://127.0.0.1:1/w", "k", max_items=50)
    items = [from_alert(_alert(i), "xh-01", "http://cw.local:8080") for i in range(40)]
    content = robot.content([i for i in items if i is not None])
    assert len(content.encode()) <= 4096
    shown = content.count("严重 · 告警 · 插座过温")
    assert 1 < shown < 40
    assert f"另有 {40 - shown} 条未列出" in content
