"""Current spikes between polls show as energy the sampled power does not explain."""

from __future__ import annotations

import numpy as np

from analytics.alerts import Condition
from analytics.rules import MeterRules, RuleConfig

POLL = 5.0


def _run(spike_every_s: float | None, seconds: int = 1_200) -> list[list[Condition]]:
    rules = MeterRules(1, RuleConfig())
    energy_wh, out = 0.0, []
    for s in range(1, seconds + 1):
        spike = spike_every_s is not None and s % int(spike_every_s) == 2
        energy_wh += (2_000.0 if spike else 400.0) / 3_600.0
        if s % int(POLL) == 0:
            conds: list[Condition] = []
            cols = {"power": np.array([400.0]), "energy": np.array([round(energy_wh) / 1000.0])}
            rules.evaluate(float(s), cols, np.array([False]), conds)
            out.append(conds)
    return out


def test_spikes_no_poll_sees_are_caught_by_the_meter() -> None:
    conds = _run(spike_every_s=47)
    first = next(k for k, cs in enumerate(conds) if cs)
    assert conds[first][0].kind == "current_spike"
    assert first * POLL < 600


def test_a_steady_port_with_a_coarse_meter_is_quiet() -> None:
    assert not any(_run(spike_every_s=None, seconds=7_200))
