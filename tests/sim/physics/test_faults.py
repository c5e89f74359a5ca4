"""Every fault kind shows its signature in read_points/raw_overrides and writes its labels."""

from __future__ import annotations

import math

import pytest

from chargewatch.errors import ConfigError
from firmware_sim.devices import Pile
from firmware_sim.faults import KINDS, Fault, FaultError, Label, is_hazard
from tests.sim.physics.helpers import (
    T0,
    advance,
    blocker,
    code,
    device_value,
    plug,
    port_values,
    quiet_pile,
)


def events(labels: list[Label]) -> list[tuple[str, str, int | None]]:
    return [(x.kind, x.event, x.port) for x in labels]


def run_collecting(pile: Pile, seconds: int, name: str, port: int) -> list[float]:
    out = []
    for _ in range(seconds):
        pile.step(pile.now + 1.0, 1.0)
        out.append(port_values(pile, name, port))
    return out


def test_hazards_and_sensor_faults_are_told_apart() -> None:
    hazards = {k for k in KINDS if is_hazard(k)}
    assert hazards == {
        "connector_overheat",
        "thermal_runaway_precursor",
        "overcharge",
        "oversized_battery",
        "overcurrent_spike",
        "short",
    }
    assert all(KINDS[k].critical for k in hazards)
    assert not any(KINDS[k].critical for k in set(KINDS) - hazards)


def test_connector_overheat_rises_contact_resistance_and_labels_critical_at_90() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    pile.inject(Fault(kind="connector_overheat", at=T0 + 60, port=3))
    temps = run_collecting(pile, 3 * 3600, "socket_temp", 3)
    port = pile.ports[3]
    assert port.charger is not None
    assert port.contact_ohm > 50 * port.contact_ohm0
    labels = pile.drain_labels()
    assert events(labels) == [("connector_overheat", "onset", 3), ("connector_overheat", "critical", 3)]
    onset, critical = labels[0].t, labels[1].t
    assert onset == T0 + 60
    assert labels[1].hazard
    assert labels[1].category == "thermal"
    assert temps[round(critical - T0) - 2] < 90 <= max(temps)
    neighbours = [port_values(pile, "socket_temp", i) for i in range(10) if i != 3]
    assert max(temps) > max(neighbours) + 40


def test_thermal_runaway_precursor_heats_battery_then_smoke_cuts_the_pile() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    plug(pile, 7, "lithium_48", soc=0.6, watts=300.0)
    advance(pile, 120)
    before = port_values(pile, "socket_temp", 7)
    pile.inject(Fault(kind="thermal_runaway_precursor", at=pile.now + 1, port=7))
    smoke_at = None
    for k in range(4 * 3600):
        pile.step(pile.now + 1.0, 1.0)
        if smoke_at is None and device_value(pile, "smoke_alarm") == 1.0:
            smoke_at = k
    labels = pile.drain_labels()
    kinds = events(labels)
    kind = "thermal_runaway_precursor"
    assert kinds[:2] == [(kind, "onset", 7), (kind, "critical", 7)]
    assert smoke_at is not None
    assert labels[1].t - T0 < smoke_at + 120 + 1
    assert pile.ports[7].battery_c > 110
    assert pile.ports[7].fault == "smoke"
    assert port_values(pile, "fault_code", 7) == code(pile, "fault_code", "smoke")
    assert port_values(pile, "socket_temp", 7) > before + 10


def test_precursor_power_never_falls_to_float() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    pile.inject(Fault(kind="thermal_runaway_precursor", at=T0 + 1, port=0, params={"smoke_c": 1e4}))
    powers = run_collecting(pile, 3 * 3600, "power", 0)
    assert pile.ports[0].state == "charging"
    assert min(powers[3600:]) > 45


def test_overcharge_never_tapers_and_labels_critical_past_full() -> None:
    pile = quiet_pile()
    charger = plug(pile, 2, "lithium_60", soc=0.7, watts=500.0)
    pile.inject(Fault(kind="overcharge", at=T0 + 30, port=2))
    powers = run_collecting(pile, 4 * 3600, "power", 2)
    assert min(powers[60:]) > 0.5 * 500
    assert pile.ports[2].charging
    assert charger.soc > 1.2
    assert events(pile.drain_labels()) == [("overcharge", "onset", 2), ("overcharge", "critical", 2)]
    assert pile.ports[2].battery_c > pile.ports[2].socket_c + 20


def test_oversized_battery_takes_far_more_energy_than_its_charger_should() -> None:
    pile = quiet_pile()
    charger = plug(pile, 5, "lithium_48", soc=0.5, watts=600.0)
    pile.inject(Fault(kind="oversized_battery", at=T0 + 10, port=5, params={"factor": 5.0}))
    advance(pile, 11)
    assert charger.capacity_wh == pytest.approx(5.0 * charger.nominal_wh)
    assert charger.soc == pytest.approx(0.1, abs=0.01)
    advance(pile, 12 * 3600, dt=2.0)
    labels = events(pile.drain_labels())
    assert labels == [("oversized_battery", "onset", 5), ("oversized_battery", "critical", 5)]
    assert port_values(pile, "energy", 5) > 2.0 * charger.nominal_wh / 1000.0
    assert port_values(pile, "session_s", 5) > 5 * 3600


def test_overcurrent_spikes_show_above_the_limit_without_a_cut() -> None:
    pile = quiet_pile()
    plug(pile, 1, "lead_acid_48", soc=0.2, watts=300.0)
    pile.inject(Fault(kind="overcurrent_spike", at=T0 + 5, port=1, params={"every_s": 30.0}))
    currents = run_collecting(pile, 1800, "current", 1)
    spikes = [c for c in currents if c > pile.limit_a]
    assert 20 <= len(spikes) <= 120
    assert pile.ports[1].charging
    labels = pile.drain_labels()
    assert events(labels) == [("overcurrent_spike", "onset", 1), ("overcurrent_spike", "critical", 1)]
    assert labels[1].category == "electrical"


def test_short_cuts_the_port_over_current() -> None:
    pile = quiet_pile()
    pile.inject(Fault(kind="short", at=T0 + 5, port=4))
    currents = run_collecting(pile, 20, "current", 4)
    assert max(currents) == pytest.approx(25.0)
    assert port_values(pile, "fault_code", 4) == code(pile, "fault_code", "over_current")
    assert port_values(pile, "current", 4) == 0.0
    assert events(pile.drain_labels()) == [("short", "onset", 4), ("short", "critical", 4)]


def test_sensor_stuck_freezes_the_reading_while_the_truth_moves() -> None:
    pile = quiet_pile()
    plug(pile, 0, "lithium_48", soc=0.1, watts=800.0)
    pile.inject(Fault(kind="sensor_stuck", at=T0 + 2, port=0))
    readings = run_collecting(pile, 1800, "socket_temp", 0)
    assert len(set(readings[5:])) == 1
    assert abs(pile.ports[0].socket_c - readings[-1]) > 3
    assert events(pile.drain_labels()) == [("sensor_stuck", "onset", 0)]


def test_sensor_dropout_reads_open_circuit_in_bursts_then_ends() -> None:
    pile = quiet_pile()
    pile.inject(Fault(kind="sensor_dropout", at=T0 + 2, port=6, params={"duration_s": 1000.0}))
    readings = run_collecting(pile, 1200, "socket_temp", 6)
    dropped = [r == -40.0 for r in readings]
    assert 150 < sum(dropped[:1000]) < 500
    assert not any(dropped[1010:])
    assert events(pile.drain_labels()) == [("sensor_dropout", "onset", 6), ("sensor_dropout", "end", 6)]


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12"])
def test_sensor_garbage_fills_registers_with_out_of_range_words(model: str) -> None:
    pile = quiet_pile(model)
    pile.inject(Fault(kind="sensor_garbage", at=T0 + 1, port=2, params={"point": "current"}))
    point = pile.profile.point("current")
    hits = 0
    for _ in range(200):
        pile.step(pile.now + 1.0, 1.0)
        overrides = pile.raw_overrides()
        words = overrides.get(("current", 2))
        if words is not None:
            hits += 1
            assert len(words) == point.width
            value = point.decode(words)
            assert not point.plausible(value) or math.isnan(value)
    assert 60 < hits < 140
    assert events(pile.drain_labels()) == [("sensor_garbage", "onset", 2)]


def test_pile_unresponsive_stops_answering_for_its_duration() -> None:
    pile = quiet_pile()
    pile.inject(Fault(kind="pile_unresponsive", at=T0 + 10, params={"duration_s": 300.0}))
    advance(pile, 9)
    assert pile.responding
    advance(pile, 1)
    assert not pile.responding
    advance(pile, 299)
    assert not pile.responding
    advance(pile, 1)
    assert pile.responding
    labels = pile.drain_labels()
    assert events(labels) == [("pile_unresponsive", "onset", None), ("pile_unresponsive", "end", None)]
    assert labels[0].category == "device"
    assert not labels[0].hazard
    assert labels[1].t - labels[0].t == 300


def test_blocker_camera_fault_goes_offline_and_stops_detecting() -> None:
    device = blocker(ebike_rate_per_h=30.0)
    device.inject(Fault(kind="blocker_camera_fault", at=T0 + 5, params={"code": "lens_blocked"}))
    advance(device, 5)
    before = device.detections
    advance(device, 3600)
    assert device.detections == before
    assert device_value(device, "camera_online") == 0.0
    assert device_value(device, "camera_fault_code") == 2.0
    assert events(device.drain_labels()) == [("blocker_camera_fault", "onset", None)]


def test_blocker_offline_stops_answering() -> None:
    device = blocker()
    device.inject(Fault(kind="blocker_offline", at=T0 + 1))
    advance(device, 1)
    assert not device.responding
    advance(device, 900)
    assert device.responding
    assert [x.event for x in device.drain_labels()] == ["onset", "end"]


@pytest.mark.parametrize(
    ("kind", "port", "params", "target"),
    [
        ("connector_overheat", None, {}, "pile"),
        ("connector_overheat", 10, {}, "pile"),
        ("pile_unresponsive", 1, {}, "pile"),
        ("connector_overheat", 1, {"doubling": 5.0}, "pile"),
        ("sensor_stuck", 1, {"point": "meter"}, "pile"),
        ("sensor_stuck", 1, {"point": 3.0}, "pile"),
        ("blocker_relay_stuck", None, {}, "pile"),
        ("connector_overheat", 1, {}, "blocker"),
        ("blocker_camera_fault", None, {"code": "no_such_code"}, "blocker"),
        ("meteor_strike", None, {}, "blocker"),
    ],
)
def test_faults_that_do_not_fit_are_refused(
    kind: str, port: int | None, params: dict[str, float | str], target: str
) -> None:
    device = quiet_pile() if target == "pile" else blocker()
    with pytest.raises(FaultError, match=kind):
        device.inject(Fault(kind=kind, at=T0, port=port, params=params))


def test_contact_hazard_on_a_finishing_charge_swaps_in_a_fresh_bike() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    old = plug(pile, 2, "lithium_48", soc=0.97)
    advance(pile, 120)
    assert old.stage == "cv"
    assert pile.ports[2].charging
    count = port_values(pile, "session_count", 2)
    pile.inject(Fault(kind="connector_overheat", at=pile.now + 1, port=2))
    advance(pile, 2)
    assert port_values(pile, "state", 2) == code(pile, "state", "idle")
    advance(pile, 130)
    port = pile.ports[2]
    assert port.charger is not old
    assert port.charger is not None
    assert port.charging
    assert port.charger.stage == "cc"
    assert port_values(pile, "session_count", 2) == count + 1
    advance(pile, 3 * 3600)
    assert ("connector_overheat", "critical", 2) in events(pile.drain_labels())


def test_contact_hazard_near_the_cv_transition_also_swaps_in_a_fresh_bike() -> None:
    """Still in bulk but minutes from CV: the current would taper away before the contact heats."""
    pile = quiet_pile(temp_cut_c=0.0)
    old = plug(pile, 4, "lithium_48", soc=0.5)
    advance(pile, 60)
    old.soc = old.cv_soc - 0.02
    assert old.stage == "cc"
    assert 0.0 < old.bulk_left_s() < 1800.0
    pile.inject(Fault(kind="connector_overheat", at=pile.now + 1, port=4))
    advance(pile, 130)
    fresh = pile.ports[4].charger
    assert fresh is not None
    assert fresh is not old
    assert fresh.bulk_left_s() >= 3600.0
    advance(pile, 3 * 3600)
    assert ("connector_overheat", "critical", 4) in events(pile.drain_labels())


def test_contact_hazard_with_a_long_bulk_ahead_keeps_the_bike() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    bike = plug(pile, 5, "lead_acid_48", soc=0.1)
    advance(pile, 60)
    assert bike.bulk_left_s() > 3600.0
    pile.inject(Fault(kind="connector_overheat", at=pile.now + 1, port=5))
    advance(pile, 10)
    assert pile.ports[5].charger is bike
    assert pile.ports[5].charging


def test_self_heating_draws_no_extra_power_in_constant_current() -> None:
    healthy, heating = quiet_pile(temp_cut_c=0.0), quiet_pile(temp_cut_c=0.0)
    charger_h = plug(healthy, 0, "lithium_48", soc=0.1, watts=500.0)
    charger_f = plug(heating, 0, "lithium_48", soc=0.1, watts=500.0)
    params: dict[str, float | str] = {"q0_w": 60.0, "growth_s": 1e9, "max_w": 60.0, "smoke_c": 1e4}
    heating.inject(Fault(kind="thermal_runaway_precursor", at=T0 + 1, port=0, params=params))
    p_healthy = run_collecting(healthy, 1800, "power", 0)
    p_heating = run_collecting(heating, 1800, "power", 0)
    assert charger_f.stage == charger_h.stage == "cc"
    mean_h, mean_f = sum(p_healthy[60:]) / 1740, sum(p_heating[60:]) / 1740
    assert abs(mean_f - mean_h) < 0.005 * mean_h  # the old model added half the heat as AC power
    assert charger_f.soc < charger_h.soc  # the internal short steals charge instead
    assert heating.ports[0].battery_c > healthy.ports[0].battery_c + 20


def test_self_heating_holds_up_the_cv_current_and_keeps_the_charge_from_ending() -> None:
    healthy, heating = quiet_pile(temp_cut_c=0.0), quiet_pile(temp_cut_c=0.0)
    plug(healthy, 0, "lithium_48", soc=0.88, watts=500.0)
    plug(heating, 0, "lithium_48", soc=0.88, watts=500.0)
    params: dict[str, float | str] = {"q0_w": 80.0, "growth_s": 1e9, "max_w": 80.0, "smoke_c": 1e4}
    heating.inject(Fault(kind="thermal_runaway_precursor", at=T0 + 1, port=0, params=params))
    p_healthy = run_collecting(healthy, 3 * 3600, "power", 0)
    p_heating = run_collecting(heating, 3 * 3600, "power", 0)
    assert not healthy.ports[0].charging  # ended full (or idle on its standby watts)
    assert heating.ports[0].state == "charging"
    assert min(p_heating[-600:]) > 40.0 > max(p_healthy[-600:])


def test_a_contact_that_plateaus_is_held_an_hour_before_critical() -> None:
    pile = quiet_pile(temp_cut_c=0.0)
    plug(pile, 3, "lead_acid_60", soc=0.1, watts=450.0)
    pile.ports[3].charger.capacity_wh = 60.0 * 32.0  # type: ignore[union-attr]
    pile.inject(Fault(kind="connector_overheat", at=T0 + 60, port=3, params={"plateau_c": 70.0}))
    temps = run_collecting(pile, 4 * 3600, "socket_temp", 3)
    labels = pile.drain_labels()
    assert events(labels) == [("connector_overheat", "onset", 3), ("connector_overheat", "critical", 3)]
    first_hot = next(k for k, c in enumerate(temps) if c >= 68.0)
    critical_k = round(labels[1].t - T0) - 1
    assert critical_k - first_hot >= 3600
    assert max(temps) < 72.0
    assert pile.ports[3].overheat is None  # the wear stopped once the contact would settle at 70 °C


def test_an_open_pile_barely_feels_a_hot_battery_a_locker_does() -> None:
    rises = []
    for coupling in (0.0005, 0.03):
        pile = quiet_pile(temp_cut_c=0.0, battery_coupling_w_per_k=coupling)
        plug(pile, 7, "lithium_48", soc=0.2, watts=300.0)
        advance(pile, 600)
        before = pile.ports[7].socket_c
        params: dict[str, float | str] = {"q0_w": 40.0, "growth_s": 1e9, "max_w": 40.0, "smoke_c": 1e4}
        pile.inject(Fault(kind="thermal_runaway_precursor", at=pile.now + 1, port=7, params=params))
        advance(pile, 3 * 3600)
        assert pile.ports[7].battery_c > before + 25
        rises.append(pile.ports[7].socket_c - before)
    assert rises[0] < 1.0
    assert rises[1] > 5.0


def test_battery_coupling_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="battery_coupling_w_per_k"):
        quiet_pile(battery_coupling_w_per_k=-0.1)
