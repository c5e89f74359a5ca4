"""Interlock confirmation and poll-derived events, on decoded polls (no I/O)."""

from __future__ import annotations

from chargewatch.messages import PORT_STATES
from chargewatch.profiles import find_profile
from edge_agent.config import InterlockConfig
from edge_agent.interlocks import DeviceInterlocks
from edge_agent.modbus import Decoded
from edge_agent.modbus.transitions import TransitionTracker


def _pile(
    temp: float | None = 30.0, state: float = 0.0, amps: float = 2.0, relay: float = 1.0, n: int = 10
) -> Decoded:
    d = Decoded()
    d.ports = {
        "socket_temp": [30.0] * n,
        "current": [2.0] * n,
        "relay_on": [1.0] * n,
        "state": [0.0] * n,
        "fault_code": [0.0] * n,
        "energy": [0.5] * n,
        "session_s": [60.0] * n,
        "session_count": [1.0] * n,
    }
    d.ports["socket_temp"][2] = temp
    d.ports["state"][2] = state
    d.ports["current"][2] = amps
    d.ports["relay_on"][2] = relay
    d.values = {"smoke_alarm": 0.0, "fuse_fault": 0.0, "relay_fault": 0.0}
    return d


def test_temperature_needs_consecutive_confirmation_and_flags_do_not_reset() -> None:
    rules = DeviceInterlocks(InterlockConfig(confirm_samples=3), find_profile("cw-pile-10"))
    assert rules.evaluate(_pile(95.0)) == []
    assert rules.evaluate(_pile(None)) == []  # a flagged reading neither confirms nor resets
    assert rules.evaluate(_pile(95.0)) == []
    trips = rules.evaluate(_pile(96.0))
    assert [(t.port, t.rule, t.value) for t in trips] == [(2, "socket_temp", 96.0)]
    assert rules.evaluate(_pile(96.0, relay=0.0)) == []  # already off: no second trip
    assert rules.evaluate(_pile(30.0)) == []
    assert rules.evaluate(_pile(95.0)) == []  # count restarted after a cool sample


def test_over_current_uses_the_profile_limit() -> None:
    rules = DeviceInterlocks(InterlockConfig(over_current_samples=2), find_profile("cw-pile-10"))
    assert rules.evaluate(_pile(amps=5.6)) == []
    assert [t.rule for t in rules.evaluate(_pile(amps=5.7))] == ["over_current"]
    wide = DeviceInterlocks(InterlockConfig(over_current_samples=1), find_profile("vx-pile-12"))
    assert wide.evaluate(_pile(amps=9.0, n=12)) == []  # vx-pile-12 allows 10 A per port


def test_sessions_and_faults_from_transitions() -> None:
    track = TransitionTracker(find_profile("cw-pile-10"))
    assert track.update(_pile()) == []
    start = track.update(_pile(state=PORT_STATES["charging"]))
    assert [(e.kind, e.port) for e in start] == [("session_start", 2)]
    assert track.update(_pile(state=PORT_STATES["full"])) == []
    flagged = _pile()
    flagged.ports["state"][2] = None
    assert track.update(flagged) == []  # a flagged state ends nothing
    end = _pile(state=PORT_STATES["fault"])
    end.ports["fault_code"][2] = 2.0
    events = track.update(end)
    assert [(e.kind, e.port) for e in events] == [("session_end", 2), ("device_fault", 2)]
    assert events[0].data["end_state"] == "fault"
    assert events[1].data["fault"] == "over_temperature"


def test_blocker_detection_and_door_hold() -> None:
    track = TransitionTracker(find_profile("cw-blocker"))
    base = {"detections": 4.0, "door_hold": 0.0, "hold_s": 0.0, "releases": 0.0, "camera_online": 1.0}
    assert track.update(Decoded(values=dict(base))) == []
    held = Decoded(values={**base, "detections": 5.0, "door_hold": 1.0, "hold_s": 3.0})
    assert [e.kind for e in track.update(held)] == ["detection", "door_hold"]
    off = Decoded(values={**base, "detections": 5.0, "camera_online": 0.0})
    assert [e.kind for e in track.update(off)] == ["door_release", "device_fault"]
