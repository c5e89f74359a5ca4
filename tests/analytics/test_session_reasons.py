"""Why a session ended, as the analytics pipeline names it: an agent interlock, the pile's own
trip (by its profile's fault-code labels), a remote stop; and the finished list is drained."""

from __future__ import annotations

from analytics import Pipeline
from chargewatch.messages import Event, Telemetry
from chargewatch.profiles import load_profiles

T0 = 1_750_000_000.0


def _tel(seq: int, state: float, power: float, fault: float = 0.0) -> Telemetry:
    ports: dict[str, list[float | None]] = {
        "state": [state, 0.0],
        "power": [power, 0.0],
        "current": [power / 220.0, 0.0],
        "socket_temp": [40.0, 30.0],
        "fault_code": [fault, 0.0],
    }
    return Telemetry(device="p1", boot=1, seq=seq, ts=T0 + seq * 10, model="cw-pile-10", ports=ports)


def _session(pipeline: Pipeline, end: Telemetry, interlock: bool = False) -> list[str]:
    seq = end.seq - 4
    pipeline.process_batch([_tel(seq + k, 1.0, 300.0) for k in range(3)])
    if interlock:
        pipeline.process_event(
            Event(
                device="p1",
                boot=1,
                seq=seq + 3,
                ts=T0 + (seq + 3) * 10,
                kind="interlock",
                port=0,
                data={"rule": "socket_temp"},
            )
        )
    pipeline.process_batch([end])
    return [r.end_reason for r in pipeline.pop_sessions()]


def test_end_reasons_from_interlock_fault_labels_and_stops() -> None:
    p = Pipeline(profiles=load_profiles([]))
    assert _session(p, _tel(4, 4.0, 0.0), interlock=True) == ["interlock"]
    assert _session(p, _tel(9, 3.0, 0.0, fault=2.0)) == ["over_temperature"]  # cw-pile-10 code 2
    assert _session(p, _tel(14, 4.0, 0.0, fault=7.0)) == ["stopped"]  # remote_stop
    assert _session(p, _tel(19, 4.0, 0.0, fault=3.0)) == ["timeout"]
    assert _session(p, _tel(24, 0.0, 0.0)) == ["unplugged"]
    assert p.finished == []


def test_interlock_on_an_idle_port_does_not_name_a_later_session() -> None:
    p = Pipeline(profiles=load_profiles([]))
    p.process_batch([_tel(0, 0.0, 0.0)])
    p.process_event(Event(device="p1", boot=1, seq=1, ts=T0 + 15, kind="interlock", port=0, data={}))
    assert _session(p, _tel(6, 0.0, 0.0)) == ["unplugged"]
