"""Charging curves and the pile firmware's session rules."""

from __future__ import annotations

import itertools

import pytest

from firmware_sim.faults import Fault
from tests.sim.physics.helpers import (
    T0,
    advance,
    code,
    device_value,
    plug,
    port_values,
    quiet_pile,
    with_limits,
)


def test_energy_is_the_integral_of_reported_power() -> None:
    pile = quiet_pile()
    plug(pile, 0, "lithium_48", soc=0.2, watts=600.0)
    plug(pile, 1, "lead_acid_60", soc=0.4, watts=300.0)
    integral = [0.0, 0.0]
    for _ in range(3 * 3600):
        pile.step(pile.now + 1.0, 1.0)
        for i in (0, 1):
            integral[i] += port_values(pile, "power", i) / 3.6e6
    for i in (0, 1):
        assert port_values(pile, "meter", i) == pytest.approx(integral[i], rel=0.01)
        assert integral[i] > 0.5


def test_power_is_voltage_times_current_near_220_v() -> None:
    pile = quiet_pile()
    plug(pile, 3, "lithium_60", watts=500.0)
    advance(pile, 60)
    v, i, p = (port_values(pile, n, 3) for n in ("voltage", "current", "power"))
    assert 215 < v < 240
    assert p == pytest.approx(v * i, rel=1e-9)
    assert 450 < p < 560


def test_lithium_current_tapers_in_cv_then_session_ends_full() -> None:
    pile = quiet_pile()
    charger = plug(pile, 0, "lithium_48", soc=0.5, watts=600.0)
    currents: list[float] = []
    cv_start = None
    while pile.ports[0].state != "full" and len(currents) < 8 * 3600:
        pile.step(pile.now + 1.0, 1.0)
        currents.append(port_values(pile, "current", 0))
        if cv_start is None and charger.stage == "cv":
            cv_start = len(currents)
    assert cv_start is not None
    assert pile.ports[0].state == "full"
    cv = currents[cv_start:]
    minute_means = [sum(cv[k : k + 60]) / 60 for k in range(0, len(cv) - 60, 60)]
    assert all(b < a for a, b in itertools.pairwise(minute_means))
    assert minute_means[-1] < 0.25 * currents[cv_start - 10]
    assert port_values(pile, "state", 0) == code(pile, "state", "full")
    assert port_values(pile, "current", 0) == 0.0
    assert charger.soc > 0.95


def test_lead_acid_goes_bulk_absorption_float_and_ends_full() -> None:
    pile = quiet_pile()
    charger = plug(pile, 2, "lead_acid_48", soc=0.5, watts=350.0)
    stages: list[str] = []
    float_power = []
    for _ in range(12 * 3600):
        pile.step(pile.now + 1.0, 1.0)
        if not stages or stages[-1] != charger.stage:
            stages.append(charger.stage)
        if charger.stage == "float" and pile.ports[2].charging:
            float_power.append(port_values(pile, "power", 2))
        if pile.ports[2].state == "full":
            break
    assert stages == ["cc", "cv", "float"]
    assert len(float_power) > 10
    assert max(float_power[1:]) < 30
    assert pile.ports[2].state == "full"
    assert pile.ports[2].fault == "none"


def test_relay_written_zero_stops_current_within_one_step_and_one_restarts() -> None:
    pile = quiet_pile()
    plug(pile, 4, "lithium_60", soc=0.3, watts=700.0)
    advance(pile, 30)
    assert port_values(pile, "current", 4) > 2.0
    pile.write_point("relay_on", 4, 0.0)
    assert port_values(pile, "current", 4) == 0.0
    advance(pile, 1)
    assert port_values(pile, "current", 4) == 0.0
    assert port_values(pile, "relay_on", 4) == 0.0
    assert port_values(pile, "state", 4) == code(pile, "state", "stopped")
    assert port_values(pile, "fault_code", 4) == code(pile, "fault_code", "remote_stop")
    advance(pile, 60)
    assert port_values(pile, "current", 4) == 0.0
    pile.write_point("relay_on", 4, 1.0)
    advance(pile, 2)
    assert port_values(pile, "current", 4) > 2.0
    assert port_values(pile, "session_count", 4) == 2.0


def test_max_duration_ends_the_session() -> None:
    pile = quiet_pile()
    pile.write_point("max_session_s", None, 600.0)
    plug(pile, 0, "lead_acid_60", soc=0.1, watts=200.0)
    advance(pile, 599)
    assert pile.ports[0].charging
    advance(pile, 2)
    assert port_values(pile, "state", 0) == code(pile, "state", "stopped")
    assert port_values(pile, "fault_code", 0) == code(pile, "fault_code", "timeout")
    assert port_values(pile, "session_s", 0) == 600.0


@pytest.mark.parametrize(("cut", "ends"), [(70.0, True), (0.0, False)])
def test_temperature_cut_ends_the_session_unless_disabled(cut: float, ends: bool) -> None:
    pile = quiet_pile(temp_cut_c=cut)
    assert device_value(pile, "temp_cut_c") == cut
    plug(pile, 1, "lithium_48", soc=0.1, watts=800.0)
    pile.inject(Fault(kind="connector_overheat", at=T0 + 10, port=1, params={"doubling_s": 300.0}))
    hottest = 0.0
    for _ in range(2 * 3600):
        pile.step(pile.now + 1.0, 1.0)
        hottest = max(hottest, port_values(pile, "socket_temp", 1))
    critical = [x for x in pile.drain_labels() if x.event == "critical"]
    if ends:
        assert pile.ports[1].fault == "over_temperature"
        assert port_values(pile, "fault_code", 1) == code(pile, "fault_code", "over_temperature")
        assert 70 <= hottest < 75
        assert not critical
    else:
        assert pile.ports[1].fault == "none"
        assert hottest > 90
        assert len(critical) == 1


def test_budget_refuses_new_sessions_above_the_new_session_limit() -> None:
    pile = quiet_pile(profile=with_limits("cw-pile-10", pile_new_session_max_w=1000.0))
    for port in range(6):
        plug(pile, port, "lithium_48", soc=0.2, watts=400.0)
    advance(pile, 60)
    charging = [p for p in pile.ports if p.charging]
    assert len(charging) == 2
    assert device_value(pile, "total_power") < 1000
    assert all(p.state == "idle" and p.charger is not None for p in pile.ports[2:6])


def test_overload_cuts_the_largest_port() -> None:
    pile = quiet_pile(profile=with_limits("cw-pile-10", pile_max_power_w=1300.0))
    for port in range(3):
        plug(pile, port, "lithium_48", soc=0.2, watts=400.0 + 100 * port)
    advance(pile, 10)
    assert pile.ports[2].fault == "pile_overload"
    assert port_values(pile, "fault_code", 2) == code(pile, "fault_code", "pile_overload")
    assert pile.ports[0].charging


@pytest.mark.parametrize(("nominal", "fault"), [(285.0, "over_voltage"), (95.0, "under_voltage")])
def test_supply_out_of_bounds_cuts_every_port(nominal: float, fault: str) -> None:
    pile = quiet_pile(supply_nominal_v=nominal, initial_occupancy=1.0)
    advance(pile, 2)
    assert all(p.fault == fault for p in pile.ports)
    assert device_value(pile, "total_power") < 10


def test_unplug_mid_session_ends_after_five_minute_average() -> None:
    pile = quiet_pile()
    plug(pile, 0, "lead_acid_48", soc=0.2, watts=300.0)
    advance(pile, 600)
    pile.ports[0].unplug_at = pile.now
    advance(pile, 240)
    assert pile.ports[0].charging
    advance(pile, 360)
    assert pile.ports[0].state == "idle"
    assert pile.ports[0].fault == "none"


def test_second_vendor_reports_its_own_codes() -> None:
    pile = quiet_pile("vx-pile-12")
    plug(pile, 11, "lithium_60", watts=500.0)
    advance(pile, 5)
    assert port_values(pile, "state", 11) == 1.0
    pile.write_point("relay_on", 11, 0)
    assert port_values(pile, "state", 11) == 7.0
    assert port_values(pile, "fault_code", 11) == 17.0


def test_arrivals_sessions_and_unplugs_happen_by_themselves() -> None:
    pile = quiet_pile(plug_rate_per_h=1.0, mean_unplug_after_end_s=600.0)
    advance(pile, 12 * 3600, dt=2.0)
    counts = [p.session_count for p in pile.ports]
    assert sum(counts) > 20
    chemistries = {p.charger.chemistry for p in pile.ports if p.charger is not None}
    assert chemistries
    assert device_value(pile, "heartbeat") == float((12 * 3600) & 0xFFFF)


def test_cabinet_air_follows_the_load_with_a_lag_not_a_jump() -> None:
    """The pile's ambient sensor sits in the cabinet: a one-second current spike cannot heat it."""
    pile = quiet_pile()
    advance(pile, 60)
    idle = device_value(pile, "ambient_temp")
    for port in range(8):
        plug(pile, port, "lithium_48", watts=800.0)
    advance(pile, 30)
    soon = device_value(pile, "ambient_temp")
    advance(pile, 3_600)
    later = device_value(pile, "ambient_temp")
    assert soon - idle < 0.5 * (later - idle)
    assert later - idle > 1.5
