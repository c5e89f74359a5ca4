"""Stamping with the device's RTC: trusted when plausible, the agent's clock (flagged) when not."""

from __future__ import annotations

from edge_agent.modbus.devclock import EARLIEST_PLAUSIBLE, DeviceClock

T0 = 1_790_000_000.0


def test_without_a_clock_register_the_agent_clock_stamps() -> None:
    c = DeviceClock("p1", has_clock=False)
    assert c.stamp(T0, T0 + 500, 0.0) == (T0, None)
    assert c.estimate(T0 + 1, 5.0) == T0 + 1


def test_a_plausible_device_clock_stamps_even_when_it_runs_fast() -> None:
    c = DeviceClock("p1", has_clock=True)
    stamps = [c.stamp(T0 + i, T0 + 10 * i, float(i))[0] for i in range(5)]
    assert stamps == [T0 + 10 * i for i in range(5)]
    assert c.estimate(T0, 6.0) == T0 + 40 + 2.0  # last device stamp + wall time since


def test_unreadable_unset_or_backwards_clocks_fall_back_with_a_reason() -> None:
    c = DeviceClock("p1", has_clock=True)
    assert c.stamp(T0, T0 + 100, 0.0) == (T0 + 100, None)
    assert c.stamp(T0 + 1, None, 1.0) == (T0 + 1, "unreadable")
    assert c.stamp(T0 + 2, EARLIEST_PLAUSIBLE - 1, 2.0) == (T0 + 2, "not_set")
    assert c.stamp(T0 + 3, T0 + 50, 3.0) == (T0 + 3, "went_back")
    assert c.estimate(T0 + 4, 4.0) == T0 + 4  # not trusted: no extrapolation
    assert c.stamp(T0 + 5, T0 + 101, 5.0) == (T0 + 101, None)  # trusted again past the last stamp
    assert c.trusted
