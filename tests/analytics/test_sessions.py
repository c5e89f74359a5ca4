"""Session records, fees and charging-curve alerts on lead-acid and lithium curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.alerts import Condition
from analytics.sessions import SessionConfig, SessionRecord, SessionTracker
from tests.analytics.synth import T0, lead_acid_power, lithium_power

DT = 30.0


def _run(
    tracker: SessionTracker, curve: list[float], start: float
) -> tuple[list[SessionRecord], list[list[Condition]]]:
    records, conds = [], []
    for k, p in enumerate([*curve, 0.0, 0.0]):
        c: list[Condition] = []
        records += tracker.update(start + k * DT, np.array([p]), np.array([40.0]), None, c)
        conds.append(c)
    return records, conds


def _tracker() -> SessionTracker:
    return SessionTracker("pile-1", 1, SessionConfig())


def _curve(fn: object, hours: float, rated: float) -> list[float]:
    return [fn(k * DT, rated) for k in range(int(hours * 3_600 / DT))]  # type: ignore[operator]


def test_lead_acid_session_record() -> None:
    tr = _tracker()
    records, conds = _run(tr, _curve(lead_acid_power, 6.0, 400.0), T0)
    assert len(records) == 1
    rec = records[0]
    assert rec.end_reason == "full"
    assert rec.peak_w == pytest.approx(400.0)
    expected_kwh = sum(_curve(lead_acid_power, 6.0, 400.0)[1:]) * DT / 3.6e6
    assert rec.energy_kwh == pytest.approx(expected_kwh, rel=1e-6)
    assert rec.duration_s == pytest.approx(6 * 3_600 - DT)
    assert sum(rec.slot_kwh.values()) == pytest.approx(rec.energy_kwh, rel=1e-9)
    assert rec.peak_temp_c == 40.0
    assert rec.meter_kwh is None
    assert rec.billed_kwh == rec.energy_kwh
    assert rec.float_frac > 0.1
    assert not any(conds)


def test_energy_is_kept_per_quarter_hour_of_delivery() -> None:
    tr = SessionTracker("p", 1, SessionConfig())
    start = 1_750_000_000.0 - 1_750_000_000.0 % 900  # a quarter-hour boundary
    for k in range(0, 1_801, 60):  # 30 minutes at 360 W: 0.09 kWh in each of two quarter hours
        tr.update(start + k, np.array([360.0]), np.array([35.0]), None, [])
    (rec,) = tr.update(start + 1_860, np.array([0.0]), np.array([35.0]), None, [])
    q = int(start % 86_400 // 900)
    assert sorted(rec.slot_kwh) == [q, q + 1]
    assert rec.slot_kwh[q] == pytest.approx(0.09)
    assert rec.slot_kwh[q + 1] == pytest.approx(0.09)


def test_silent_charging_port_ends_as_data_gap_and_starts_again() -> None:
    tr = SessionTracker("p", 1, SessionConfig(max_gap_s=600.0))
    state = np.array([1.0])
    for k in range(5):
        assert tr.update(T0 + k * 10, np.array([300.0]), np.array([30.0]), state, []) == []
    (rec,) = tr.update(T0 + 2_000, np.array([300.0]), np.array([30.0]), state, [])
    assert (rec.end_reason, rec.end) == ("data_gap", T0 + 40)
    assert tr.active[0]
    assert tr.start_t[0] == T0 + 2_000


def test_meter_reading_is_the_billed_energy() -> None:
    tr = SessionTracker("p", 1, SessionConfig())
    state = np.array([1.0])
    for k in range(4):
        tr.update(T0 + k * 10, np.array([300.0]), np.array([30.0]), state, [], meter=np.array([0.01 * k]))
    (rec,) = tr.update(T0 + 50, np.array([0.0]), np.array([30.0]), np.array([4.0]), [], meter=np.array([0.5]))
    assert (rec.end_reason, rec.meter_kwh, rec.billed_kwh) == ("stopped", 0.03, 0.03)


def test_lithium_cut_off_ends_full() -> None:
    records, conds = _run(_tracker(), _curve(lithium_power, 4.0, 300.0), T0)
    assert [r.end_reason for r in records] == ["full"]
    assert not any(conds)


def test_power_rising_after_float_is_flagged() -> None:
    curve = _curve(lead_acid_power, 6.0, 400.0) + [350.0] * 20
    _, conds = _run(_tracker(), curve, T0)
    kinds = {c.kind for cs in conds for c in cs}
    assert kinds == {"power_after_float"}


def test_session_that_never_floats_is_flagged() -> None:
    _, conds = _run(_tracker(), [150.0] * int(12 * 3_600 / DT), T0)
    assert {c.kind for cs in conds for c in cs} == {"session_no_float"}


def test_energy_no_ebike_battery_takes_is_oversized_from_the_first_session() -> None:
    _, conds = _run(_tracker(), [400.0] * int(7 * 3_600 / DT), T0)
    first = next(k for k, cs in enumerate(conds) if cs)
    assert {c.kind for c in conds[first]} == {"oversized_battery"}
    assert 5.9 * 3_600 < first * DT < 6.1 * 3_600


def _stalled_after(level_w: float) -> float:
    """Seconds from a 400 W taper's stall at ``level_w`` to its first alert."""
    steps = round((400.0 - level_w) / 400.0 * 60)
    taper = [400.0 * (1.0 - k / 60) for k in range(steps)]
    curve = [400.0] * 120 + taper + [level_w] * 160
    _, conds = _run(_tracker(), curve, T0)
    first = next(k for k, cs in enumerate(conds) if cs)
    assert {c.kind for c in conds[first]} == {"session_no_float"}
    assert "taper stalled" in conds[first][0].message
    return first * DT - (120 + steps) * DT


def test_taper_that_stalls_above_float_is_no_float() -> None:
    """Just above a quarter of the peak a stall holds ``stall_s``; at 60 % of it, as long as the
    slowest healthy taper (τ 3.3 h) takes to lose the same 3.5 % of the peak: 12 min, not 30."""
    assert 1_500.0 <= _stalled_after(110.0) <= 1_800.0 + 900.0
    assert 720.0 <= _stalled_after(240.0) <= 720.0 + 900.0


def test_the_slowest_healthy_taper_is_not_a_stall() -> None:
    tau = SessionConfig().taper_tau_max_s
    taper = [400.0 * math.exp(-k * DT / tau) for k in range(int(6 * 3_600 / DT))]
    _, conds = _run(_tracker(), [400.0] * 120 + taper + [20.0] * 60, T0)
    assert not any(conds)


def test_power_creeping_up_is_flagged_but_spikes_are_not() -> None:
    spiky = [300.0 if k % 7 else 1_500.0 for k in range(240)]
    creeping = [300.0 + 2.0 * math.exp(k * DT / 900.0) for k in range(240)]
    _, calm = _run(_tracker(), spiky, T0)
    _, conds = _run(_tracker(), creeping, T0)
    assert not any(calm)
    first = next(k for k, cs in enumerate(conds) if any(c.kind == "power_creep" for c in cs))
    rise = creeping[first] - 300.0
    assert 12.0 <= rise <= 40.0, f"flagged after a {rise:.0f} W rise"


def test_repeated_restarts() -> None:
    _, conds = _run(_tracker(), [300.0, 300.0, 0.0, 300.0, 0.0, 300.0, 300.0], T0)
    assert any(c.kind == "repeated_restarts" for cs in conds for c in cs)


def _cc_curve(rated: float, capacity_kwh: float, hours: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    soc, out = 0.1, []
    for _ in range(int(hours * 3_600 / 5.0)):
        p = rated * (0.92 + 0.08 * soc) * (1.0 + rng.normal(0.0, 0.003))
        soc += p * 5.0 / 3.6e6 / capacity_kwh
        out.append(p)
    return out


def _run5(curve: list[float]) -> list[list[Condition]]:
    tr, conds = _tracker(), []
    for k, p in enumerate(curve):
        c: list[Condition] = []
        tr.update(T0 + 5.0 * k, np.array([p]), np.array([40.0]), None, c)
        conds.append(c)
    return conds


def test_a_pack_too_big_for_any_ebike_shows_in_the_constant_current_ramp() -> None:
    conds = _run5(_cc_curve(500.0, 6.0, 2.0, seed=1))
    first = next(k for k, cs in enumerate(conds) if any(c.kind == "oversized_battery" for c in cs))
    assert first * 5.0 < 1.5 * 3_600
    assert "pack ≥" in next(c.message for c in conds[first] if c.kind == "oversized_battery")


def test_a_large_healthy_pack_is_not_oversized() -> None:
    for seed, rated in ((2, 200.0), (3, 800.0)):
        conds = _run5(_cc_curve(rated, 1.9, 2.0, seed=seed))
        assert not any(c.kind == "oversized_battery" for cs in conds for c in cs)


def test_spikes_two_polls_apart_do_not_lift_the_peak_when_marked() -> None:
    """Two spikes in consecutive polls pass a median of three; marked as spikes they do not
    become the curve's peak, so a flat constant-current charge is not a stalled taper."""
    curve = [600.0] * 240
    for k in range(20, 240, 30):
        curve[k] = curve[k + 1] = 2_000.0
    spiking = [p > 1_000.0 for p in curve]
    marked, unmarked = _tracker(), _tracker()
    flagged_marked, flagged_unmarked = [], []
    for k, p in enumerate(curve):
        c1: list[Condition] = []
        c2: list[Condition] = []
        t = T0 + k * DT
        marked.update(t, np.array([p]), np.array([40.0]), None, c1, spiking=np.array([spiking[k]]))
        unmarked.update(t, np.array([p]), np.array([40.0]), None, c2)
        flagged_marked += c1
        flagged_unmarked += c2
    assert marked.peak[0] == pytest.approx(600.0, rel=0.01)
    assert unmarked.peak[0] > 650.0, "the case the marking exists for"
    assert not flagged_marked


def test_power_climbing_across_a_data_gap_is_not_creep() -> None:
    """A pile silent for 15 minutes comes back with its port drawing more: the trend restarts."""
    tracker = _tracker()
    flagged: list[Condition] = []
    times = [T0 + k * DT for k in range(80)] + [T0 + 79 * DT + 900.0 + k * DT for k in range(1, 60)]
    for k, t in enumerate(times):
        power = 300.0 if k < 80 else 300.0 + min(k - 79, 10) * 30.0
        tracker.update(t, np.array([power]), np.array([40.0]), None, flagged)
    assert not [c for c in flagged if c.kind == "power_creep"]


def _full_session(rated: float, capacity_kwh: float, cc_hours: float, seed: int) -> list[float]:
    """A constant-current ramp, a 40-minute taper, 20 minutes of float, then the bike leaves."""
    cc = _cc_curve(rated, capacity_kwh, cc_hours, seed)
    taper = [cc[-1] * math.exp(-k * 5.0 / 900.0) for k in range(480)]
    return [*cc, *taper, *[20.0] * 240, *[0.0] * 120]


def test_a_big_healthy_pack_after_small_ones_on_the_same_port_is_not_oversized() -> None:
    """Traced false alert (``eval --train``, seed 1000, normal day, port 9 at 35 h): five 0.6 kWh
    charges, then another rider's healthy 2.2 kWh pack took 1.9 kWh — 2.7 × the port's usual
    energy, which the port norm called oversized. The same port with a pack no e-bike has
    still alerts, from its constant-current ramp."""
    tr, flagged = _tracker(), []
    curve: list[float] = []
    for seed in range(5):
        curve += _full_session(470.0, 1.0, 1.2, seed)
    big = _full_session(460.0, 2.2, 4.0, 9)
    oversized = _cc_curve(460.0, 6.0, 3.3, 10)
    starts = {"big": len(curve), "oversized": len(curve) + len(big)}
    for k, p in enumerate([*curve, *big, *oversized]):
        c: list[Condition] = []
        tr.update(T0 + 5.0 * k, np.array([p]), np.array([40.0]), None, c)
        flagged += [(k, x.kind) for x in c]
    assert tr.norm_n[0] >= 5, "the small charges are the port's norm"
    assert [f for f in flagged if f[0] < starts["oversized"]] == []
    assert any(kind == "oversized_battery" for k, kind in flagged if k >= starts["oversized"])


def test_a_healthy_ramp_on_a_wandering_supply_is_not_oversized_by_one_poll() -> None:
    """Traced false alert (``eval --train``, seed 1001, normal-winter-3-p1 port 11 at 0.67 h): a
    healthy 220 W charge 0.15 kWh into its ramp claimed a ≥ 2.7 kWh pack for one poll. The
    bound is re-tested at every poll, and a supply voltage wandering ±0.4 % over half an hour
    makes some poll of some port cross it; the claim must hold ``capacity_hold_s``. Two
    hundred healthy 1.5 kWh ramps: none flagged (12 of them were before); a pack no e-bike
    has is still flagged (``test_a_pack_too_big_for_any_ebike_shows_in_the_constant_current_ramp``)."""
    rng = np.random.default_rng(0)
    n = 200
    tracker = SessionTracker("pile-1", n, SessionConfig())
    phase, soc = rng.uniform(0.0, 2 * math.pi, n), np.full(n, 0.1)
    flagged: set[int] = set()
    for k in range(int(1.5 * 3_600 / 5)):
        supply = 1.0 + 0.004 * np.sin(2 * math.pi * k * 5.0 / 1_800.0 + phase)
        power = 220.0 * (0.92 + 0.08 * soc) * (1.0 + rng.normal(0.0, 0.003, n)) * supply
        soc += power * 5.0 / 3.6e6 / 1.5
        conds: list[Condition] = []
        tracker.update(T0 + 5.0 * k, power, np.full(n, 5.0), None, conds)
        flagged |= {c.port for c in conds if c.kind == "oversized_battery" and c.port is not None}
    assert flagged == set()
