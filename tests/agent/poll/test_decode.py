"""Block planning and decoding: limits, garbage → flags (never values), canonical states, speed."""

from __future__ import annotations

import math
import time

import pytest

from chargewatch.messages import PORT_STATES
from chargewatch.profiles import BIT_TABLES, find_profile
from edge_agent.modbus import DeviceDecoder, plan_blocks
from edge_agent.modbus.planner import MAX_BITS, MAX_REGISTERS
from tests.agent.poll.fakes import FakeDevice


def _poll(dev: FakeDevice, decoder: DeviceDecoder) -> list[list[int] | None]:
    return [dev.tables[b.table][b.address : b.end] for b in decoder.blocks]


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12", "cw-blocker"])
def test_blocks_cover_every_point_within_limits(model: str) -> None:
    profile = find_profile(model)
    blocks = plan_blocks(profile)
    covered = {(s.point.name, s.port) for b in blocks for s in b.slots}
    assert covered == {(p.name, port) for p, port, _ in profile.instances()}
    for b in blocks:
        assert b.count <= (MAX_BITS if b.table in BIT_TABLES else MAX_REGISTERS)
        for s in b.slots:
            assert s.offset + s.point.width <= b.count
    # merging: far fewer reads than points
    assert len(blocks) < len(profile.instances()) / 4


def test_no_gap_merging_splits_blocks() -> None:
    profile = find_profile("cw-pile-10")
    assert len(plan_blocks(profile, max_gap=0)) > len(plan_blocks(profile, max_gap=8))


def test_values_roundtrip_and_states_are_canonical() -> None:
    profile = find_profile("vx-pile-12")
    dev = FakeDevice(profile, 1)
    dev.fill_normal()
    dev.set("state", 3, 0)  # vendor code 3 = full
    dev.set("state", 9, 1)  # vendor code 9 = fault
    dev.set("socket_temp", 41.5, 2)
    decoder = DeviceDecoder(profile, plan_blocks(profile))
    d = decoder.decode(_poll(dev, decoder))
    assert d.ports["state"][0] == PORT_STATES["full"]
    assert d.ports["state"][1] == PORT_STATES["fault"]
    assert d.ports["socket_temp"][2] == pytest.approx(41.5)
    assert d.ports["voltage"][5] == pytest.approx(dev.get("voltage", 5))
    assert d.flags == {}


def test_garbage_becomes_flags_never_values() -> None:
    profile = find_profile("vx-pile-12")
    dev = FakeDevice(profile, 1)
    dev.fill_normal()
    dev.set_raw("voltage", [0x0000, 0x7FC0], 3)  # f32 NaN, low word first
    dev.set_raw("current", [0x0000, 0x7F80], 4)  # +Inf
    dev.set("socket_temp", 149.0, 5)
    dev.set_raw("socket_temp", [0xFFFE], 6)  # 0xFFFE * 0.5 - 40 = far above range
    dev.set("state", 5, 7)  # not a code the profile defines
    decoder = DeviceDecoder(profile, plan_blocks(profile))
    data = _poll(dev, decoder)
    failed = next(i for i, b in enumerate(decoder.blocks) if b.table == "discrete")
    data[failed] = None
    d = decoder.decode(data)
    assert d.ports["voltage"][3] is None
    assert d.flags["voltage[3]"] == "not_finite"
    assert d.ports["current"][4] is None
    assert d.flags["current[4]"] == "not_finite"
    assert d.ports["socket_temp"][5] == pytest.approx(149.0)
    assert d.ports["socket_temp"][6] is None
    assert d.flags["socket_temp[6]"] == "out_of_range"
    assert d.ports["state"][7] is None
    assert d.flags["state[7]"] == "unknown_code"
    assert d.values["smoke_alarm"] is None
    assert d.flags["smoke_alarm"] == "read_failed"
    every = [v for col in d.ports.values() for v in col] + list(d.values.values())
    assert all(v is None or math.isfinite(v) for v in every)
    flagged = {k for k in d.flags if "[" in k}
    assert flagged == {"voltage[3]", "current[4]", "socket_temp[6]", "state[7]"}


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12"])
def test_no_sensor_sentinels_become_none_with_a_flag(model: str) -> None:
    profile = find_profile(model)
    dev = FakeDevice(profile, 1)
    dev.fill_normal()
    dev.set_raw("socket_temp", [0xFFFF], 2)  # cw: would decode to -0.1 °C, a plausible reading
    dev.set_raw("meter", [0xFFFF, 0xFFFF], 1)  # cw: 42,949,672.95 kWh; vx: NaN
    dev.set_raw("energy", [0xFFFF, 0xFFFF], 0)
    ambient = profile.point("ambient_temp")
    dev.set_raw("ambient_temp", ambient.raw_words(ambient.invalid[0]) if ambient.invalid else [0])
    dev.set("socket_temp", 25.0, 3)
    decoder = DeviceDecoder(profile, plan_blocks(profile))
    d = decoder.decode(_poll(dev, decoder))
    assert (d.ports["socket_temp"][2], d.flags["socket_temp[2]"]) == (None, "no_sensor")
    assert (d.ports["meter"][1], d.flags["meter[1]"]) == (None, "no_sensor")
    assert (d.ports["energy"][0], d.flags["energy[0]"]) == (None, "no_sensor")
    assert (d.values["ambient_temp"], d.flags["ambient_temp"]) == (None, "no_sensor")
    assert d.ports["socket_temp"][3] == pytest.approx(25.0)
    assert len(d.flags) == 4


def test_decode_speed_is_measured() -> None:
    profile = find_profile("cw-pile-10")
    dev = FakeDevice(profile, 1)
    dev.fill_normal()
    decoder = DeviceDecoder(profile, plan_blocks(profile))
    data = _poll(dev, decoder)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        d = decoder.decode(data)
    per = (time.perf_counter() - start) / n
    print(f"\ndecode cw-pile-10 (10 ports, {len(decoder.blocks)} blocks): {per * 1e6:.1f} µs per device poll")
    assert len(d.ports["voltage"]) == 10
