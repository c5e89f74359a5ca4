"""The router between the discovery and trusted sessions, with a fake session at its seam and
injected receive times."""

from __future__ import annotations

from chargewatch import topics
from gateway.bench_flood import telemetry
from gateway.config import LimitsConfig
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.limits import Admission
from gateway.ingest.routing import Router, trusted_filters
from gateway.liveness import KnownDevices
from gateway.metrics import Metrics


class _Session:
    """The trusted MqttSession's filter API (the real one is exercised in test_flood.py)."""

    def __init__(self) -> None:
        self.filters: set[str] = set()

    async def add_filters(self, filters: list[str]) -> bool:
        self.filters.update(filters)
        return True

    def remove_filters(self, filters: list[str]) -> None:
        self.filters.difference_update(filters)


def _router(**limits: float) -> tuple[Router, SeqTracker, _Session, Metrics]:
    known = KnownDevices(["real"])
    metrics = Metrics()
    admission = Admission(LimitsConfig(**limits), metrics, known)  # type: ignore[arg-type]
    admission.distrusted_at.clear()
    tracker = SeqTracker()
    router = Router(admission, known, tracker.seen, metrics, trust_after_s=30.0, hold_s=1.0)
    session = _Session()
    router.session = session  # type: ignore[assignment]
    return router, tracker, session, metrics


def _msg(device: str, seq: int) -> tuple[str, bytes]:
    return topics.device_topic(device, topics.TELEMETRY), telemetry(device, seq)


async def test_known_devices_are_trusted_and_their_discovery_copies_held_or_dropped() -> None:
    router, tracker, session, metrics = _router()
    assert await router.trust_due(0.0) == 1
    assert set(router.trusted) == {"real"}
    assert session.filters == set(trusted_filters("real"))
    t, p = _msg("real", 0)
    assert router.admit_trusted(t, p, 0.0)  # the trusted copy is admitted
    tracker.observe("real", 1, 0, 0.0)  # … and recorded by the pipeline
    assert not router.admit_discovery(t, p, 0.1)  # its discovery copy: dropped, already seen
    assert metrics.get("cw_ingest_copies_dropped_total") == 1
    t1, p1 = _msg("real", 1)
    assert not router.admit_discovery(t1, p1, 0.2)  # not seen yet: held
    assert router.release(0.5) == []  # still within hold_s
    tracker.observe("real", 1, 1, 0.6)  # the trusted copy arrived meanwhile
    t2, p2 = _msg("real", 2)
    assert not router.admit_discovery(t2, p2, 0.7)  # never comes on the trusted session
    assert router.release(2.0) == [(t2, p2, 0.7)]  # released: late, not lost
    assert metrics.get("cw_ingest_copies_dropped_total") == 2
    assert metrics.get("cw_ingest_copies_released_total") == 1
    assert router.held == {}


async def test_a_refused_trusted_device_falls_back_to_discovery_until_quiet_again() -> None:
    router, _tracker, session, metrics = _router(device_msgs_per_s=1, device_burst=3)
    await router.trust_due(0.0)
    results = [router.admit_trusted(*_msg("real", seq), 0.0) for seq in range(5)]
    assert results == [True, True, True, False, False]
    assert set(router.trusted) == set()
    assert session.filters == set()
    assert metrics.get("cw_devices_distrusted_total") == 1
    t, p = _msg("real", 9)
    assert not router.admit_discovery(t, p, 0.0)  # on discovery it is rate-limited like any id
    assert router.held == {}
    assert await router.trust_due(20.0) == 0  # refused at 0.0: not quiet for 30 s yet
    assert await router.trust_due(31.0) == 1
    assert set(router.trusted) == {"real"}


async def test_new_ids_are_never_trusted_before_they_are_known_and_quiet() -> None:
    router, _tracker, _session, _metrics = _router(new_devices_per_min=10)
    t, p = _msg("new-1", 0)
    assert router.admit_discovery(t, p, 0.0)  # a trial slot
    assert await router.trust_due(100.0) == 1  # only "real"
    router.known.add("new-1")  # its message was accepted at 100.0 (admission's clock: 0.0)
    router.admission.distrusted_at["new-1"] = 100.0
    assert await router.trust_due(110.0) == 0
    assert await router.trust_due(130.0) == 1
    assert set(router.trusted) == {"real", "new-1"}


async def test_an_unsteady_trusted_device_is_accepted_but_read_on_discovery_again() -> None:
    router, _tracker, session, _metrics = _router(steady_msgs_per_s=1, steady_burst=5)
    await router.trust_due(0.0)
    results = [router.admit_trusted(*_msg("real", seq), 1.0) for seq in range(8)]
    assert results == [True] * 8  # a backlog drain: every message accepted …
    assert set(router.trusted) == set()  # … but the device no longer reads on the trusted session
    assert session.filters == set()
    assert await router.trust_due(20.0) == 0
    assert await router.trust_due(32.0) == 1
