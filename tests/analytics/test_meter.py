"""Current spikes between polls show as energy the sampled power does not explain."""

from __future__ import annotations

import math

import numpy as np
import pytest

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


def test_polls_across_a_data_gap_are_not_cross_checked() -> None:
    """After a pile stopped answering, the energy metered during the gap is not 'unexplained'."""
    rules = MeterRules(1, RuleConfig())
    conds: list[Condition] = []
    for t, power, energy_kwh in [
        (0.0, 400.0, 1.0),
        (5.0, 400.0, 1.0006),
        (905.0, 100.0, 1.1006),
        (910.0, 100.0, 1.1008),
    ]:
        rules.evaluate(
            t, {"power": np.array([power]), "energy": np.array([energy_kwh])}, np.array([False]), conds
        )
    assert not conds
    assert rules.excess_wh[0] < 1.0


def _metered(
    gain: float, poll: int, spikes_from: int | None, seconds: int
) -> list[tuple[int, list[Condition]]]:
    """A 400 W port whose meter reads ``gain`` × the truth on a 1 Wh register, polled every ``poll``
    s; from ``spikes_from`` a 1 s spike of 8 A every 47 s that no poll samples."""
    rules = MeterRules(1, RuleConfig())
    energy_wh, out = 0.0, []
    for s in range(1, seconds + 1):
        spike = spikes_from is not None and s >= spikes_from and s % 47 == 2
        energy_wh += (8.0 * 220.0 if spike else 400.0) / 3_600.0
        if s % poll == 0:
            conds: list[Condition] = []
            register = math.floor(energy_wh * gain) / 1000.0
            rules.evaluate(
                float(s),
                {"power": np.array([400.0]), "energy": np.array([register])},
                np.array([False]),
                conds,
            )
            out.append((s, conds))
    return out


@pytest.mark.parametrize("gain", [0.97, 1.02, 1.03])
@pytest.mark.parametrize("poll", [1, 5, 10])
def test_a_meter_off_by_up_to_3_percent_is_no_spike(gain: float, poll: int) -> None:
    assert not any(conds for _, conds in _metered(gain, poll, None, 2 * 3_600))


@pytest.mark.parametrize("gain", [0.98, 1.0, 1.02])
@pytest.mark.parametrize("poll", [5, 10])
def test_spikes_on_a_port_whose_meter_gain_was_learnt_are_caught(gain: float, poll: int) -> None:
    onset = 3_600
    fired = [s for s, conds in _metered(gain, poll, onset, onset + 1_800) if conds]
    assert fired
    assert onset < fired[0] < onset + 600
