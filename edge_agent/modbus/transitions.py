"""Events derived from consecutive decoded polls of one device.

Pile ports: ``session_start`` when a port enters ``charging``; ``session_end`` when it leaves
``charging``/``full`` (with the energy, duration and the state it ended in); ``device_fault``
when a port's fault code becomes non-zero; ``alarm`` on a rising smoke alarm and a
``device_fault`` on rising fuse/relay faults. Blockers: ``detection`` per new e-bike
detection, ``door_hold``/``door_release`` on the hold contact, ``remote_release`` per audited
release, ``device_fault`` when the camera goes offline or reports a fault code. A value that
is None (flagged) never creates or ends anything: the previous known value is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargewatch.messages import PORT_STATE_NAMES, PORT_STATES, EventKind
from chargewatch.profiles import DeviceProfile
from edge_agent.modbus.decode import Decoded

Data = dict[str, float | str | bool | None]

_CHARGING = float(PORT_STATES["charging"])
_IN_SESSION = {float(PORT_STATES["charging"]), float(PORT_STATES["full"])}
_RISING_FAULTS = ("fuse_fault", "relay_fault")


@dataclass(frozen=True, slots=True)
class PollEvent:
    """An event to record: ``kind`` on ``port`` (None = the device) with ``data``."""

    kind: EventKind
    port: int | None
    data: Data


class TransitionTracker:
    """Remembers the last known value of each watched point of one device."""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self._ports: dict[str, list[float | None]] = {}
        self._values: dict[str, float | None] = {}

    def _label(self, name: str, code: float) -> str:
        labels = self.profile.by_name[name].values or {}
        return labels.get(int(code), str(int(code)))

    def update(self, d: Decoded) -> list[PollEvent]:
        """Events implied by ``d`` compared with what was known before."""
        out: list[PollEvent] = []
        if self.profile.kind == "pile":
            self._pile(d, out)
        else:
            self._blocker(d, out)
        for name, column in d.ports.items():
            known = self._ports.setdefault(name, [None] * len(column))
            for i, v in enumerate(column):
                if v is not None:
                    known[i] = v
        for name, value in d.values.items():
            if value is not None:
                self._values[name] = value
        return out

    def _was(self, name: str, port: int | None = None) -> float | None:
        if port is None:
            return self._values.get(name)
        column = self._ports.get(name)
        return None if column is None else column[port]

    def _pile(self, d: Decoded, out: list[PollEvent]) -> None:
        states = d.ports.get("state") or []
        faults = d.ports.get("fault_code") or []
        for i, state in enumerate(states):
            before = self._was("state", i)
            if state is not None and before is not None and state != before:
                if state == _CHARGING and before not in _IN_SESSION:
                    out.append(
                        PollEvent("session_start", i, {"session_count": d.port_value("session_count", i)})
                    )
                elif before in _IN_SESSION and state not in _IN_SESSION:
                    out.append(
                        PollEvent(
                            "session_end",
                            i,
                            {
                                "energy": d.port_value("energy", i),
                                "session_s": d.port_value("session_s", i),
                                "end_state": PORT_STATE_NAMES.get(int(state), "unknown"),
                            },
                        )
                    )
        for i, code in enumerate(faults):
            before = self._was("fault_code", i)
            if code and code != before:
                out.append(
                    PollEvent("device_fault", i, {"code": code, "fault": self._label("fault_code", code)})
                )
        if d.values.get("smoke_alarm") and not self._was("smoke_alarm"):
            out.append(PollEvent("alarm", None, {"alarm": "smoke"}))
        for name in _RISING_FAULTS:
            if d.values.get(name) and not self._was(name):
                out.append(PollEvent("device_fault", None, {"fault": name}))

    def _blocker(self, d: Decoded, out: list[PollEvent]) -> None:
        v = d.values
        detections, before = v.get("detections"), self._was("detections")
        if detections is not None and before is not None and detections > before:
            out.append(PollEvent("detection", None, {"count": detections - before, "total": detections}))
        hold, held = v.get("door_hold"), self._was("door_hold")
        if hold is not None and held is not None and hold != held:
            kind: EventKind = "door_hold" if hold else "door_release"
            out.append(PollEvent(kind, None, {"hold_s": v.get("hold_s")}))
        releases, released = v.get("releases"), self._was("releases")
        if releases is not None and released is not None and releases > released:
            out.append(PollEvent("remote_release", None, {"total": releases}))
        camera, was_online = v.get("camera_online"), self._was("camera_online")
        if camera == 0.0 and was_online != 0.0:
            out.append(PollEvent("device_fault", None, {"fault": "camera_offline"}))
        code, before_code = v.get("camera_fault_code"), self._was("camera_fault_code")
        if code and code != before_code:
            label = self._label("camera_fault_code", code)
            out.append(PollEvent("device_fault", None, {"fault": "camera", "code": code, "detail": label}))
