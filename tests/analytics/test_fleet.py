"""A wave of many piles gives exactly what feeding the piles one message at a time gives."""

from __future__ import annotations

import math
import random

from analytics import AlertChange, Pipeline
from chargewatch.messages import Telemetry
from tests.analytics.synth import T0


def _rounds(piles: int, steps: int, stagger_s: float = 0.0) -> list[list[Telemetry]]:
    rng = random.Random(7)
    out = []
    for k in range(steps):
        batch = []
        for d in range(piles):
            ports = 10 if d % 2 else 12
            power = [0.0 if (k + 30 * i) % 400 < 60 else 300.0 + 20 * i for i in range(ports)]
            temps: list[float | None] = [
                30.0 + p / 40.0 + (0.6 * max(k - 150, 0) if (d, i) == (1, 3) else 0.0) + rng.gauss(0, 0.1)
                for i, p in enumerate(power)
            ]
            if d == 2 and k % 2:
                temps[5] = None
            batch.append(
                Telemetry(
                    device=f"pile-{d}",
                    boot=1,
                    seq=k,
                    ts=T0 + 5.0 * k + stagger_s * d,
                    model="cw-pile-10" if ports == 10 else "vx-pile-12",
                    ports={
                        "socket_temp": temps,
                        "power": list[float | None](power),
                        "current": [p / 220.0 for p in power],
                        "voltage": [220.0] * ports,
                        "state": [1.0 if p > 3.5 else 0.0 for p in power],
                    },
                    values={"ambient_temp": 30.0 + math.sin(k / 100.0), "smoke_alarm": 0.0},
                )
            )
        out.append(batch)
    return out


def _key(changes: list[AlertChange]) -> list[tuple[str, str, str, float, str]]:
    return [(c.id, c.state, c.severity, c.ts, c.message) for c in changes]


def test_batched_waves_match_message_by_message() -> None:
    rounds = _rounds(4, 300)
    one, batched, partial = Pipeline(), Pipeline(), Pipeline()
    a: list[AlertChange] = []
    b: list[AlertChange] = []
    c: list[AlertChange] = []
    for k, batch in enumerate(rounds):
        for msg in batch:
            a += one.process_telemetry(msg)
        b += batched.process_batch(batch)
        if k % 3:
            c += partial.process_batch(batch)
        else:
            c += partial.process_batch(batch[:1]) + partial.process_batch(batch[1:])
    kinds = {ch.kind for ch in a}
    assert {"sensor_fault", "socket_overtemp"} <= kinds
    assert _key(b) == _key(a)
    assert _key(c) == _key(a)
    assert [ch.evidence for ch in b] == [ch.evidence for ch in a]
    assert batched.pop_sessions() == one.pop_sessions() == partial.pop_sessions()


def test_piles_polled_at_different_moments_share_a_wave() -> None:
    rounds = _rounds(4, 300, stagger_s=1.3)
    one, batched = Pipeline(), Pipeline()
    a = [ch for batch in rounds for msg in batch for ch in one.process_telemetry(msg)]
    b = [ch for batch in rounds for ch in batched.process_batch(batch)]
    assert {"sensor_fault", "socket_overtemp"} <= {ch.kind for ch in a}
    assert _key(b) == _key(a)
    assert batched.pop_sessions() == one.pop_sessions()


def test_a_pile_seen_twice_in_one_batch_is_evaluated_in_order() -> None:
    rounds = _rounds(2, 40)
    flat = [msg for batch in rounds for msg in batch]
    one, batched = Pipeline(), Pipeline()
    a = [ch for msg in flat for ch in one.process_telemetry(msg)]
    b = batched.process_batch(flat)
    assert _key(b) == _key(a)
