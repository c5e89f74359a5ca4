"""Elevator blocker: detection and door hold, remote release, false detections, stuck relay."""

from __future__ import annotations

from firmware_sim.faults import Fault
from tests.sim.physics.helpers import T0, advance, blocker, device_value


def test_ebike_entry_is_detected_after_a_delay_and_holds_the_doors_until_it_leaves() -> None:
    device = blocker(ebike_rate_per_h=6.0, miss_share=0.0)
    while not device.bike_in_car:
        advance(device, 1)
    entered = device.now
    assert device_value(device, "ebike_present") == 0.0
    while device_value(device, "ebike_present") == 0.0:
        advance(device, 1)
    assert 1.0 <= device.now - entered <= 3.0
    assert device_value(device, "door_hold") == 1.0
    assert device_value(device, "relay_closed") == 1.0
    assert device_value(device, "voice_alarm") == 1.0
    assert device_value(device, "detections") == 1.0
    advance(device, 5)
    assert device_value(device, "hold_s") == 5.0
    while device.bike_in_car:
        advance(device, 1)
    assert device_value(device, "door_hold") == 0.0
    assert device_value(device, "hold_s") == 0.0
    assert device_value(device, "voice_alarm") == 0.0


def test_remote_release_ends_a_false_hold_and_counts() -> None:
    device = blocker(false_rate_per_h=20.0, false_dwell_s=(600.0, 600.0))
    while device_value(device, "door_hold") == 0.0:
        advance(device, 1)
    assert not device.bike_in_car
    advance(device, 30)
    device.write_point("remote_release", None, 1.0)
    assert device_value(device, "door_hold") == 0.0
    assert device_value(device, "releases") == 1.0
    advance(device, 60)
    assert device_value(device, "door_hold") == 0.0
    assert device_value(device, "detections") == 1.0


def test_firmware_releases_the_doors_after_max_hold() -> None:
    device = blocker(false_rate_per_h=20.0, false_dwell_s=(600.0, 600.0))
    while device_value(device, "door_hold") == 0.0:
        advance(device, 1)
    advance(device, device.max_hold_s - 1)
    assert device_value(device, "door_hold") == 1.0
    advance(device, 2)
    assert device_value(device, "door_hold") == 0.0
    assert device_value(device, "ebike_present") == 1.0


def test_false_detections_happen_at_their_rate() -> None:
    device = blocker(false_rate_per_h=4.0, false_dwell_s=(10.0, 20.0))
    advance(device, 10 * 3600, dt=2.0)
    assert 20 <= device_value(device, "detections") <= 65


def test_relay_stuck_holds_far_too_long_and_ignores_remote_release() -> None:
    device = blocker()
    device.inject(Fault(kind="blocker_relay_stuck", at=T0 + 10))
    advance(device, 10 + 1800)
    assert device_value(device, "relay_closed") == 1.0
    assert device_value(device, "hold_s") >= 1800 > 10 * device.max_hold_s
    device.write_point("remote_release", None, 1.0)
    advance(device, 1)
    assert device_value(device, "door_hold") == 1.0
    assert device_value(device, "releases") == 1.0
