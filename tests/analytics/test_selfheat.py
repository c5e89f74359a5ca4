"""``battery_self_heating``: the runaway precursor's two pile-side signatures, and no false ones."""

from __future__ import annotations

import math

import numpy as np

from analytics.alerts import Condition
from analytics.rules.selfheat import KIND, SelfHeatConfig, SelfHeatRules
from analytics.sessions import SessionConfig, SessionTracker
from tests.analytics.synth import T0

DT = 10.0


def _charge(powers: list[float], *, socket: float = 30.0, ambient: float = 25.0) -> list[float]:
    """Feed one port's power curve through the tracker and the rules; times it fired (s)."""
    tracker = SessionTracker("p", 1, SessionConfig())
    rules = SelfHeatRules(1, SelfHeatConfig())
    fired = []
    for k, p in enumerate(powers):
        t = T0 + k * DT
        conds: list[Condition] = []
        power = np.array([p])
        tracker.update(t, power, np.array([socket]), None, [])
        rules.evaluate(
            t,
            active=tracker.active,
            start_t=tracker.start_t,
            smooth_w=tracker.smooth,
            median_w=tracker.med,
            power=power,
            socket_c=np.array([socket]),
            ambient_c=np.array([ambient]),
            temp_ok=np.array([True]),
            socket_moved_t=np.array([T0]),  # a steady socket: the idle signature stays out of it
            conditions=conds,
        )
        assert all(c.kind == KIND and c.port == 0 for c in conds)
        if conds:
            fired.append(k * DT)
    return fired


def _taper(minutes: float, leak_w: float = 0.0, growth_s: float = 900.0) -> list[float]:
    """30 min of constant current at 400 W, then a CV taper (τ 20 min) plus a growing leak."""
    out = []
    for k in range(int(minutes * 60 / DT)):
        t = k * DT
        if t < 1_800:
            out.append(390.0 + 10.0 * t / 1_800)
        else:
            leak = leak_w * math.exp((t - 1_800) / growth_s)
            out.append(min(400.0 * math.exp(-(t - 1_800) / 1_200) + leak, 400.0))
    return out


def test_a_healthy_taper_never_fires() -> None:
    assert _charge(_taper(180)) == []


def test_current_climbing_back_up_the_taper_fires() -> None:
    fired = _charge(_taper(180, leak_w=1.0))
    assert fired
    # the taper's floor is about 1.0·e^(t/900) + 400·e^(−t/1200): the climb starts near 55 min
    assert 55 * 60 < fired[0] < 120 * 60


def test_a_charger_restarting_its_cycle_is_a_step_not_a_climb() -> None:
    # back to bulk below the old peak, and that bulk's own ramp (+5 % in an hour) is no climb
    bulk = [380.0 + 20.0 * k * DT / 3_600 for k in range(int(3_600 / DT))]
    powers = _taper(90) + bulk
    assert _charge(powers) == []


def _idle(
    minutes: float,
    rise_c_per_h: float,
    air_swing_c: float = 0.0,
    state: float = 2.0,
    *,
    air_drift_c_per_h: float = 0.0,
    frozen_from_s: float = math.inf,
) -> list[float]:
    """A port with no load (``state``: full by default); the air swings by ``air_swing_c`` over a
    day and drifts by ``air_drift_c_per_h``, the socket follows it with a 600 s lag and warms by
    ``rise_c_per_h`` from the 40th minute on; its sensor reads the same value from
    ``frozen_from_s`` on."""
    rules = SelfHeatRules(1, SelfHeatConfig())
    socket = 26.0
    read, moved_t = math.nan, T0
    fired = []
    for k in range(int(minutes * 60 / DT)):
        t = k * DT
        air = 25.0 + air_swing_c * math.sin(2 * math.pi * t / 86_400) + air_drift_c_per_h * t / 3_600
        socket += (air + 1.0 - socket) * (1 - math.exp(-DT / 600.0))
        warm = rise_c_per_h * max(0.0, t - 2_400) / 3_600
        if t < frozen_from_s:
            new = round((socket + warm) * 2) / 2  # a 0.5 °C register
            if new != read:
                read, moved_t = new, T0 + t  # as the sensor rule's changed_t tracks it
        conds: list[Condition] = []
        rules.evaluate(
            T0 + t,
            active=np.array([False]),
            start_t=np.array([0.0]),
            smooth_w=np.array([0.0]),
            median_w=np.array([0.0]),
            power=np.array([0.0]),
            socket_c=np.array([read]),
            ambient_c=np.array([air]),
            temp_ok=np.array([True]),
            socket_moved_t=np.array([moved_t]),
            conditions=conds,
            state=np.array([state]),
        )
        if conds:
            fired.append(t)
    return fired


def test_an_idle_socket_warmed_by_its_battery_fires() -> None:
    fired = _idle(120, rise_c_per_h=2.0)
    assert fired
    assert 40 * 60 < fired[0] < 80 * 60


def test_a_port_with_nothing_plugged_in_is_not_judged() -> None:
    # an ``idle`` port has no plug in it as far as the pile knows: a warm bike set down beside
    # it, or a battery plugged into a pile that will not start, is not a battery on charge
    assert _idle(120, rise_c_per_h=2.0, state=0.0) == []


def test_an_idle_socket_following_the_air_does_not_fire() -> None:
    # 6 K peak to peak over the day: the steepest part of a summer day, for six hours
    assert _idle(360, rise_c_per_h=0.0, air_swing_c=6.0) == []


def test_a_frozen_socket_reading_in_cooling_air_is_no_battery() -> None:
    # the evening: the air cools 1 K an hour; the socket's sensor stuck an hour into the idle.
    # Its gap to the (lag-corrected) air widens by itself, but a reading that has not moved for
    # three socket time constants is not a socket being warmed.
    assert _idle(300, rise_c_per_h=0.0, air_drift_c_per_h=-1.0, frozen_from_s=3_600) == []
    # the same socket with a live sensor simply follows the air down
    assert _idle(300, rise_c_per_h=0.0, air_drift_c_per_h=-1.0) == []
    # and a live sensor in that cooling air still shows a battery warming it
    assert _idle(300, rise_c_per_h=2.0, air_drift_c_per_h=-1.0)


def test_a_data_gap_starts_both_signatures_afresh() -> None:
    rules = SelfHeatRules(2, SelfHeatConfig())
    conds: list[Condition] = []
    cols = {
        "active": np.array([True, False]),
        "start_t": np.array([T0, 0.0]),
        "smooth_w": np.array([200.0, 0.0]),
        "median_w": np.array([200.0, 0.0]),
        "power": np.array([200.0, 0.0]),
        "socket_c": np.array([30.0, 26.0]),
        "ambient_c": np.array([25.0, 25.0]),
        "temp_ok": np.array([True, True]),
        "socket_moved_t": np.array([T0, T0]),
    }
    rules.evaluate(T0, conditions=conds, **cols)
    rules.evaluate(T0 + 3_600, conditions=conds, **cols)
    assert np.isinf(rules.floor_w).all()  # the taper's floor is forgotten until the power settles
    assert np.isnan(rules.idle_since).all()
    assert conds == []
