"""The send decisions without I/O (times given explicitly), and Alertmanager's resend and
``endsAt`` through a local receiver standing in for its API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargewatch.clock import ManualClock
from chargewatch.retry import Backoff
from gateway.config import AlertmanagerConfig, NotifyConfig
from gateway.ingest.state import AlertRow
from gateway.metrics import Metrics
from gateway.notify import GroupPolicy, Notifier, NotifyItem, ResendPolicy
from tests.gateway.notify.receiver import Receiver

T0 = 1_764_820_800.0


def _item(n: int = 1, state: str = "firing", ts: float = T0, site: str = "s1") -> Any:
    return NotifyItem(
        id=f"d.0.smoke.{n}",
        site=site,
        device="d",
        port=0,
        kind="smoke",
        severity="critical",
        state="firing" if state == "firing" else "resolved",
        ts=ts,
        first_ts=ts,
        message="m",
    )


def test_group_window_per_site() -> None:
    p = GroupPolicy(group_s=10, rate_limit_s=600)
    p.offer([_item(site="a")], T0)
    p.offer([_item(site="b")], T0 + 4)
    assert p.next_due() == T0 + 10
    assert p.due(T0 + 9.9) == []
    assert [[i.site for i in g] for g in p.due(T0 + 10)] == [["a"]]
    assert p.next_due() == T0 + 14
    assert [[i.site for i in g] for g in p.due(T0 + 14)] == [["b"]]
    assert p.next_due() is None


def test_rate_limit_drops_a_duplicate_and_forgets_old_conditions() -> None:
    p = GroupPolicy(group_s=1, rate_limit_s=100)
    assert p.offer([_item()], T0) == 0
    assert p.offer([_item()], T0 + 5) == 1  # same alert, same state: held
    assert len(p.due(T0 + 1)) == 1
    assert p.due(T0 + 100) == []  # released, but it says nothing new
    assert p.offer([_item(2)], T0 + 101) == 0  # the limit is over: a new episode goes through


def test_resend_posts_changes_at_once_and_everything_every_interval() -> None:
    p = ResendPolicy(resend_s=60, keep_resolved_s=900)
    p.offer([_item(1), _item(2)], T0)
    assert [len(b) for b in p.due(T0)] == [2]
    assert p.next_due() == T0 + 60
    assert p.due(T0 + 59) == []
    p.offer([_item(1, "resolved", ts=T0 + 70)], T0 + 70)
    (batch,) = p.due(T0 + 70)
    assert {(i.id, i.state, i.first_ts) for i in batch} == {
        ("d.0.smoke.1", "resolved", T0),  # startsAt kept from when it fired
        ("d.0.smoke.2", "firing", T0),
    }
    assert [len(b) for b in p.due(T0 + 130)] == [2]  # resolved ones are re-posted for a while
    assert [len(b) for b in p.due(T0 + 1000)] == [1]  # …then only the firing one


async def test_alertmanager_is_reposted_every_resend_interval_with_ends_at(receiver: Receiver) -> None:
    clock = ManualClock(T0)
    cfg = NotifyConfig(alertmanager=AlertmanagerConfig(url=receiver.url(""), resend_s=30))
    row = AlertRow(
        id="d.0.smoke.1", key="d.0.smoke", device="d", port=0, kind="smoke", severity="critical",
        state="firing", first_ts=T0 - 500, ts=T0 - 500, message="pile smoke sensor alarm",
        acked_at=None, acked_by=None,
    )  # fmt: skip
    fast = Backoff(initial=0.01, cap=0.02, attempts=2)
    async with Notifier(
        cfg, site="s1", public_url="http://g", metrics=Metrics(), clock=clock, backoff=fast
    ) as n:
        n.seed([row])  # firing before a restart
        await n.sync()
        clock.advance(29)
        await n.sync()
        assert len(receiver.requests) == 1
        clock.advance(1)
        await n.sync()
    first, second = (r.body[0] for r in receiver.requests)
    assert receiver.requests[0].path == "/api/v2/alerts"
    ends = datetime.fromisoformat(first["endsAt"]).timestamp()
    assert ends == T0 + 4 * 30  # expires unless re-posted
    assert datetime.fromisoformat(first["startsAt"]).timestamp() == T0 - 500
    assert datetime.fromisoformat(second["endsAt"]).timestamp() == T0 + 30 + 4 * 30
    assert first["labels"]["port"] == "1"
    assert first["annotations"]["summary"] == "【严重·告警】s1 设备 d · 端口 1 烟雾报警：充电桩烟雾传感器报警"
