"""Admission (rate limits, new-device budget, sampled dead letters) and liveness of unknown ids,
driven by injected receive times."""

from __future__ import annotations

from chargewatch import topics
from chargewatch.messages import Status
from gateway.config import LimitsConfig
from gateway.ingest.limits import TRIAL_S, Admission, Buckets, TokenBucket
from gateway.liveness import KnownDevices, Liveness
from gateway.metrics import Metrics


def _tel(device: str) -> str:
    return topics.device_topic(device, topics.TELEMETRY)


def _admission(**limits: float) -> tuple[Admission, KnownDevices, Metrics]:
    known = KnownDevices(["real"])
    metrics = Metrics()
    cfg = LimitsConfig(**limits)  # type: ignore[arg-type]
    return Admission(cfg, metrics, known), known, metrics


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    b = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.take(0.5) is True  # one token back after 0.5 s at 2/s
    assert b.take(0.5) is False
    assert [b.take(100.0) for _ in range(4)] == [True, True, True, False]  # capped at the burst


def test_buckets_are_bounded_least_recently_used_first() -> None:
    buckets = Buckets(rate=1.0, burst=1.0, max_keys=3)
    for key in "abcd":
        assert buckets.take(key, 0.0)
    assert len(buckets) == 3
    assert buckets.take("a", 0.0) is True  # "a" was dropped, so it starts with a fresh bucket
    assert buckets.take("d", 0.0) is False


def test_a_flooding_device_is_rate_limited_and_its_dead_letters_sampled() -> None:
    adm, _known, metrics = _admission(device_msgs_per_s=10, device_burst=20, dead_letter_sample_per_min=5)
    admitted = sum(adm.admit(_tel("real"), b"{}", 0.001 * i) for i in range(1000))  # 1 s of flood
    assert 20 <= admitted <= 31  # the burst plus ≤ 1 s at 10/s
    refused = 1000 - admitted
    assert metrics.get("cw_ingest_rejected_total", reason="rate_limited") == refused
    kept = adm.take_dead()
    assert len(kept) == 5
    assert {d[2] for d in kept} == {"rate_limited"}
    assert metrics.get("cw_ingest_dead_letters_sampled_out_total", reason="rate_limited") == refused - 5
    assert adm.take_dead() == []
    assert adm.admit(_tel("real"), b"{}", 61.0)  # the rate refills
    assert adm.admit(_tel("other-known"), b"{}", 61.0) is True  # another id has its own bucket


def test_new_ids_need_a_budget_slot_known_ids_never_do() -> None:
    adm, known, metrics = _admission(new_devices_per_min=3, max_devices=5)
    results = [adm.admit(_tel(f"new-{i}"), b"{}", 0.0) for i in range(100)]
    assert sum(results) == 3
    assert metrics.get("cw_ingest_rejected_total", reason="unknown_device_budget") == 97
    assert len(adm.take_dead()) == 20  # one source for the whole budget reason: first 20 kept
    assert adm.admit(_tel("new-0"), b"{}", 1.0)  # a trial slot is held
    assert adm.admit(_tel("real"), b"{}", 1.0)  # known: never subject to the budget
    known.add("new-1")  # its message was accepted
    assert "new-1" not in adm.trial
    # a minute later the budget refills, but known + trial may not pass max_devices (5)
    granted = [adm.admit(_tel(f"late-{i}"), b"{}", TRIAL_S + 0.5) for i in range(10)]
    assert sum(granted) == 5 - len(known)
    assert len(adm.trial) + len(known) == 5


def test_an_agent_is_limited_over_its_status_and_devices() -> None:
    known = KnownDevices(["d1", "d2"])
    adm = Admission(LimitsConfig(agent_msgs_per_s=1, agent_burst=4), Metrics(), known, lambda d: "a1")
    status = topics.agent_status_topic("a1")
    got = [adm.admit(t, b"{}", 0.0) for t in (_tel("d1"), _tel("d2"), status, _tel("d1"), _tel("d2"))]
    assert got == [True, True, True, True, False]
    assert adm.take_dead()[0][3] == "agent a1"


def test_a_device_never_accepted_is_never_paged_offline() -> None:
    known = KnownDevices()
    live = Liveness(offline_after=10.0, known=known)
    st = Status(agent="a1", online=True, boot=1, ts=0.0, devices=["listed-only", "real"])
    assert {t.device for t in live.status("a1", st, 0.0)} == {"listed-only", "real"}
    live.seen("real", 1.0)
    assert "real" in known
    gone = live.tick(100.0)
    assert [(t.device, t.online) for t in gone] == [("real", False)]
    assert not live.online("listed-only")  # offline, but no page


def test_liveness_maps_are_bounded_by_max_devices() -> None:
    live = Liveness(offline_after=10.0, max_devices=50)
    for i in range(500):
        live.seen(f"d{i}", float(i))
    st = Status(agent="a", online=True, boot=1, ts=0.0, devices=[f"x{i}" for i in range(5000)])
    live.status("a", st, 1.0)
    for i in range(100):
        live.status(f"agent-{i}", Status(agent=f"agent-{i}", online=True, boot=1, ts=0.0), 1.0)
    assert len(live.devices) == 50
    assert len(live._agents) <= 50
