"""The gateway-facing facade end to end on telemetry messages."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence

import pytest

from analytics import AlertChange, Pipeline, load_config
from chargewatch.errors import ConfigError
from chargewatch.messages import Event, Telemetry
from tests.analytics.synth import T0

PORTS = 10


def _tele(
    seq: int,
    ts: float,
    temps: Sequence[float | None],
    *,
    amb: float = 35.0,
    smoke: float = 0.0,
    power: float = 300.0,
    flags: dict[str, str] | None = None,
) -> Telemetry:
    return Telemetry(
        device="pile-1",
        boot=1,
        seq=seq,
        ts=ts,
        model="cw-pile-10",
        ports={
            "socket_temp": list(temps),
            "power": [power] * PORTS,
            "current": [power / 220.0] * PORTS,
            "voltage": [220.0] * PORTS,
            "state": [1.0 if power > 3.5 else 0.0] * PORTS,
        },
        values={"ambient_temp": amb, "smoke_alarm": smoke},
        flags=flags or {},
    )


def _feed(
    p: Pipeline,
    temps_of: Callable[[int], Sequence[float | None]],
    n: int,
    start: int = 0,
    *,
    smoke: float = 0.0,
    power: float = 300.0,
    flags: dict[str, str] | None = None,
) -> list[AlertChange]:
    out: list[AlertChange] = []
    for k in range(start, start + n):
        out += p.process_telemetry(_tele(k, T0 + 5.0 * k, temps_of(k), smoke=smoke, power=power, flags=flags))
    return out


def test_overheating_port_fires_critical_with_evidence_and_resolves() -> None:
    p = Pipeline()
    _feed(p, lambda k: [45.0] * PORTS, 20)
    changes = _feed(p, lambda k: [45.0] * 9 + [min(45.0 + 2.0 * (k - 19), 92.0)], 40, start=20)
    hot = [c for c in changes if c.kind == "socket_overtemp"]
    assert [(c.state, c.severity) for c in hot] == [
        ("pending", "warning"),
        ("firing", "warning"),
        ("firing", "critical"),
    ]
    assert len({c.id for c in hot}) == 1
    assert not [c for c in changes if c.kind == "sensor_fault"]
    assert hot[-1].severity == "critical"
    assert hot[-1].port == 9
    assert hot[-1].evidence
    assert hot[-1].evidence[-1]["socket_temp"] == 85.0
    later = _feed(p, lambda k: [max(92.0 - 2.0 * (k - 59), 45.0)] * PORTS, 60, start=60)
    assert any(c.kind == "socket_overtemp" and c.state == "resolved" for c in later)


def test_garbage_and_missing_sensor_values_are_sensor_faults_never_overheating() -> None:
    p = Pipeline()
    _feed(p, lambda k: [45.0] * PORTS, 20)
    changes = _feed(
        p,
        lambda k: [45.0] * 8 + [149.0 if k % 2 else -30.0, None],
        20,
        start=20,
        flags={"socket_temp[9]": "out_of_range"},
    )
    kinds = {(c.kind, c.port) for c in changes}
    assert kinds == {("sensor_fault", 8), ("sensor_fault", 9)}
    fired = [c for c in changes if c.state == "firing"]
    assert any("out_of_range" in c.message for c in fired)


def test_smoke_fires_at_once() -> None:
    p = Pipeline()
    changes = _feed(p, lambda k: [40.0] * PORTS, 1, smoke=1.0)
    assert [(c.kind, c.state, c.severity) for c in changes] == [("smoke", "firing", "critical")]


def test_offline_on_tick_and_back_online_on_telemetry() -> None:
    p = Pipeline()
    _feed(p, lambda k: [40.0] * PORTS, 1)
    assert p.tick(T0 + 60.0) == []
    down = p.tick(T0 + 100.0)
    assert [(c.kind, c.state) for c in down] == [("device_offline", "firing")]
    assert p.tick(T0 + 200.0) == [], "one alert, not one per tick"
    back = p.process_telemetry(_tele(5, T0 + 300.0, [40.0] * PORTS))
    assert [(c.kind, c.state) for c in back] == [("device_offline", "resolved")]


def test_device_down_event() -> None:
    p = Pipeline()
    ev = Event(device="pile-1", boot=1, seq=1, ts=T0, kind="device_down")
    assert [c.state for c in p.process_event(ev)] == ["firing"]
    up = Event(device="pile-1", boot=1, seq=2, ts=T0 + 5, kind="device_up")
    assert [c.state for c in p.process_event(up)] == ["resolved"]


def _blocker(seq: int, ts: float, **values: float) -> Telemetry:
    base = {
        "detections": 0.0,
        "hold_s": 0.0,
        "camera_fault_code": 0.0,
        "camera_online": 1.0,
        "relay_closed": 0.0,
        "door_hold": 0.0,
    }
    return Telemetry(device="lift-1", boot=1, seq=seq, ts=ts, model="cw-blocker", values={**base, **values})


def test_blocker_camera_door_and_detection_drought() -> None:
    p = Pipeline()
    kinds: list[tuple[str, str]] = []
    for k in range(20):
        kinds += [
            (c.kind, c.state) for c in p.process_telemetry(_blocker(k, T0 + 600.0 * k, detections=float(k)))
        ]
    assert kinds == []
    kinds += [
        (c.kind, c.state) for c in p.process_telemetry(_blocker(21, T0 + 12_100, detections=19.0, hold_s=400))
    ]
    kinds += [
        (c.kind, c.state)
        for c in p.process_telemetry(_blocker(22, T0 + 12_200, detections=19.0, camera_online=0.0))
    ]
    kinds += [
        (c.kind, c.state)
        for c in p.process_telemetry(_blocker(23, T0 + 12_240, detections=19.0, camera_online=0.0))
    ]
    kinds += [(c.kind, c.state) for c in p.tick(T0 + 11_400 + 5 * 3_600)]
    assert ("blocker_door_held", "firing") in kinds
    assert ("blocker_camera_fault", "firing") in kinds
    assert ("blocker_no_detections", "firing") in kinds


def test_checkpoint_restore_continues_identically() -> None:
    a = Pipeline()
    _feed(a, lambda k: [40.0 + (k % 3) * 0.1] * PORTS, 50)
    b = Pipeline()
    b.restore(a.checkpoint())
    ra = _feed(a, lambda k: [40.0] * 9 + [95.0], 20, start=50)
    rb = _feed(b, lambda k: [40.0] * 9 + [95.0], 20, start=50)
    assert ra
    assert ra == rb


def test_session_records_come_out() -> None:
    p = Pipeline()
    _feed(p, lambda k: [40.0] * PORTS, 100)
    _feed(p, lambda k: [40.0] * PORTS, 3, start=100, power=0.0)
    records = p.pop_sessions()
    assert len(records) == PORTS
    assert records[0].energy_kwh == pytest.approx(300.0 * 5.0 * 99 / 3.6e6)
    assert p.pop_sessions() == []


def test_config_rejects_unknown_keys_naming_them() -> None:
    assert load_config({"rules": {"temp_warn_c": 65.0}}, "gw.yaml").rules.temp_warn_c == 65.0
    with pytest.raises(ConfigError, match=r"gw\.yaml.*temp_wrn_c"):
        load_config({"rules": {"temp_wrn_c": 65.0}}, "gw.yaml")


def test_intermittent_garbage_is_one_steady_sensor_fault() -> None:
    p = Pipeline()
    bad_port = 4

    def temps(k: int) -> list[float | None]:
        out: list[float | None] = [40.0] * PORTS
        out[bad_port] = None if k % 2 else 40.0
        return out

    changes = _feed(p, lambda k: [40.0] * PORTS, 60)
    changes += _feed(p, temps, 720, start=60)
    mine = [c for c in changes if c.kind == "sensor_fault"]
    assert [c.state for c in mine] == ["pending", "firing"]
    assert {c.port for c in mine} == {bad_port}
    healed = _feed(p, lambda k: [40.0] * PORTS, 200, start=780)
    assert [c.state for c in healed if c.kind == "sensor_fault"] == ["resolved"]


def test_one_bad_sample_is_not_a_sensor_fault() -> None:
    p = Pipeline()

    def temps(k: int) -> list[float | None]:
        out: list[float | None] = [40.0] * PORTS
        out[2] = None if k in {100, 150} else 40.0
        return out

    changes = _feed(p, temps, 400)
    assert not [c for c in changes if c.kind == "sensor_fault"]


def test_restore_keeps_learnt_state_but_takes_the_new_config() -> None:
    old = Pipeline()  # temp_crit_c 85
    _feed(old, lambda k: [40.0] * PORTS, 50)
    cfg = load_config({"rules": {"temp_crit_c": 60.0}}, "test")
    new = Pipeline(cfg)
    new.restore(old.checkpoint())
    assert new.config.rules.temp_crit_c == 60.0
    assert new.piles.keys() == old.piles.keys()  # learnt state kept
    state = new.fleet.state
    assert state is not None
    assert state.physical.config.temp_crit_c == 60.0
    hot = _feed(new, lambda k: [40.0] * 9 + [65.0], 20, start=50)
    assert ("socket_overtemp", "critical") in {(c.kind, c.severity) for c in hot}
    cold = _feed(old, lambda k: [40.0] * 9 + [65.0], 20, start=50)
    assert "socket_overtemp" not in {c.kind for c in cold if c.severity == "critical"}


def test_a_checkpoint_from_before_grouping_moved_to_the_gateway_restores_without_it() -> None:
    old = Pipeline()
    _feed(old, lambda k: [40.0] * PORTS, 5)
    blob = pickle.loads(old.checkpoint())  # noqa: S301 - our own checkpoint
    blob["state"]["grouper"] = object()  # what a checkpoint of the previous release held
    new = Pipeline()
    new.restore(pickle.dumps(blob))
    assert "grouper" not in vars(new)
    assert new.piles.keys() == old.piles.keys()
